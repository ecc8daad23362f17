// tcp: messages over TCP connections, framed as MLLP (HL7), lines or length-prefixed blocks.
//
//  - Consumer (<from uri="tcp:0.0.0.0:2575?framing=mllp"/>): a server. Each frame becomes a
//    message; in request-reply mode the route's reply goes back on the same connection, in
//    one-way mode nothing is sent back. A broken or oversized frame closes its connection
//    only. One frame at a time per connection, so replies keep the order of requests.
//  - Producer (<to uri="tcp:10.0.0.5:2575?framing=mllp"/>): a client with a pool of
//    connections, connect and read timeouts, and a reconnect backoff; in request-reply mode a
//    send succeeds when the framed reply has arrived.
//
// Boost.Asio, not POCO Net: one io_context with a few threads serves every connection of the
// plugin without a thread per connection, with timers for the timeouts (docs/plugins/tcp.md).
// All I/O runs on the plugin's own threads; the bus is only called through Route and Sending.

// <utility> first: Boost 1.74's Asio uses std::exchange without including it, which g++ 12 in
// C++20 mode does not forgive (shared/notes/debian-deps.md, pitfall 3).
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio.hpp>

#include "framing.hpp"
#include <busway/plugin.hpp>

namespace busway::tcp {

namespace asio = boost::asio;
namespace sdk = busway::sdk;
using asio::ip::tcp;
using Ms = std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

std::string describe(const tcp::endpoint& endpoint) {
  std::ostringstream out;
  out << endpoint;
  return out.str();
}

std::string hl7Now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y%m%d%H%M%S", &tm);
  return text;
}

struct Config {
  std::string uri;
  std::string host;
  std::uint16_t port = 0;
  Framing framing = Framing::newline;
  std::size_t length_size = 4;
  std::size_t max_frame = 0;
  bool request_reply = true;
  std::string media_type;
  Ms read_timeout{};
  Ms idle_timeout{};
  Ms connect_timeout{};
  Ms reconnect_delay{};
  Ms max_reconnect_delay{};
  std::size_t max_connections = 0;
  std::size_t pool_size = 0;
  bool reject_on_failure = false;  // on-failure=reject: an HL7 ACK with AE/AR instead of closing
  bool check_ack = true;
};

class TcpEndpoint;

// The plugin: one io_context and its threads for every connection of every endpoint.
class TcpPlugin : public sdk::Plugin {
 public:
  using Endpoints = sdk::List<TcpEndpoint>;

  TcpPlugin(sdk::Host host, const sdk::Options& config)
      : Plugin(host, config), guard_(asio::make_work_guard(io_)) {
    const auto threads = std::clamp<std::int64_t>(config.integer("io-threads", 2), 1, 64);
    for (std::int64_t i = 0; i < threads; ++i) {
      threads_.emplace_back([this, host] {
        for (;;) {
          try {
            io_.run();
            return;
          } catch (const std::exception& e) {
            host.error("an I/O handler failed: ", e.what());
          }
        }
      });
    }
  }
  TcpPlugin(const TcpPlugin&) = delete;
  TcpPlugin& operator=(const TcpPlugin&) = delete;
  ~TcpPlugin() override {
    guard_.reset();
    io_.stop();
    for (auto& thread : threads_) thread.join();
  }

  asio::io_context& io() noexcept { return io_; }

 private:
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  std::vector<std::thread> threads_;
};

// ---------------------------------------------------------------------------------------
// Server (consumer)

class Server;

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(std::shared_ptr<Server> server, tcp::socket socket, std::uint64_t id);
  void start();
  // Closes the connection (on its strand); `reason` goes to the log.
  void close(const std::string& reason);
  std::uint64_t id() const noexcept { return id_; }
  auto executor() { return socket_.get_executor(); }

 private:
  void readNext();
  void arm(Ms timeout, const char* what);
  void handle(std::string frame);
  void answer(bool ok, std::string reply, std::string error, sdk::Status status);
  void write(std::string bytes);

  std::shared_ptr<Server> server_;
  tcp::socket socket_;
  asio::steady_timer timer_;
  std::uint64_t timer_generation_ = 0;
  Decoder decoder_;
  std::array<char, 65536> buffer_{};
  std::uint64_t id_;
  std::string remote_;
  std::string local_;
  std::optional<Hl7Header> current_;  // the HL7 header of the frame being handled
  bool closed_ = false;
};

