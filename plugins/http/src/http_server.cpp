#include "http_server.hpp"

#include <algorithm>
#include <atomic>
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

std::string cleanHeaderValue(std::string_view value) {
  std::string out(value);
  for (char& c : out) {
    if (c == '\r' || c == '\n') c = ' ';  // no header injection through a reply header
  }
  return out;
}

using Headers = std::vector<std::pair<std::string, std::string>>;

// A whole response: status line, headers, body.
std::string render(int status, std::string_view media_type, std::string_view body,
                   const Headers& headers, bool keep_alive) {
  std::string out;
  out.reserve(160 + body.size());
  out += "HTTP/1.1 ";
  out += std::to_string(status);
  out += ' ';
  out += HTTPResponse::getReasonForStatus(static_cast<HTTPResponse::HTTPStatus>(status));
  out += "\r\nServer: busway\r\n";
  if (!media_type.empty()) {
    out += "Content-Type: ";
    out += cleanHeaderValue(media_type);
    out += "\r\n";
  }
  for (const auto& [name, value] : headers) {
    out += cleanHeaderValue(name);
    out += ": ";
    out += cleanHeaderValue(value);
    out += "\r\n";
  }
  out += "Content-Length: ";
  out += std::to_string(body.size());
  out += keep_alive ? "\r\nConnection: Keep-Alive\r\n\r\n" : "\r\nConnection: close\r\n\r\n";
  out += body;
  return out;
}

}  // namespace

// One request handed to a route, until its response is written. On plain TCP the done
// callback writes the response itself, so the connection's thread sleeps once per
// request (reading the next one) instead of twice; with TLS (one OpenSSL session must not
// be used by two threads) the connection's thread waits and writes.
struct Pending {
  Poco::Net::StreamSocket socket;
  bool write_in_callback = false;
  bool keep_alive = true;
  std::chrono::steady_clock::time_point deadline;
  std::chrono::milliseconds timeout{0};
  // The done callback or the timeout, whoever comes first, answers.
  std::atomic<bool> claimed{false};
  std::mutex mutex;
  std::condition_variable cv;
  bool answered = false;  // written (plain), or ready in `bytes` (TLS)
  bool broken = false;    // the connection must close
  std::string bytes;

  // Only the one that won `claimed` calls this.
  void finish(std::string response) {
    bool failed = false;
    if (write_in_callback) {
      try {
        socket.sendBytes(response.data(), static_cast<int>(response.size()));
        if (!keep_alive) socket.shutdown();
      } catch (...) {
        failed = true;  // the client left, or did not read within the send timeout
        try {
          socket.shutdown();
        } catch (...) {  // NOLINT(bugprone-empty-catch): already closed
        }
      }
    }
    const std::lock_guard<std::mutex> lock(mutex);
    if (!write_in_callback) bytes = std::move(response);
    broken = failed || !keep_alive;
    answered = true;
    cv.notify_all();
  }
  void wait() {
    std::unique_lock<std::mutex> lock(mutex);
    cv.wait(lock, [this] { return answered; });
  }
  std::string timeoutResponse() const {
    return render(504, "application/json",
                  jsonError(504, "the route did not answer within " + formatDuration(timeout) +
                                     " (option timeout); the message may still complete"),
                  {}, keep_alive);
  }
};

namespace {

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
        sendError(response, 405,
                  "method " + request.getMethod() + " is not allowed on " + std::string(raw_path) +
                      "; allowed: " + allow,
                  {{"Allow", allow}});
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
    // Straight through the C ABI: none of these strings points into the message, so the
    // SDK's defensive copies are not needed on this path.
    const bw_host_api* api = message.api();
    bw_message* handle = message.handle();
    const auto set = [api, handle](std::string_view name, std::string_view value) {
      if (api->message_header_set(handle, bw_str{name.data(), name.size()},
                                  bw_str{value.data(), value.size()}) != BW_OK) {
        throw sdk::Error(sdk::Status::transient, "the bus could not set a header (out of memory?)");
      }
    };
    set("http.method", request.getMethod());
    set("http.path", percentDecode(raw_path));
    set("http.query", query);
    set("http.remote", request.clientAddress().toString());
    std::string name_buffer;
    for (const auto& [name, value] : params) {
      name_buffer.assign("http.param.").append(name);
      set(name_buffer, value);
    }
    std::string previous;
    std::string joined;
    for (const auto& [name, value] : request) {  // sorted by name: repeats are neighbours
      name_buffer.assign("http.header.").append(toLower(name));
      if (name_buffer == previous) {
        joined.append(", ").append(value);  // repeated header: one comma-separated value
        set(name_buffer, joined);
      } else {
        joined = value;
        set(name_buffer, value);
      }
      previous = name_buffer;
    }

