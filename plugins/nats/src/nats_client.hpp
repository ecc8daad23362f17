#pragma once

// A small client for the NATS text protocol (there is no NATS C client in Debian 12):
// INFO/CONNECT/PUB/HPUB/SUB/UNSUB/MSG/HMSG/PING/PONG/+OK/-ERR over one TCP socket, with one
// reader thread per connection that also reconnects with backoff and subscribes again.
// Request-reply goes through one wildcard inbox subscription per connection. The JetStream
// helpers speak the $JS.API JSON requests. Used by the nats plugin and by its test peer.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace busway::nats {

using std::chrono::milliseconds;

struct Header {
  std::string name;
  std::string value;
};

struct Msg {
  std::string subject;
  std::string reply;
  std::vector<Header> headers;
  std::string status;       // "503" (no responders), "408", ... from the NATS/1.0 line; "" for none
  std::string description;  // the rest of that line
  std::string payload;

  const std::string* header(std::string_view name) const;
};

// A failure of the connection (not connected, write failed): worth retrying.
struct ConnectionError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct ClientOptions {
  std::string host = "127.0.0.1";
  int port = 4222;
  std::string name = "busway";
  std::string user;
  std::string password;
  std::string token;
  milliseconds reconnect_delay{250};
  milliseconds reconnect_delay_max{5000};
  // level: 2 info, 3 warn, 4 error (as busway's LogLevel).
  std::function<void(int level, const std::string& text)> log;
};

using Handler = std::function<void(Msg&&)>;
// Exactly once: the reply, or nullopt and why (timeout, no responders, connection).
using ReplyHandler = std::function<void(std::optional<Msg>, const std::string& error)>;

class Client {
 public:
  explicit Client(ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Starts the reader thread, which connects and keeps reconnecting. Waits up to `wait`
  // for the first connection; returns whether it is connected (it keeps trying if not).
  bool start(milliseconds wait);
  // Stops the reader thread and closes the socket. Pending requests fail.
  void close();
  bool connected() const noexcept { return connected_; }
  std::string where() const { return options_.host + ":" + std::to_string(options_.port); }

  // Subscriptions survive reconnects. `handler` runs on the reader thread.
  int subscribe(const std::string& subject, const std::string& queue, Handler handler);
  void unsubscribe(int sid);

  // Throws ConnectionError when not connected or the write fails.
  void publish(std::string_view subject, std::string_view reply, const std::vector<Header>& headers,
               std::string_view payload);

  // Publishes with a fresh inbox as reply subject; `done` is called exactly once (reader
  // thread, or the caller's on an immediate failure).
  void request(std::string_view subject, const std::vector<Header>& headers,
               std::string_view payload, milliseconds timeout, ReplyHandler done);
  // The same, waiting. Throws ConnectionError or std::runtime_error (timeout, no responders).
  Msg requestSync(std::string_view subject, const std::vector<Header>& headers,
                  std::string_view payload, milliseconds timeout);

  // A PING/PONG round trip: everything written before has been processed by the server.
  bool flush(milliseconds timeout);

 private:
  struct Subscription {
    std::string subject;
    std::string queue;
    Handler handler;
  };
  struct Pending {
    ReplyHandler done;
    std::chrono::steady_clock::time_point deadline;
  };

  void run();
  bool connectOnce(std::string& error);
  void readLoop();
  bool readLine(std::string& line);
  bool readBytes(std::size_t n, std::string& out);
  void handleMessage(Msg&& msg, int sid);
  void write(const std::string& data);
  void sweepRequests(bool all, const std::string& why);
  void log(int level, const std::string& text) const;
  void ensureInbox();

  ClientOptions options_;
  std::thread reader_;
  std::atomic<bool> connected_{false};
  std::atomic<bool> closing_{false};
  int fd_ = -1;
  std::mutex write_mutex_;  // guards writes and fd_
  std::string buffer_;      // reader thread only
  std::size_t buffer_pos_ = 0;

  std::mutex state_mutex_;  // subscriptions, pending requests, pongs
  std::condition_variable state_cv_;
  std::map<int, Subscription> subscriptions_;
  int next_sid_ = 1;
  std::string inbox_prefix_;
  int inbox_sid_ = 0;
  std::uint64_t next_request_ = 1;
  std::map<std::string, Pending> pending_;
  std::uint64_t pings_sent_ = 0;
  std::uint64_t pongs_received_ = 0;
  std::uint64_t connects_ = 0;
  std::chrono::steady_clock::time_point last_sweep_{};  // reader thread only
};

std::string randomToken(std::size_t length);

// ---- JetStream ---------------------------------------------------------------------------

// Creates stream `name` capturing `subject` (file storage) unless it exists. Throws
// std::runtime_error with the server's description.
void ensureStream(Client& client, const std::string& name, const std::string& subject,
                  milliseconds timeout);

struct ConsumerConfig {
  std::string stream;
  std::string durable;
  std::string filter_subject;
  std::string deliver_subject;
  milliseconds ack_wait{30000};
  long max_ack_pending = 1000;
  std::string deliver_policy = "all";  // all | new
  std::string deliver_group;           // queue group of the subscribers sharing the durable
};
// Creates (or keeps) a durable push consumer with explicit acks.
void ensureConsumer(Client& client, const ConsumerConfig& config, milliseconds timeout);

// The metadata in a JetStream delivery's reply subject ($JS.ACK.<stream>.<consumer>.
// <delivered>.<stream seq>.<consumer seq>.<timestamp>.<pending>), or nullopt.
struct AckMetadata {
  std::string stream;
  std::string consumer;
  std::uint64_t delivered = 0;
  std::uint64_t stream_sequence = 0;
};
std::optional<AckMetadata> parseAckSubject(std::string_view reply);

// A PubAck ({"stream":..,"seq":..}) or the server's error. Throws std::runtime_error on an
// error reply, with the description.
std::uint64_t parsePubAck(const Msg& reply);

}  // namespace busway::nats