class Server : public std::enable_shared_from_this<Server> {
 public:
  Server(Config config, sdk::Host host, sdk::Route route, asio::io_context& io)
      : config_(std::move(config)),
        host_(host),
        route_(std::move(route)),
        io_(io),
        acceptor_(asio::make_strand(io)) {}

  const Config& config() const noexcept { return config_; }
  const sdk::Host& host() const noexcept { return host_; }
  const sdk::Route& route() const noexcept { return route_; }

  void start() {
    boost::system::error_code ec;
    tcp::resolver resolver(io_);
    const auto results =
        resolver.resolve(config_.host, std::to_string(config_.port), tcp::resolver::passive, ec);
    if (ec || results.empty()) {
      throw sdk::TransientError(config_.uri + ": cannot resolve '" + config_.host +
                                "': " + ec.message());
    }
    const tcp::endpoint endpoint = results.begin()->endpoint();
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      throw sdk::TransientError(config_.uri + ": cannot listen on " + describe(endpoint) + ": " +
                                ec.message() + "; is another program using the port?");
    }
    host_.info(config_.uri, ": listening on ", describe(acceptor_.local_endpoint(ec)), " (",
               toString(config_.framing), ", ", config_.request_reply ? "request-reply" : "one-way",
               ")");
    asio::post(acceptor_.get_executor(), [self = shared_from_this()] { self->accept(); });
  }

  void stop() {
    auto closed = std::make_shared<std::promise<void>>();
    auto future = closed->get_future();
    asio::post(acceptor_.get_executor(), [self = shared_from_this(), closed] {
      boost::system::error_code ec;
      self->acceptor_.close(ec);
      closed->set_value();
    });
    future.wait_for(std::chrono::seconds(10));
    std::vector<std::shared_ptr<Connection>> open;
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      for (const auto& [id, weak] : connections_) {
        if (auto connection = weak.lock()) open.push_back(std::move(connection));
      }
    }
    for (const auto& connection : open) {
      asio::post(connection->executor(), [connection] { connection->close("the consumer stops"); });
    }
  }

  void forget(std::uint64_t id) {
    const std::lock_guard<std::mutex> lock(mutex_);
    connections_.erase(id);
  }

 private:
  void accept() {
    acceptor_.async_accept(
        asio::make_strand(io_),
        [self = shared_from_this()](boost::system::error_code ec, tcp::socket socket) {
          if (ec == asio::error::operation_aborted || !self->acceptor_.is_open()) return;
          if (ec) {
            self->host_.warn(self->config_.uri, ": accept failed: ", ec.message());
          } else {
            self->admit(std::move(socket));
          }
          self->accept();
        });
  }

  void admit(tcp::socket socket) {
    std::shared_ptr<Connection> connection;
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      if (connections_.size() >= config_.max_connections) {
        boost::system::error_code ec;
        host_.warn(config_.uri, ": refused a connection from ",
                   describe(socket.remote_endpoint(ec)), ": ", config_.max_connections,
                   " connections are open (max-connections)");
        socket.close(ec);
        return;
      }
      const std::uint64_t id = ++next_id_;
      connection = std::make_shared<Connection>(shared_from_this(), std::move(socket), id);
      connections_.emplace(id, connection);
    }
    asio::post(connection->executor(), [connection] { connection->start(); });
  }

  Config config_;
  sdk::Host host_;
  sdk::Route route_;
  asio::io_context& io_;
  tcp::acceptor acceptor_;
  std::mutex mutex_;
  std::map<std::uint64_t, std::weak_ptr<Connection>> connections_;
  std::uint64_t next_id_ = 0;
};

Connection::Connection(std::shared_ptr<Server> server, tcp::socket socket, std::uint64_t id)
    : server_(std::move(server)),
      socket_(std::move(socket)),
      timer_(socket_.get_executor()),
      decoder_(server_->config().framing, server_->config().length_size,
               server_->config().max_frame),
      id_(id) {}

