// The http plugin: http:/https: endpoints.
//   <from uri="http:0.0.0.0:8080/orders/{id}?methods=POST"/>   a server route (request-reply)
//   <to uri="http://erp:8080/orders/${header.id}?method=PUT"/>   a client call
// docs/plugins/http.md describes every option and header.
#include <filesystem>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>

#include <Poco/Exception.h>
#include <Poco/Net/SSLManager.h>

#include "http_client.hpp"
#include "http_server.hpp"
#include "http_support.hpp"
#include <busway/plugin.hpp>

namespace busway::http {
namespace {

constexpr std::string_view kRequestHeaderPrefix = "http.request.header.";

bool startsWithIgnoreCase(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && toLower(text.substr(0, prefix.size())) == prefix;
}

// OpenSSL through POCO, once per process for as long as a plugin instance lives.
struct SslLibrary {
  SslLibrary() { Poco::Net::initializeSSL(); }
  ~SslLibrary() { Poco::Net::uninitializeSSL(); }
  SslLibrary(const SslLibrary&) = delete;
  SslLibrary& operator=(const SslLibrary&) = delete;
};

}  // namespace

class HttpEndpoint;
class HttpsEndpoint;

class HttpPlugin : public sdk::Plugin {
 public:
  using Endpoints = sdk::List<HttpEndpoint, HttpsEndpoint>;

  HttpPlugin(sdk::Host host, const sdk::Options& config)
      : Plugin(host, config),
        servers_(host),
        sessions_(static_cast<std::size_t>(config.integer("client-pool-size", 16))),
        workers_(static_cast<std::size_t>(config.integer("client-threads", 16))) {}

  void drain(std::chrono::milliseconds timeout) override { workers_.drain(timeout); }

  Servers& servers() noexcept { return servers_; }
  SessionPool& sessions() noexcept { return sessions_; }
  Workers& workers() noexcept { return workers_; }

 private:
  SslLibrary ssl_;
  Servers servers_;
  SessionPool sessions_;
  Workers workers_;  // last: its threads stop first
};

class HttpEndpoint : public sdk::Endpoint {
 public:
  static constexpr std::string_view scheme = "http";

  HttpEndpoint(HttpPlugin& plugin, const sdk::Options& options)
      : HttpEndpoint(plugin, options, false) {}

  void startConsumer(sdk::Route route) override {
    if (!pattern_error_.empty()) throw sdk::InvalidError(uri_ + ": " + pattern_error_);
    if (server_.tls) {
      if (server_.cert.empty() || server_.key.empty()) {
        throw sdk::InvalidError(uri_ + ": a TLS server needs the options cert and key (PEM files)");
      }
    }
    token_ = plugin_.servers().attach(server_, route_, std::move(route));
  }

  void stopConsumer() override {
    if (token_ != 0) plugin_.servers().detach(server_.port, std::exchange(token_, 0));
  }

  void send(sdk::Sending& sending) override {
    const sdk::MessageRef message = sending.message();
    const auto lookup = [&message](std::string_view name) -> std::optional<std::string> {
      if (const auto value = message.header(name)) return std::string(*value);
      return std::nullopt;
    };
    auto request = std::make_shared<Request>();
    if (!template_error_.empty()) throw sdk::InvalidError(uri_ + ": " + template_error_);
    request->method = method_;
    try {
      request->target = path_.render(lookup, message.id(), message.correlationId(), true);
      if (query_) {
        const std::string query =
            query_->render(lookup, message.id(), message.correlationId(), false);
        if (!query.empty()) request->target += "?" + query;
      }
    } catch (const std::out_of_range& e) {
      throw sdk::InvalidError(uri_ + ": " + e.what() +
                              "; set it before this step, e.g. <set-header name=\"...\">");
    }
    request->url = method_ + " " + base_url_ + request->target;
    request->body = std::string(message.body());
    request->media_type = std::string(message.mediaType());
    message.forEachHeader([&](std::string_view name, std::string_view value) {
      if (startsWithIgnoreCase(name, kRequestHeaderPrefix) &&
          name.size() > kRequestHeaderPrefix.size()) {
        request->headers.emplace_back(std::string(name.substr(kRequestHeaderPrefix.size())),
                                      std::string(value));
      }
    });
    ensureContext();

    sdk::Sending later = sending.defer();
    plugin_.workers().post([target = target_, request, later = std::move(later),
                            &sessions = plugin_.sessions(), host = plugin_.host()]() mutable {
      try {
        const Response response = perform(*target, *request, sessions);
        const sdk::MessageRef out = later.message();
        out.setHeader("http.status", static_cast<std::int64_t>(response.status));
        const Outcome outcome = outcomeOf(response.status);
        if (outcome == Outcome::ok) {
          if (later.wantsReply()) {
            out.setBody(response.body, response.content_type.empty()
                                           ? "application/octet-stream"
                                           : mediaTypeOf(response.content_type));
            for (const auto& [name, value] : response.headers)
              out.setHeader("http.header." + toLower(name), value);
          }
          host.metric("client.requests");
          later.complete();
          return;
        }
        std::string text =
            request->url + " answered " + std::to_string(response.status) + " " + response.reason;
        if (!response.body.empty()) {
          text += ": " + response.body.substr(0, 200) + (response.body.size() > 200 ? "..." : "");
        }
        host.metric(outcome == Outcome::transient ? "client.transient-failures"
                                                  : "client.permanent-failures");
        later.fail(outcome == Outcome::transient ? sdk::Status::transient : sdk::Status::permanent,
                   text);
      } catch (const sdk::Error& e) {
        host.metric("client.transient-failures");
        later.fail(e.status(), e.what());
      } catch (const std::exception& e) {
        later.fail(sdk::Status::transient, request->url + ": " + e.what());
      }
    });
  }

