#include "http_server.hpp"

#include <algorithm>
#include <charconv>
#include <condition_variable>
#include <istream>
#include <optional>
#include <sstream>
#include <utility>

#include <Poco/Exception.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerRequestImpl.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/HTTPServerResponseImpl.h>
#include <Poco/Net/HTTPServerSession.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/SecureServerSocket.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/TCPServer.h>
#include <Poco/Net/TCPServerConnection.h>
#include <Poco/Net/TCPServerConnectionFactory.h>
#include <Poco/ThreadPool.h>
#include <Poco/Timestamp.h>

namespace busway::http {
namespace {

using Poco::Net::HTTPResponse;
using Poco::Net::HTTPServerRequest;
using Poco::Net::HTTPServerResponse;

constexpr std::string_view kResponseHeaderPrefix = "http.response.header.";

bool startsWithIgnoreCase(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    char c = text[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != prefix[i]) return false;
  }
  return true;
}

std::string formatDuration(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + "s";
  return std::to_string(d.count()) + "ms";
}

// What the done callback hands to the waiting request thread.
struct Waiter {
  std::mutex mutex;
  std::condition_variable done_cv;
  bool done = false;
  sdk::Status status = sdk::Status::ok;
  std::string error;
  int http_status = 200;
  std::string body;
  std::string media_type;
  std::vector<std::pair<std::string, std::string>> headers;
};

std::optional<int> parseStatus(std::string_view text) {
  int value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 100 || value > 599)
    return std::nullopt;
  return value;
}

void send(HTTPServerResponse& response, int status, std::string_view media_type,
          const std::string& body) {
  response.setStatusAndReason(static_cast<HTTPResponse::HTTPStatus>(status));
  if (!media_type.empty()) response.setContentType(std::string(media_type));
  response.sendBuffer(body.data(), body.size());
}

void sendError(HTTPServerResponse& response, int status, std::string_view message) {
  send(response, status, "application/json", jsonError(status, message));
}

class Dispatcher {
 public:
  Dispatcher(Server& server, Poco::Net::StreamSocket& socket) : server_(server), socket_(socket) {}

  void handleRequest(HTTPServerRequest& request, HTTPServerResponse& response) {
    try {
      handle(request, response);
    } catch (const Poco::Net::NetException&) {
      throw;  // the peer went away: nothing to answer
    } catch (const Poco::TimeoutException&) {
      throw;
    } catch (const Poco::Exception& e) {
      malformed(request, response, e.displayText());
    } catch (const std::exception& e) {
      if (!sent_) {
        response.setKeepAlive(false);
        sendError(response, 500, std::string("the http plugin failed: ") + e.what());
      }
    }
  }

 private:
  static bool hasBody(const HTTPServerRequest& request) {
    try {
      return request.getChunkedTransferEncoding() ||
             (request.hasContentLength() && request.getContentLength64() > 0);
    } catch (const Poco::Exception&) {
      return true;
    }
  }

  // Answered before the body was read: the connection cannot be reused safely.
  static void closeIfUnread(const HTTPServerRequest& request, HTTPServerResponse& response) {
    if (hasBody(request)) response.setKeepAlive(false);
  }

  void malformed(const HTTPServerRequest& request, HTTPServerResponse& response,
                 const std::string& why) {
    server_.host().metric("server.bad-requests");
    if (sent_) return;
    static_cast<void>(request);
    response.setKeepAlive(false);
    sendError(response, 400, "malformed request: " + why);
  }