void Connection::start() {
  boost::system::error_code ec;
  remote_ = describe(socket_.remote_endpoint(ec));
  local_ = describe(socket_.local_endpoint(ec));
  socket_.set_option(tcp::no_delay(true), ec);
  server_->host().debug(server_->config().uri, ": connection from ", remote_);
  readNext();
}

void Connection::close(const std::string& reason) {
  if (closed_) return;
  closed_ = true;
  server_->host().debug(server_->config().uri, ": closed the connection from ", remote_, ": ",
                        reason);
  boost::system::error_code ec;
  socket_.shutdown(tcp::socket::shutdown_both, ec);
  socket_.close(ec);
  timer_.cancel();
  server_->forget(id_);
}

void Connection::arm(Ms timeout, const char* what) {
  const std::uint64_t generation = ++timer_generation_;
  timer_.expires_after(timeout);
  timer_.async_wait(
      [self = shared_from_this(), generation, what, timeout](boost::system::error_code ec) {
        if (ec || generation != self->timer_generation_ || self->closed_) return;
        self->server_->host().info(self->server_->config().uri, ": closing the connection from ",
                                   self->remote_, ": ", what, " (", timeout.count(), "ms)");
        self->close(what);
      });
}

void Connection::readNext() {
  if (closed_) return;
  std::optional<std::string> frame;
  try {
    frame = decoder_.next();
  } catch (const FrameError& e) {
    server_->host().warn(server_->config().uri, ": broken frame from ", remote_, ": ", e.what(),
                         "; the connection is closed");
    server_->host().metric("frames.broken");
    close(e.what());
    return;
  }
  if (frame) {
    ++timer_generation_;  // no timeout while the route works on it
    timer_.cancel();
    handle(std::move(*frame));
    return;
  }
  if (decoder_.partial())
    arm(server_->config().read_timeout, "a frame was not completed within read-timeout");
  else
    arm(server_->config().idle_timeout, "idle for longer than idle-timeout");
  socket_.async_read_some(asio::buffer(buffer_), [self = shared_from_this()](
                                                     boost::system::error_code ec, std::size_t n) {
    if (self->closed_) return;
    if (ec) {
      self->close(ec == asio::error::eof ? std::string("closed by the peer") : ec.message());
      return;
    }
    self->decoder_.feed(std::string_view(self->buffer_.data(), n));
    self->readNext();
  });
}

void Connection::handle(std::string frame) {
  const Config& config = server_->config();
  std::string media_type = config.media_type;
  if (media_type.empty()) {
    media_type = config.framing == Framing::mllp      ? "x-application/hl7-v2+er7"
                 : config.framing == Framing::newline ? "text/plain"
                                                      : "application/octet-stream";
  }
  current_.reset();
  if (config.framing == Framing::mllp) current_ = parseHl7Header(frame);
  sdk::OwnedMessage message = server_->host().newMessage(frame, media_type);
  message.setHeader("tcp.remote", remote_);
  message.setHeader("tcp.local", local_);
  if (current_) {
    message.setHeader("hl7.control-id", current_->control_id);
    message.setHeader("hl7.message-type", current_->message_type);
    message.setHeader("hl7.version", current_->version);
    message.setHeader("hl7.sending-application", current_->sending_application);
    message.setHeader("hl7.sending-facility", current_->sending_facility);
  }
  server_->host().metric("frames.received");
  auto self = shared_from_this();
  const auto done = [self](const sdk::DeliveryResult& result) {
    std::string reply;
    if (result.ok() && result.reply) reply = std::string(result.reply->body());
    asio::post(self->executor(),
               [self, ok = result.ok(), reply = std::move(reply), error = std::string(result.error),
                status = result.status] { self->answer(ok, reply, error, status); });
  };
  const sdk::Status status = config.request_reply
                                 ? server_->route().request(std::move(message), done)
                                 : server_->route().deliver(std::move(message), done);
  if (status != sdk::Status::ok) {
    answer(false, {}, "the bus did not take the message (it is stopping or full)", status);
  }
}

