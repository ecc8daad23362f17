// linetest: a test-only plugin. The source listens on TCP and answers each line "ID TEXT"
// with "ACK ID" only from the delivery's done callback (the ack contract), so a test knows
// exactly which messages the bus has taken responsibility for. The sink appends each body
// as a line to a file (write(2) with O_APPEND: a killed bus cannot lose what it wrote).
#include <atomic>
#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <busway/plugin.hpp>

namespace linetest {

namespace sdk = busway::sdk;

struct Connection {
  explicit Connection(int f) : fd(f) {}
  ~Connection() { ::close(fd); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  void send(const std::string& line) {
    const std::lock_guard<std::mutex> lock(mutex);
    std::string_view rest(line);
    while (!rest.empty()) {
      const ssize_t n = ::send(fd, rest.data(), rest.size(), MSG_NOSIGNAL);
      if (n <= 0) {
        if (n < 0 && errno == EINTR) continue;
        return;
      }
      rest.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  int fd;
  std::mutex mutex;
};

class LinePlugin;

class LineEndpoint : public sdk::Endpoint {
 public:
  static constexpr std::string_view scheme = "linetest";

  LineEndpoint(LinePlugin&, const sdk::Options& options)
      : port_(static_cast<int>(options.integer("port", 0))),
        file_(options.text("file", "")),
        fail_first_(options.integer("fail-first", 0)),
        permanent_(options.text("fail-kind", "transient") == "permanent") {}

  ~LineEndpoint() override { stopConsumer(); }

  void send(sdk::Sending& sending) override {
    if (fail_first_ > 0 && failed_.fetch_add(1) < fail_first_) {
      if (permanent_)
        throw sdk::Error(sdk::Status::permanent, "linetest sink refuses (permanent) as configured");
      throw sdk::TransientError("linetest sink fails (transient) as configured");
    }
    if (file_.empty()) throw sdk::InvalidError("linetest: the sink needs file=PATH");
    std::string line(sending.message().body());
    line += '\n';
    const int fd = ::open(file_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
      throw sdk::TransientError("linetest: cannot open " + file_ + ": " + std::strerror(errno));
    const ssize_t n = ::write(fd, line.data(), line.size());
    ::close(fd);
    if (n != static_cast<ssize_t>(line.size()))
      throw sdk::TransientError("linetest: short write to " + file_);
  }

  void startConsumer(sdk::Route route) override {
    listen_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    ::setsockopt(listen_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port_));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listen_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listen_, 16) != 0) {
      const std::string reason = std::strerror(errno);
      ::close(listen_);
      listen_ = -1;
      throw sdk::TransientError("linetest: cannot listen on 127.0.0.1:" + std::to_string(port_) +
                                ": " + reason);
    }
    stopping_ = false;
    acceptor_ = std::thread([this, route] { acceptLoop(route); });
  }

  void stopConsumer() override {
    if (listen_ < 0) return;
    stopping_ = true;
    if (acceptor_.joinable()) acceptor_.join();
    ::close(listen_);
    listen_ = -1;
    std::vector<std::thread> readers;
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      for (auto& c : connections_) ::shutdown(c->fd, SHUT_RD);
      readers.swap(readers_);
    }
    for (auto& t : readers) t.join();
  }

 private:
  void acceptLoop(const sdk::Route& route) {
    while (!stopping_) {
      pollfd p{listen_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      const int fd = ::accept4(listen_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      auto connection = std::make_shared<Connection>(fd);
      const std::lock_guard<std::mutex> lock(mutex_);
      connections_.push_back(connection);
      readers_.emplace_back([this, route, connection] { readLoop(route, connection); });
    }
  }

  void readLoop(const sdk::Route& route, const std::shared_ptr<Connection>& connection) {
    std::string buffer;
    char chunk[4096];
    for (;;) {
      const ssize_t n = ::recv(connection->fd, chunk, sizeof chunk, 0);
      if (n <= 0) {
        if (n < 0 && errno == EINTR) continue;
        break;
      }
      buffer.append(chunk, static_cast<std::size_t>(n));
      std::size_t eol;
      while ((eol = buffer.find('\n')) != std::string::npos) {
        std::string line = buffer.substr(0, eol);
        buffer.erase(0, eol + 1);
        const auto space = line.find(' ');
        const std::string id = line.substr(0, space);
        const std::string text =
            space == std::string::npos ? std::string() : line.substr(space + 1);
        sdk::OwnedMessage message = route.host().newMessage(text, "text/plain");
        message.setHeader("linetest.id", id);
        const sdk::Status status =
            route.deliver(std::move(message), [connection, id](const sdk::DeliveryResult& result) {
              if (result.ok())
                connection->send("ACK " + id + "\n");
              else
                connection->send("NAK " + id + " " + std::string(result.error) + "\n");
            });
        if (status != sdk::Status::ok) connection->send("NAK " + id + " refused\n");
      }
    }
  }

  int port_;
  std::string file_;
  std::int64_t fail_first_;
  bool permanent_;
  std::atomic<std::int64_t> failed_{0};
  int listen_ = -1;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::mutex mutex_;
  std::vector<std::shared_ptr<Connection>> connections_;
  std::vector<std::thread> readers_;
};

class LinePlugin : public sdk::Plugin {
 public:
  using Plugin::Plugin;
  using Endpoints = sdk::List<LineEndpoint>;
};

}  // namespace linetest

BUSWAY_PLUGIN(linetest::LinePlugin);