  void handle(HTTPServerRequest& request, HTTPServerResponse& response) {
    const std::string& target = request.getURI();
    if (target.empty() || target.front() != '/') {
      malformed(request, response, "the request target '" + target + "' is not a path");
      return;
    }
    const auto question = target.find('?');
    const std::string_view raw_path = std::string_view(target).substr(0, question);
    const std::string_view query = question == std::string::npos
                                       ? std::string_view()
                                       : std::string_view(target).substr(question + 1);
    // Content-Length that does not parse is malformed (POCO throws a SyntaxException here).
    const bool chunked = request.getChunkedTransferEncoding();
    const std::int64_t length = request.hasContentLength() ? request.getContentLength64() : 0;
    if (length < 0) {
      malformed(request, response, "negative Content-Length");
      return;
    }

    const auto routes = server_.routes();
    const Registration* chosen = nullptr;
    std::vector<std::pair<std::string, std::string>> params;
    std::vector<std::string> allowed;
    int best = -1;
    // The newest registration wins among equals (a reloaded table replaces the old route).
    for (auto it = routes->rbegin(); it != routes->rend(); ++it) {
      auto matched = it->config->pattern.match(raw_path);
      if (!matched) continue;
      const auto& methods = it->config->methods;
      if (!methods.empty() &&
          std::find(methods.begin(), methods.end(), request.getMethod()) == methods.end()) {
        for (const auto& m : methods) {
          if (std::find(allowed.begin(), allowed.end(), m) == allowed.end()) allowed.push_back(m);
        }
        continue;
      }
      if (it->config->pattern.specificity() > best) {
        best = it->config->pattern.specificity();
        chosen = &*it;
        params = std::move(*matched);
      }
    }
    if (chosen == nullptr) {
      closeIfUnread(request, response);
      if (!allowed.empty()) {
        std::string allow;
        for (const auto& m : allowed) allow += (allow.empty() ? "" : ", ") + m;
        response.set("Allow", allow);
        sendError(response, 405,
                  "method " + request.getMethod() + " is not allowed on " + std::string(raw_path) +
                      "; allowed: " + allow);
        server_.host().metric("server.method-not-allowed");
      } else {
        sendError(response, 404,
                  "no route for " + std::string(raw_path) + " on " + server_.config().url());
        server_.host().metric("server.not-found");
      }
      return;
    }
    const RouteConfig& config = *chosen->config;

    // The body, within the limit.
    if (!chunked && static_cast<std::uint64_t>(length) > config.max_body) {
      response.setKeepAlive(false);
      sendError(response, 413,
                "the body has " + std::to_string(length) + " bytes; this endpoint takes at most " +
                    std::to_string(config.max_body) + " (option max-body)");
      server_.host().metric("server.too-large");
      return;
    }
    std::string body;
    if ((chunked || length > 0) && request.getExpectContinue()) response.sendContinue();
    std::istream& in = request.stream();
    if (!chunked) {
      body.resize(static_cast<std::size_t>(length));
      if (length > 0) in.read(body.data(), static_cast<std::streamsize>(length));
      if (static_cast<std::int64_t>(in.gcount()) != length && length > 0) {
        malformed(request, response,
                  "the body ended after " + std::to_string(in.gcount()) + " of " +
                      std::to_string(length) + " bytes");
        return;
      }
    } else {
      char buffer[8192];
      while (in) {
        in.read(buffer, sizeof buffer);
        body.append(buffer, static_cast<std::size_t>(in.gcount()));
        if (body.size() > config.max_body) {
          response.setKeepAlive(false);
          sendError(response, 413,
                    "the chunked body is larger than " + std::to_string(config.max_body) +
                        " bytes (option max-body)");
          server_.host().metric("server.too-large");
          return;
        }
      }
    }

    if (!config.hmac_secret.empty()) {
      if (!request.has(config.hmac_header)) {
        sendError(response, 401, "missing signature header " + config.hmac_header);
        server_.host().metric("server.bad-signature");
        return;
      }
      if (!signatureMatches(request.get(config.hmac_header), config.hmac_secret, body)) {
        sendError(response, 401,
                  "the signature in " + config.hmac_header +
                      " does not match the body (HMAC-SHA256 with the shared secret)");
        server_.host().metric("server.bad-signature");
        return;
      }
    }

    const sdk::Host host = server_.host();
    const std::string content_type = request.getContentType();
    sdk::OwnedMessage message = host.newMessage(
        body, content_type.empty() ? "application/octet-stream" : mediaTypeOf(content_type));
    message.setHeader("http.method", request.getMethod());
    message.setHeader("http.path", percentDecode(raw_path));
    message.setHeader("http.query", query);
    message.setHeader("http.remote", request.clientAddress().toString());
    for (const auto& [name, value] : params) message.setHeader("http.param." + name, value);
    std::string previous;
    std::string joined;
    for (const auto& [name, value] : request) {
      const std::string header = "http.header." + toLower(name);
      if (auto existing = message.header(header); existing && header == previous) {
        joined =
            std::string(*existing) + ", " + value;  // repeated header: one comma-separated value
        message.setHeader(header, joined);
      } else {
        message.setHeader(header, value);
      }
      previous = header;
    }

    auto waiter = std::make_shared<Waiter>();
    const sdk::Status status =
        chosen->route.request(std::move(message), [waiter](const sdk::DeliveryResult& result) {
          std::lock_guard<std::mutex> lock(waiter->mutex);
          waiter->status = result.status;
          if (!result.ok()) {
            waiter->error = std::string(result.error);
          } else if (result.reply) {
            const sdk::MessageView& reply = *result.reply;
            auto code = reply.header("http.status");
            if (!code) code = reply.header("status");  // what <reply status="..."> sets
            if (code) {
              if (const auto parsed = parseStatus(*code)) {
                waiter->http_status = *parsed;
              } else {
                waiter->status = sdk::Status::invalid;
                waiter->error = "the reply's status '" + std::string(*code) +
                                "' is not an HTTP status (100-599)";
              }
            }
            waiter->body = std::string(reply.body());
            waiter->media_type = std::string(reply.mediaType());
            reply.forEachHeader([&](std::string_view name, std::string_view value) {
              if (startsWithIgnoreCase(name, kResponseHeaderPrefix) &&
                  name.size() > kResponseHeaderPrefix.size()) {
                waiter->headers.emplace_back(std::string(name.substr(kResponseHeaderPrefix.size())),
                                             std::string(value));
              }
            });
          }
          waiter->done = true;
          waiter->done_cv.notify_one();
        });
    if (status != sdk::Status::ok) {
      // Refused at once (the bus is full or stopping): the client may try again later.
      response.set("Retry-After", "1");
      sendError(response, 503,
                std::string("the bus did not take the request (") + sdk::toString(status) +
                    "); try again later");
      host.metric("server.refused");
      return;
    }

    std::unique_lock<std::mutex> lock(waiter->mutex);
    if (!waiter->done_cv.wait_for(lock, config.timeout, [&] { return waiter->done; })) {
      lock.unlock();
      sendError(response, 504,
                "the route did not answer within " + formatDuration(config.timeout) +
                    " (option timeout); the message may still complete");
      host.metric("server.timeouts");
      return;
    }
    if (waiter->status != sdk::Status::ok) {
      const int code = waiter->status == sdk::Status::rejected ? 503 : 500;
      if (code == 503) response.set("Retry-After", "1");
      const std::string error =
          waiter->error.empty() ? std::string(sdk::toString(waiter->status)) : waiter->error;
      lock.unlock();
      sendError(response, code, error);
      host.metric("server.failed");
      return;
    }
    for (const auto& [name, value] : waiter->headers) response.set(name, value);
    // An empty body with the default media type says nothing: no Content-Type then.
    const bool typed = !waiter->body.empty() || waiter->media_type != "application/octet-stream";
    send(response, waiter->http_status, typed ? waiter->media_type : std::string_view(),
         waiter->body);
    host.metric("server.requests");
  }