void Connection::answer(bool ok, std::string reply, std::string error, sdk::Status status) {
  if (closed_) return;
  const Config& config = server_->config();
  if (ok) {
    if (!config.request_reply) {
      readNext();
      return;
    }
    try {
      write(encode(config.framing, config.length_size, reply));
    } catch (const std::exception& e) {
      server_->host().error(config.uri, ": cannot send the reply to ", remote_, ": ", e.what());
      close(e.what());
    }
    return;
  }
  server_->host().warn(config.uri, ": a message from ", remote_, " failed: ", error);
  if (!config.request_reply) {
    // One-way: the peer is told nothing either way (a dead-letter channel keeps the message).
    readNext();
    return;
  }
  if (config.reject_on_failure && current_) {
    // Never an AA for a message the bus did not take: AE (try again) for what may pass
    // later, AR (do not resend as is) for what never will.
    const bool again = status == sdk::Status::transient || status == sdk::Status::timeout ||
                       status == sdk::Status::rejected;
    write(encode(config.framing, config.length_size,
                 makeAck(*current_, again ? "AE" : "AR", error, hl7Now(),
                         "BUSWAY" + std::to_string(id_) + "-" + hl7Now())));
    return;
  }
  // No negative answer configured: close, so the peer sees no acknowledgement and resends.
  close("the route failed: " + error);
}

void Connection::write(std::string bytes) {
  auto data = std::make_shared<std::string>(std::move(bytes));
  arm(server_->config().read_timeout, "the reply could not be written within read-timeout");
  asio::async_write(socket_, asio::buffer(*data),
                    [self = shared_from_this(), data](boost::system::error_code ec, std::size_t) {
                      if (self->closed_) return;
                      if (ec) {
                        self->close("cannot write the reply: " + ec.message());
                        return;
                      }
                      self->server_->host().metric("replies.sent");
                      self->readNext();
                    });
}

// ---------------------------------------------------------------------------------------
// Client (producer)

class Client : public std::enable_shared_from_this<Client> {
 public:
  Client(Config config, sdk::Host host, asio::io_context& io)
      : config_(std::move(config)), host_(host), io_(io) {}
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  ~Client() {
    for (auto& socket : idle_) {
      boost::system::error_code ec;
      socket->close(ec);
    }
  }

  const Config& config() const noexcept { return config_; }
  const sdk::Host& host() const noexcept { return host_; }
  asio::io_context& io() noexcept { return io_; }

  std::unique_ptr<tcp::socket> takeIdle() {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (idle_.empty()) return nullptr;
    auto socket = std::move(idle_.back());
    idle_.pop_back();
    return socket;
  }
  void giveBack(std::unique_ptr<tcp::socket> socket) {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (idle_.size() < config_.pool_size) {
      idle_.push_back(std::move(socket));
    } else {
      boost::system::error_code ec;
      socket->close(ec);
    }
  }

  // How long to wait before the next connection attempt (reconnect backoff).
  Ms backoff() {
    const std::lock_guard<std::mutex> lock(mutex_);
    const auto now = SteadyClock::now();
    return next_attempt_ > now ? std::chrono::duration_cast<Ms>(next_attempt_ - now) : Ms(0);
  }
  void connectFailed() {
    const std::lock_guard<std::mutex> lock(mutex_);
    delay_ = delay_.count() == 0 ? config_.reconnect_delay
                                 : std::min(delay_ * 2, config_.max_reconnect_delay);
    next_attempt_ = SteadyClock::now() + delay_;
  }
  void connected() {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (delay_.count() != 0) host_.info(config_.uri, ": connected again");
    delay_ = Ms(0);
    next_attempt_ = SteadyClock::now();
  }

 private:
  Config config_;
  sdk::Host host_;
  asio::io_context& io_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<tcp::socket>> idle_;
  Ms delay_{0};
  SteadyClock::time_point next_attempt_{};
};

// One send: connect (or reuse), write the frame, wait for the framed reply.
class Call : public std::enable_shared_from_this<Call> {
 public:
  Call(std::shared_ptr<Client> client, sdk::Sending later, std::string frame, bool wants_reply)
      : client_(std::move(client)),
        later_(std::move(later)),
        frame_(std::move(frame)),
        wants_reply_(wants_reply),
        strand_(asio::make_strand(client_->io())),
        timer_(strand_),
        decoder_(client_->config().framing, client_->config().length_size,
                 client_->config().max_frame) {}

  void start() {
    asio::post(strand_, [self = shared_from_this()] { self->begin(); });
  }