 protected:
  HttpEndpoint(HttpPlugin& plugin, const sdk::Options& options, bool https)
      : plugin_(plugin), uri_(options.uri()), path_("/") {
    try {
      const bool tls = https || options.boolean("tls", false);
      const Address address = parseAddress(options.path(), tls ? 443 : 80);
      server_.host = address.host;
      server_.port = address.port;
      server_.tls = tls;
      server_.cert = options.text("cert", "");
      server_.key = options.text("key", "");
      server_.max_threads = static_cast<int>(options.integer("max-threads", 64));
      server_.max_queued = static_cast<int>(options.integer("max-queued", 256));
      server_.keep_alive = options.boolean("keep-alive", true);
      server_.keep_alive_timeout = options.duration("keep-alive-timeout", std::chrono::seconds(10));
      if (server_.max_threads < 1) throw std::invalid_argument("max-threads must be at least 1");
      for (const auto* file : {&server_.cert, &server_.key}) {
        if (!file->empty() && !std::filesystem::exists(*file)) {
          throw std::invalid_argument("the file '" + *file +
                                      "' does not exist (options cert and key)");
        }
      }

      auto route = std::make_shared<RouteConfig>();
      route->uri = uri_;
      // The path is a pattern for a server and a template for a client; which one is used
      // shows only when the endpoint is started or sent to, so a bad one fails then.
      try {
        route->pattern = PathPattern(address.path);
      } catch (const std::invalid_argument& e) {
        pattern_error_ = e.what();
      }
      route->methods = parseMethods(options.text("methods", ""));
      route->max_body = options.bytes("max-body", 1U << 20U);
      route->timeout = options.duration("timeout", std::chrono::seconds(30));
      route->hmac_secret = options.text("hmac-secret", "");
      route->hmac_header = options.text("hmac-header", "X-Signature-256");
      route_ = std::move(route);

      try {
        path_ = Template(address.path);
      } catch (const std::invalid_argument& e) {
        template_error_ = e.what();
      }
      if (const auto query = options.get("query"); query && !query->empty()) query_.emplace(*query);
      method_ = toLower(options.text("method", "POST"));
      for (char& c : method_) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
      if (parseMethods(method_).size() != 1)
        throw std::invalid_argument("method must be one HTTP method, e.g. PUT");

      auto target = std::make_shared<ClientTarget>();
      target->tls = tls;
      target->host = address.host;
      target->port = address.port;
      target->timeout = options.duration("timeout", std::chrono::seconds(30));
      target->connect_timeout = options.duration("connect-timeout", std::chrono::seconds(5));
      target->ca_file = options.text("ca-file", "");
      target->verify = options.boolean("verify", true);
      if (!target->ca_file.empty() && !std::filesystem::exists(target->ca_file)) {
        throw std::invalid_argument("the CA file '" + target->ca_file +
                                    "' does not exist (option ca-file)");
      }
      const std::string host_part =
          address.host.find(':') != std::string::npos ? "[" + address.host + "]" : address.host;
      base_url_ = std::string(tls ? "https://" : "http://") + host_part + ":" +
                  std::to_string(address.port);
      target->pool_key =
          base_url_ + "|" + target->ca_file + "|" + (target->verify ? "verify" : "no-verify");
      target_ = std::move(target);
    } catch (const std::invalid_argument& e) {
      throw sdk::InvalidError(uri_ + ": " + e.what());
    }
  }

 private:
  // The TLS client context, made on first use (a consumer-only endpoint never needs one).
  void ensureContext() {
    if (!target_->tls) return;
    std::call_once(context_once_, [this] {
      try {
        auto target = std::make_shared<ClientTarget>(*target_);
        target->context = new Poco::Net::Context(
            Poco::Net::Context::TLS_CLIENT_USE, target->ca_file,
            target->verify ? Poco::Net::Context::VERIFY_RELAXED : Poco::Net::Context::VERIFY_NONE,
            9, target->ca_file.empty());
        target_ = std::move(target);
      } catch (const Poco::Exception& e) {
        context_error_ = uri_ + ": cannot set up TLS: " + e.displayText() + " (check ca-file)";
      }
    });
    if (!context_error_.empty()) throw sdk::InvalidError(context_error_);
  }

  HttpPlugin& plugin_;
  std::string uri_;
  ServerConfig server_;
  std::shared_ptr<const RouteConfig> route_;
  std::uint64_t token_ = 0;

  Template path_;
  std::string pattern_error_;   // the path is no server pattern (fine for a client)
  std::string template_error_;  // the path is no client template (fine for a server)
  std::optional<Template> query_;
  std::string method_;
  std::string base_url_;
  std::shared_ptr<const ClientTarget> target_;
  std::once_flag context_once_;
  std::string context_error_;
};

// https: the same endpoint with TLS on.
class HttpsEndpoint : public HttpEndpoint {
 public:
  static constexpr std::string_view scheme = "https";
  HttpsEndpoint(HttpPlugin& plugin, const sdk::Options& options)
      : HttpEndpoint(plugin, options, true) {}
};

}  // namespace busway::http

BUSWAY_PLUGIN(busway::http::HttpPlugin);