  // The status line, headers and body in one write (POCO's sendBuffer writes the headers
  // and the body separately, which costs a second segment per response).
  void send(HTTPServerResponse& response, int status, std::string_view media_type,
            const std::string& body) {
    response.setStatusAndReason(static_cast<HTTPResponse::HTTPStatus>(status));
    if (!media_type.empty()) response.setContentType(std::string(media_type));
    response.setContentLength64(static_cast<Poco::Int64>(body.size()));
    std::ostringstream head;
    response.write(head);
    std::string out = std::move(head).str();
    out += body;
    sent_ = true;
    socket_.sendBytes(out.data(), static_cast<int>(out.size()));
  }

  void sendError(HTTPServerResponse& response, int status, std::string_view message) {
    send(response, status, "application/json", jsonError(status, message));
  }

  Server& server_;
  Poco::Net::StreamSocket& socket_;
  bool sent_ = false;
};

// One connection: POCO's HTTP session and request parsing, with our own loop so that a
// request POCO cannot parse gets a 400 (POCO's own loop drops the connection without an
// answer when, say, Content-Length is not a number) and so that stopping waits for the
// request in progress.
class Connection final : public Poco::Net::TCPServerConnection {
 public:
  Connection(const Poco::Net::StreamSocket& socket, Server& server,
             Poco::Net::HTTPServerParams::Ptr params)
      : TCPServerConnection(socket), server_(server), params_(std::move(params)) {}