 private:
  const Config& config() const { return client_->config(); }

  void begin() {
    socket_ = client_->takeIdle();
    if (socket_) {
      reused_ = true;
      write();
      return;
    }
    connect();
  }

  void connect() {
    reused_ = false;
    const Ms wait = client_->backoff();
    if (wait >= config().connect_timeout) {
      fail(sdk::Status::transient, "cannot connect to " + target() + " (" + last_error_ +
                                       "); the next attempt is in " + std::to_string(wait.count()) +
                                       "ms");
      return;
    }
    if (wait.count() > 0) {
      timer_.expires_after(wait);
      timer_.async_wait(asio::bind_executor(
          strand_, [self = shared_from_this()](boost::system::error_code) { self->dial(); }));
      return;
    }
    dial();
  }

  void dial() {
    boost::system::error_code ec;
    tcp::resolver resolver(client_->io());
    const auto results = resolver.resolve(config().host, std::to_string(config().port), ec);
    if (ec || results.empty()) {
      client_->connectFailed();
      fail(sdk::Status::transient, "cannot resolve " + config().host + ": " + ec.message());
      return;
    }
    socket_ = std::make_unique<tcp::socket>(client_->io());
    armTimeout(config().connect_timeout, "connect-timeout");
    asio::async_connect(
        *socket_, results,
        asio::bind_executor(strand_, [self = shared_from_this()](boost::system::error_code error,
                                                                 const tcp::endpoint&) {
          self->disarm();
          if (self->finished_) return;
          if (error) {
            self->client_->connectFailed();
            self->last_error_ = self->timed_out_ ? "timed out" : error.message();
            self->fail(sdk::Status::transient,
                       "cannot connect to " + self->target() + ": " + self->last_error_);
            return;
          }
          boost::system::error_code ignored;
          self->socket_->set_option(tcp::no_delay(true), ignored);
          self->client_->connected();
          self->write();
        }));
  }

  void write() {
    armTimeout(config().read_timeout, "read-timeout");
    asio::async_write(
        *socket_, asio::buffer(frame_),
        asio::bind_executor(
            strand_, [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
              if (self->finished_) return;
              if (ec) {
                self->disarm();
                if (self->retryOnFreshConnection()) return;
                self->fail(self->timed_out_ ? sdk::Status::timeout : sdk::Status::transient,
                           "cannot send to " + self->target() + ": " + ec.message());
                return;
              }
              if (!self->config().request_reply) {
                self->disarm();
                self->succeed({});
                return;
              }
              self->read();
            }));
  }

  void read() {
    socket_->async_read_some(
        asio::buffer(buffer_),
        asio::bind_executor(strand_, [self = shared_from_this()](boost::system::error_code ec,
                                                                 std::size_t n) {
          if (self->finished_) return;
          if (ec) {
            self->disarm();
            if (self->timed_out_) {
              self->fail(sdk::Status::timeout,
                         "no reply from " + self->target() + " within " +
                             std::to_string(self->config().read_timeout.count()) +
                             "ms (read-timeout)");
              return;
            }
            if (!self->got_bytes_ && self->retryOnFreshConnection()) return;
            self->fail(sdk::Status::transient,
                       self->target() + " closed the connection before its reply was complete (" +
                           ec.message() + ")");
            return;
          }
          self->got_bytes_ = true;
          self->decoder_.feed(std::string_view(self->buffer_.data(), n));
          std::optional<std::string> reply;
          try {
            reply = self->decoder_.next();
          } catch (const FrameError& e) {
            self->disarm();
            self->fail(sdk::Status::transient,
                       "the reply of " + self->target() + " is not a valid frame: " + e.what());
            return;
          }
          if (!reply) {
            self->read();
            return;
          }
          self->disarm();
          self->succeed(std::move(*reply));
        }));
  }

  // A pooled connection the server has closed meanwhile (it restarted): try once more on a
  // new connection. Nothing of the message reached a live peer.
  bool retryOnFreshConnection() {
    if (!reused_ || retried_) return false;
    retried_ = true;
    dropSocket();
    connect();
    return true;
  }