    auto pending = std::make_shared<Pending>();
    pending->socket = socket_;
    pending->write_in_callback = !server_.config().tls;
    pending->keep_alive = response.getKeepAlive();
    pending->timeout = config.timeout;
    pending->deadline = std::chrono::steady_clock::now() + config.timeout;
    const sdk::Status status = chosen->route.request(
        std::move(message), [pending, host](const sdk::DeliveryResult& result) {
          std::string bytes = answerFor(result, pending->keep_alive, host);
          if (pending->claimed.exchange(true)) return;  // already answered 504
          pending->finish(std::move(bytes));
        });
    if (status != sdk::Status::ok) {
      // Refused at once (the bus is full or stopping): the client may try again later.
      pending->claimed = true;
      send(response, 503, "application/json",
           jsonError(503, std::string("the bus did not take the request (") +
                              sdk::toString(status) + "); try again later"),
           {{"Retry-After", "1"}});
      host.metric("server.refused");
      return;
    }
    if (pending->write_in_callback) {
      // The manifest's inline_routes: a route without waits has answered already.
      if (!pending->claimed.load()) server_.watch(pending);  // answers 504 if the route is too slow
      pending_ = std::move(pending);
      return;
    }
    std::unique_lock<std::mutex> lock(pending->mutex);
    if (!pending->cv.wait_for(lock, config.timeout, [&] { return pending->answered; })) {
      if (!pending->claimed.exchange(true)) {
        lock.unlock();
        sent_ = true;
        const std::string bytes = pending->timeoutResponse();
        socket_.sendBytes(bytes.data(), static_cast<int>(bytes.size()));
        host.metric("server.timeouts");
        return;
      }
      pending->cv.wait(lock, [&] { return pending->answered; });  // the callback won the race
    }
    sent_ = true;
    socket_.sendBytes(pending->bytes.data(), static_cast<int>(pending->bytes.size()));
  }

 public:
  // The request handed to the route, when the done callback answers it.
  std::shared_ptr<Pending> pending() const { return pending_; }

 private:
  // The response for what the route did; runs in the done callback.
  static std::string answerFor(const sdk::DeliveryResult& result, bool keep_alive,
                               const sdk::Host& host) {
    if (!result.ok()) {
      const int code = result.status == sdk::Status::rejected ? 503 : 500;
      const std::string error = result.error.empty() ? std::string(sdk::toString(result.status))
                                                     : std::string(result.error);
      host.metric("server.failed");
      Headers headers;
      if (code == 503) headers.emplace_back("Retry-After", "1");
      return render(code, "application/json", jsonError(code, error), headers, keep_alive);
    }
    if (!result.reply) return render(200, {}, {}, {}, keep_alive);
    const sdk::MessageView& reply = *result.reply;
    int status = 200;
    auto code = reply.header("http.status");
    if (!code) code = reply.header("status");  // what <reply status="..."> sets
    if (code) {
      const auto parsed = parseStatus(*code);
      if (!parsed) {
        host.metric("server.failed");
        return render(500, "application/json",
                      jsonError(500, "the reply's status '" + std::string(*code) +
                                         "' is not an HTTP status (100-599); set http.status"),
                      {}, keep_alive);
      }
      status = *parsed;
    }
    Headers headers;
    reply.forEachHeader([&](std::string_view name, std::string_view value) {
      if (startsWithIgnoreCase(name, kResponseHeaderPrefix) &&
          name.size() > kResponseHeaderPrefix.size()) {
        headers.emplace_back(std::string(name.substr(kResponseHeaderPrefix.size())),
                             std::string(value));
      }
    });
    // An empty body with the default media type says nothing: no Content-Type then.
    const std::string_view body = reply.body();
    const std::string_view media = reply.mediaType();
    const bool typed = !body.empty() || media != "application/octet-stream";
    host.metric("server.requests");
    return render(status, typed ? media : std::string_view(), body, headers, keep_alive);
  }

 public:
  // The status line, headers and body in one write (POCO's sendBuffer writes the headers
  // and the body separately, which costs a second segment per response).
  void send(HTTPServerResponse& response, int status, std::string_view media_type,
            const std::string& body, const Headers& headers = {}) {
    const std::string out = render(status, media_type, body, headers, response.getKeepAlive());
    sent_ = true;
    socket_.sendBytes(out.data(), static_cast<int>(out.size()));
  }

  void sendError(HTTPServerResponse& response, int status, std::string_view message,
                 const Headers& headers = {}) {
    send(response, status, "application/json", jsonError(status, message), headers);
  }

  Server& server_;
  Poco::Net::StreamSocket& socket_;
  bool sent_ = false;
  std::shared_ptr<Pending> pending_;
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
    std::shared_ptr<Pending> current;
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      stopped_ = true;
      current = current_;
    }
    if (current) current->wait();  // answered by the route or, at its timeout, with 504
    try {
      socket().shutdown();
    } catch (...) {  // NOLINT(bugprone-empty-catch): already closed
    }
  }

 private:
  void serve() {
    socket().setNoDelay(true);
    socket().setSendTimeout(Poco::Timespan(10, 0));  // a client that does not read
    Poco::Net::HTTPServerSession session(socket(), params_);
    std::shared_ptr<Pending> previous;
    // The socket closes with the session: never before a pending response is written.
    struct Drain {
      std::shared_ptr<Pending>& pending;
      ~Drain() {
        if (pending) pending->wait();
      }
    } drain{previous};
    while (session.hasMoreRequests()) {
      if (previous) {
        // One response at a time, in order (a pipelining client waits here).
        previous->wait();
        const bool broken = previous->broken;
        previous.reset();
        {
          const std::lock_guard<std::mutex> lock(mutex_);
          current_.reset();
        }
        if (broken) return;
      }
      const std::lock_guard<std::mutex> lock(mutex_);
      if (stopped_) return;
      try {
        Poco::Net::HTTPServerResponseImpl response(session);
        Poco::Net::HTTPServerRequestImpl request(response, session, params_.get());
        response.setVersion(request.getVersion());
        response.setKeepAlive(params_->getKeepAlive() && request.getKeepAlive() &&
                              session.canKeepAlive());
        Dispatcher dispatcher(server_, socket());
        dispatcher.handleRequest(request, response);
        previous = dispatcher.pending();
        current_ = previous;
        // Answered here: close now if the answer said so. Answered later: the callback
        // shuts the socket down when the answer says close.
        if (!previous) {
          session.setKeepAlive(params_->getKeepAlive() && response.getKeepAlive() &&
                               session.canKeepAlive());
        }
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
  std::shared_ptr<Pending> current_;
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
    watchdog_ = std::thread([this] { watchdog(); });
    server_ = std::make_unique<Poco::Net::TCPServer>(new ConnectionFactory(*this, params),
                                                     *threads_, *socket, params);
    server_->start();
  } catch (const Poco::Exception& e) {
    server_.reset();
    threads_.reset();
    stopWatchdog();
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
  stopWatchdog();
}

void Server::stopWatchdog() {
  {
    const std::lock_guard<std::mutex> lock(watch_mutex_);
    watch_stopping_ = true;
  }
  watch_cv_.notify_all();
  if (watchdog_.joinable()) watchdog_.join();
}

void Server::watch(std::shared_ptr<Pending> pending) {
  bool first = false;
  {
    const std::lock_guard<std::mutex> lock(watch_mutex_);
    first = watched_.empty();
    watched_.push_back(std::move(pending));
  }
  if (first) watch_cv_.notify_one();
}

void Server::watchdog() {
  std::unique_lock<std::mutex> lock(watch_mutex_);
  while (!watch_stopping_) {
    if (watched_.empty()) {
      watch_cv_.wait(lock, [this] { return watch_stopping_ || !watched_.empty(); });
      continue;
    }
    watch_cv_.wait_for(lock, std::chrono::milliseconds(100));
    const auto now = std::chrono::steady_clock::now();
    std::vector<std::shared_ptr<Pending>> late;
    for (std::size_t i = 0; i < watched_.size();) {
      Pending& p = *watched_[i];
      const bool done = p.claimed.load();
      if (done || now >= p.deadline) {
        if (!done && !p.claimed.exchange(true)) late.push_back(watched_[i]);
        watched_[i] = std::move(watched_.back());
        watched_.pop_back();
      } else {
        ++i;
      }
    }
    if (late.empty()) continue;
    lock.unlock();
    for (const auto& p : late) {
      p->finish(p->timeoutResponse());
      host_.metric("server.timeouts");
    }
    lock.lock();
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