  void run() override {
    if (!server_.enter(this)) return;
    try {
      serve();
    } catch (...) {  // NOLINT(bugprone-empty-catch): a connection ends quietly
    }
    server_.leave(this);
  }

  // From the server's stop: waits for the request in progress, then closes.
  void stop() {
    const std::lock_guard<std::mutex> lock(mutex_);
    stopped_ = true;
    try {
      socket().shutdown();
    } catch (...) {  // NOLINT(bugprone-empty-catch): already closed
    }
  }

 private:
  void serve() {
    socket().setNoDelay(true);
    Poco::Net::HTTPServerSession session(socket(), params_);
    while (session.hasMoreRequests()) {
      const std::lock_guard<std::mutex> lock(mutex_);
      if (stopped_) return;
      try {
        Poco::Net::HTTPServerResponseImpl response(session);
        Poco::Net::HTTPServerRequestImpl request(response, session, params_.get());
        response.setDate(Poco::Timestamp());
        response.setVersion(request.getVersion());
        response.setKeepAlive(params_->getKeepAlive() && request.getKeepAlive() &&
                              session.canKeepAlive());
        response.set("Server", "busway");
        Dispatcher(server_, socket()).handleRequest(request, response);
        session.setKeepAlive(params_->getKeepAlive() && response.getKeepAlive() &&
                             session.canKeepAlive());
      } catch (const Poco::Net::NoMessageException&) {
        return;  // the client closed an idle connection
      } catch (const Poco::Net::ConnectionResetException&) {
        return;
      } catch (const Poco::Net::ConnectionAbortedException&) {
        return;
      } catch (const Poco::TimeoutException&) {
        answer(session, 408, "the request did not arrive in time");
        return;
      } catch (const Poco::Exception& e) {
        server_.host().metric("server.bad-requests");
        answer(session, 400, "malformed request: " + e.displayText());
        return;
      }
    }
  }

  static void answer(Poco::Net::HTTPServerSession& session, int status, const std::string& why) {
    try {
      Poco::Net::HTTPServerResponseImpl response(session);
      response.setVersion(Poco::Net::HTTPMessage::HTTP_1_1);
      response.setKeepAlive(false);
      session.setKeepAlive(false);
      sendError(response, status, why);
    } catch (...) {  // NOLINT(bugprone-empty-catch): the peer may be gone already
    }
  }

  Server& server_;
  Poco::Net::HTTPServerParams::Ptr params_;
  std::mutex mutex_;
  bool stopped_ = false;
};

class ConnectionFactory final : public Poco::Net::TCPServerConnectionFactory {
 public:
  ConnectionFactory(Server& server, Poco::Net::HTTPServerParams::Ptr params)
      : server_(server), params_(std::move(params)) {}
  Poco::Net::TCPServerConnection* createConnection(const Poco::Net::StreamSocket& socket) override {
    return new Connection(socket, server_, params_);
  }

 private:
  Server& server_;
  Poco::Net::HTTPServerParams::Ptr params_;
};

}  // namespace

std::string ServerConfig::url() const {
  return std::string(tls ? "https://" : "http://") + host + ":" + std::to_string(port);
}

Server::Server(sdk::Host host, ServerConfig config)
    : host_(host),
      config_(std::move(config)),
      routes_(std::make_shared<const std::vector<Registration>>()) {
  try {
    const Poco::Net::SocketAddress address(config_.host, static_cast<Poco::UInt16>(config_.port));
    std::unique_ptr<Poco::Net::ServerSocket> socket;
    if (config_.tls) {
      const Poco::Net::Context::Ptr context = new Poco::Net::Context(
          Poco::Net::Context::TLS_SERVER_USE, config_.key, config_.cert, "",
          Poco::Net::Context::VERIFY_NONE, 9, false, "ALL:!ADH:!LOW:!EXP:!MD5:!aNULL:@STRENGTH");
      socket = std::make_unique<Poco::Net::SecureServerSocket>(address, 128, context);
    } else {
      socket = std::make_unique<Poco::Net::ServerSocket>(address, 128);
    }
    auto params = Poco::Net::HTTPServerParams::Ptr(new Poco::Net::HTTPServerParams);
    params->setMaxThreads(config_.max_threads);
    params->setMaxQueued(config_.max_queued);
    params->setKeepAlive(config_.keep_alive);
    params->setKeepAliveTimeout(Poco::Timespan(
        std::chrono::duration_cast<std::chrono::microseconds>(config_.keep_alive_timeout).count()));
    params->setMaxKeepAliveRequests(0);
    params->setServerName("busway");
    threads_ = std::make_unique<Poco::ThreadPool>(2, config_.max_threads + 1, 60);
    server_ = std::make_unique<Poco::Net::TCPServer>(new ConnectionFactory(*this, params),
                                                     *threads_, *socket, params);
    server_->start();
  } catch (const Poco::Exception& e) {
    server_.reset();
    threads_.reset();
    const bool tls_problem = config_.tls;
    throw sdk::Error(
        sdk::Status::transient,
        "cannot listen on " + config_.url() + ": " + e.displayText() +
            (tls_problem ? "; check the options cert and key (PEM files, key without a passphrase)"
                         : ""));
  }
}