  void armTimeout(Ms timeout, const char* what) {
    timed_out_ = false;
    // A timer that already fired cannot be cancelled: the generation tells a stale expiry
    // (of the connect, say) from the current one.
    const std::uint64_t generation = ++timer_generation_;
    timer_.expires_after(timeout);
    timer_.async_wait(asio::bind_executor(
        strand_, [self = shared_from_this(), what, generation](boost::system::error_code ec) {
          if (ec || generation != self->timer_generation_ || self->finished_ || !self->socket_)
            return;
          self->timed_out_ = true;
          self->client_->host().debug(self->config().uri, ": ", what, " expired");
          boost::system::error_code ignored;
          self->socket_->close(ignored);  // the pending operation ends with an error
        }));
  }
  void disarm() {
    ++timer_generation_;
    timer_.cancel();
  }

  void dropSocket() {
    if (!socket_) return;
    boost::system::error_code ec;
    socket_->close(ec);
    socket_.reset();
  }

  std::string target() const { return config().host + ":" + std::to_string(config().port); }

  void succeed(std::string reply) {
    finished_ = true;
    std::string remote;
    std::string local;
    {
      boost::system::error_code ec;
      remote = describe(socket_->remote_endpoint(ec));
      local = describe(socket_->local_endpoint(ec));
    }
    // Bytes after the reply would be read as the next send's reply: such a connection is
    // not reused.
    if (decoder_.partial())
      dropSocket();
    else
      client_->giveBack(std::move(socket_));
    try {
      if (config().request_reply && config().framing == Framing::mllp && config().check_ack) {
        if (const auto code = ackCode(reply); code && *code != "AA" && *code != "CA") {
          const bool again = *code == "AE" || *code == "CE";
          later_.fail(again ? sdk::Status::transient : sdk::Status::permanent,
                      target() + " answered the HL7 message with " + *code + ": " + reply);
          return;
        }
      }
      client_->host().metric("frames.sent");
      if (!wants_reply_ || !config().request_reply) {
        later_.complete();
        return;
      }
      std::string media_type = config().media_type;
      if (media_type.empty()) {
        media_type = config().framing == Framing::mllp      ? "x-application/hl7-v2+er7"
                     : config().framing == Framing::newline ? "text/plain"
                                                            : "application/octet-stream";
      }
      sdk::OwnedMessage message = client_->host().newMessage(reply, media_type);
      message.setHeader("tcp.remote", remote);
      message.setHeader("tcp.local", local);
      later_.complete(std::move(message));
    } catch (const std::exception& e) {
      later_.fail(sdk::Status::transient, e.what());
    }
  }

  void fail(sdk::Status status, const std::string& error) {
    finished_ = true;
    dropSocket();
    client_->host().metric("sends.failed");
    later_.fail(status, config().uri + ": " + error);
  }

  std::shared_ptr<Client> client_;
  sdk::Sending later_;
  std::string frame_;
  bool wants_reply_;
  asio::strand<asio::io_context::executor_type> strand_;
  asio::steady_timer timer_;
  Decoder decoder_;
  std::unique_ptr<tcp::socket> socket_;
  std::array<char, 65536> buffer_{};
  std::string last_error_ = "it refused the connection before";
  std::uint64_t timer_generation_ = 0;
  bool reused_ = false;
  bool retried_ = false;
  bool timed_out_ = false;
  bool got_bytes_ = false;
  bool finished_ = false;
};

// ---------------------------------------------------------------------------------------

class TcpEndpoint : public sdk::Endpoint {
 public:
  static constexpr std::string_view scheme = "tcp";

  TcpEndpoint(TcpPlugin& plugin, const sdk::Options& options)
      : host_(plugin.host()), io_(plugin.io()), config_(configOf(options)) {
    client_ = std::make_shared<Client>(config_, host_, io_);
  }

  ~TcpEndpoint() override { stopConsumer(); }

  void startConsumer(sdk::Route route) override {
    server_ = std::make_shared<Server>(config_, host_, std::move(route), io_);
    server_->start();
  }

  void stopConsumer() override {
    if (server_) server_->stop();
    server_.reset();
  }

  void send(sdk::Sending& sending) override {
    const sdk::MessageRef message = sending.message();
    std::string frame;
    try {
      frame = encode(config_.framing, config_.length_size, message.body());
    } catch (const std::length_error& e) {
      throw sdk::InvalidError(config_.uri + ": " + e.what() + "; use length-size=4");
    }
    if (message.body().size() > config_.max_frame) {
      throw sdk::InvalidError(
          config_.uri + ": the body has " + std::to_string(message.body().size()) +
          " bytes, more than max-frame (" + std::to_string(config_.max_frame) + ")");
    }
    if (config_.framing == Framing::newline &&
        message.body().find('\n') != std::string_view::npos) {
      throw sdk::InvalidError(config_.uri +
                              ": the body contains a newline, which framing=newline cannot carry; "
                              "use length-prefixed or mllp");
    }
    const bool wants_reply = sending.wantsReply();
    auto call = std::make_shared<Call>(client_, sending.defer(), std::move(frame), wants_reply);
    call->start();
  }

 private:
  static Config configOf(const sdk::Options& options) {
    Config config;
    config.uri = options.uri();
    std::string path = options.path();
    while (path.rfind("//", 0) == 0) path.erase(0, 2);
    while (!path.empty() && path.back() == '/') path.pop_back();
    std::string port;
    if (!path.empty() && path.front() == '[') {
      const auto close = path.find(']');
      if (close != std::string::npos && close + 1 < path.size() && path[close + 1] == ':') {
        config.host = path.substr(1, close - 1);
        port = path.substr(close + 2);
      }
    } else if (const auto colon = path.rfind(':'); colon != std::string::npos) {
      config.host = path.substr(0, colon);
      port = path.substr(colon + 1);
    }
    const auto number = sdk::detail::parseInteger(port);
    if (config.host.empty() || !number || *number < 0 || *number > 65535) {
      throw sdk::InvalidError(options.uri() +
                              ": expected tcp:HOST:PORT, e.g. tcp:0.0.0.0:2575 or "
                              "tcp:10.0.0.5:2575");
    }
    config.port = static_cast<std::uint16_t>(*number);
    const std::string framing = options.text("framing");
    const auto parsed = parseFraming(framing);
    if (!parsed) {
      throw sdk::InvalidError(options.uri() + ": framing is '" + framing +
                              "'; use mllp, newline or length-prefixed");
    }
    config.framing = *parsed;
    const std::int64_t length_size = options.integer("length-size");
    if (length_size != 2 && length_size != 4) {
      throw sdk::InvalidError(options.uri() + ": length-size must be 2 or 4");
    }
    config.length_size = static_cast<std::size_t>(length_size);
    config.max_frame = options.bytes("max-frame");
    const std::string mode = options.text("mode");
    if (mode != "request-reply" && mode != "one-way") {
      throw sdk::InvalidError(options.uri() + ": mode is '" + mode +
                              "'; use request-reply or one-way");
    }
    config.request_reply = mode == "request-reply";
    config.media_type = options.text("media-type", "");
    config.read_timeout = options.duration("read-timeout");
    config.idle_timeout = options.duration("idle-timeout");
    config.connect_timeout = options.duration("connect-timeout");
    config.reconnect_delay = options.duration("reconnect-delay");
    config.max_reconnect_delay = options.duration("max-reconnect-delay");
    config.max_connections =
        static_cast<std::size_t>(std::max<std::int64_t>(1, options.integer("max-connections")));
    config.pool_size =
        static_cast<std::size_t>(std::max<std::int64_t>(0, options.integer("pool-size")));
    const std::string on_failure = options.text("on-failure");
    if (on_failure != "close" && on_failure != "reject") {
      throw sdk::InvalidError(options.uri() + ": on-failure is '" + on_failure +
                              "'; use close or reject");
    }
    config.reject_on_failure = on_failure == "reject";
    if (config.reject_on_failure && config.framing != Framing::mllp) {
      throw sdk::InvalidError(options.uri() +
                              ": on-failure=reject answers with an HL7 ACK and needs framing=mllp");
    }
    config.check_ack = options.boolean("check-ack");
    return config;
  }

  sdk::Host host_;
  asio::io_context& io_;
  Config config_;
  std::shared_ptr<Client> client_;
  std::shared_ptr<Server> server_;
};

}  // namespace busway::tcp

BUSWAY_PLUGIN(busway::tcp::TcpPlugin);