Server::~Server() {
  if (server_) {
    try {
      server_->stop();  // no new connections
      // Requests in progress finish; idle keep-alive connections are closed.
      std::vector<Connection*> open;
      {
        const std::lock_guard<std::mutex> lock(connections_mutex_);
        stopping_ = true;
        for (void* c : connections_) open.push_back(static_cast<Connection*>(c));
        for (Connection* c : open) c->stop();
      }
    } catch (...) {  // NOLINT(bugprone-empty-catch): stopping must not throw
    }
    threads_->joinAll();
    server_.reset();
  }
}

bool Server::enter(void* connection) {
  const std::lock_guard<std::mutex> lock(connections_mutex_);
  if (stopping_) return false;
  connections_.insert(connection);
  return true;
}

void Server::leave(void* connection) {
  const std::lock_guard<std::mutex> lock(connections_mutex_);
  connections_.erase(connection);
}

void Server::add(Registration registration) {
  const std::lock_guard<std::mutex> lock(mutex_);
  auto next = std::make_shared<std::vector<Registration>>(*routes_);
  next->push_back(std::move(registration));
  routes_ = std::move(next);
}

bool Server::remove(std::uint64_t token) {
  const std::lock_guard<std::mutex> lock(mutex_);
  auto next = std::make_shared<std::vector<Registration>>(*routes_);
  next->erase(std::remove_if(next->begin(), next->end(),
                             [&](const Registration& r) { return r.token == token; }),
              next->end());
  const bool empty = next->empty();
  routes_ = std::move(next);
  return empty;
}

std::shared_ptr<const std::vector<Registration>> Server::routes() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return routes_;
}

Servers::~Servers() {
  std::map<int, std::shared_ptr<Server>> servers;
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    servers.swap(servers_);
  }
  servers.clear();
}

std::uint64_t Servers::attach(const ServerConfig& config,
                              std::shared_ptr<const RouteConfig> route_config, sdk::Route route) {
  const std::lock_guard<std::mutex> lock(mutex_);
  auto& server = servers_[config.port];
  if (server && !(server->config() == config)) {
    throw sdk::InvalidError(
        route_config->uri + ": port " + std::to_string(config.port) + " is already served by " +
        server->config().url() +
        " with other settings; routes that share a port must agree on host, tls, cert, key, "
        "max-threads, max-queued, keep-alive and keep-alive-timeout");
  }
  if (!server) {
    try {
      server = std::make_shared<Server>(host_, config);
    } catch (...) {
      servers_.erase(config.port);
      throw;
    }
    host_.info("listening on ", config.url());
  }
  for (const auto& existing : *server->routes()) {
    if (existing.config->pattern.text() == route_config->pattern.text() &&
        existing.config->methods == route_config->methods) {
      host_.warn(route_config->uri, ": another route already listens for ",
                 route_config->pattern.text(), " on this port; the newest one takes the requests");
    }
  }
  const std::uint64_t token = next_token_++;
  server->add(Registration{token, std::move(route_config), std::move(route)});
  return token;
}

void Servers::detach(int port, std::uint64_t token) {
  std::shared_ptr<Server> stopping;
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    const auto it = servers_.find(port);
    if (it == servers_.end()) return;
    if (it->second->remove(token)) {
      stopping = std::move(it->second);
      servers_.erase(it);
    }
  }
  if (stopping) {
    const std::string url = stopping->config().url();
    stopping.reset();  // waits for requests in progress
    host_.info("stopped listening on ", url);
  }
}

}  // namespace busway::http
