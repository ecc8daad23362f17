#pragma once

// One AMQP connection with one channel, owned by one I/O thread. rabbitmq-c connections
// are not thread-safe, so nothing but that thread touches the connection: other threads
// (the bus's workers publishing, done callbacks settling deliveries) hand it commands
// through a queue and wake it with an eventfd. The thread reconnects with backoff and
// numbers its channels (generations): a delivery tag is only valid on the channel that
// delivered it, so a settlement for an older generation is dropped (the broker redelivers
// those messages by itself) and counted as stale.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <amqp.h>

#include "fields.hpp"
#include <busway/plugin.hpp>

namespace busway::amqp {

struct LinkSettings {
  Address address;
  bool tls = false;
  std::string tls_ca;
  std::string tls_cert;
  std::string tls_key;
  bool tls_verify = true;
  std::string username;
  std::string password;
  std::chrono::milliseconds heartbeat{10'000};
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds reconnect_delay{200};
  std::chrono::milliseconds reconnect_max_delay{10'000};
  // What to declare on every (re)connect.
  bool declare = true;
  bool declare_exchange = true;  // false for the broker's own amq.* exchanges
  bool durable = true;
  bool auto_delete = false;
  std::string exchange;
  std::string exchange_type = "direct";
  std::string queue;
  std::string binding_key;
  std::string queue_type = "classic";
  std::string dead_letter_exchange;
  // For people: the endpoint URI (without secrets) and the node's connection name.
  std::string where;
  std::string connection_name;
};

// A message the broker delivered, copied out of rabbitmq-c's buffers.
struct Delivery {
  std::uint64_t generation = 0;  // the channel it came on
  std::uint64_t tag = 0;
  bool redelivered = false;
  std::string exchange;
  std::string routing_key;
  std::string consumer_tag;
  std::string content_type;
  std::string content_encoding;
  std::string correlation_id;
  std::string message_id;
  std::string reply_to;
  std::string type;
  std::string app_id;
  std::string user_id;
  std::string expiration;
  std::optional<std::uint64_t> timestamp;
  std::optional<int> priority;
  int delivery_mode = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

// A message to publish. `done` is called exactly once, on the I/O thread: ok on the
// broker's confirm (basic.ack), otherwise the failure (nack, return, lost connection,
// timeout, stop).
struct Publish {
  std::string exchange;
  std::string routing_key;
  bool mandatory = true;
  bool persistent = true;
  std::string content_type;
  std::string correlation_id;
  std::string message_id;
  std::string reply_to;
  std::string type;
  std::string expiration;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::chrono::steady_clock::time_point deadline;
  std::function<void(sdk::Status, const std::string&)> done;
};

enum class Settle { ack, requeue, reject };

struct LinkCounters {
  std::atomic<std::uint64_t> delivered{0};
  std::atomic<std::uint64_t> acked{0};
  std::atomic<std::uint64_t> requeued{0};
  std::atomic<std::uint64_t> rejected{0};
  std::atomic<std::uint64_t> stale_settles{0};  // done after the channel died: not acked
  std::atomic<std::uint64_t> published{0};
  std::atomic<std::uint64_t> confirmed{0};
  std::atomic<std::uint64_t> publish_failed{0};
  std::atomic<std::uint64_t> returned{0};
  std::atomic<std::uint64_t> connects{0};
  std::atomic<std::uint64_t> connection_losses{0};
};

class Link {
 public:
  Link(sdk::Host host, LinkSettings settings);
  ~Link();
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;

  // Starts the I/O thread (idempotent). It connects at once and keeps reconnecting.
  void start();
  // Consume settings.queue: each message goes to `on_delivery` on the I/O thread, which
  // must settle it (settle()) exactly once, from any thread, now or later.
  void consume(std::string consumer_tag, int prefetch, std::function<void(Delivery&&)> on_delivery);
  // Stop consuming (basic.cancel). Deliveries already handed out can still be settled.
  void cancel();
  void settle(std::uint64_t generation, std::uint64_t tag, Settle how);
  void publish(Publish message);
  // Stops the thread: fails sends not yet confirmed, closes the channel and the connection
  // (the broker then requeues every unacknowledged delivery). Idempotent.
  void shutdown();

  const LinkCounters& counters() const noexcept { return counters_; }
  const LinkSettings& settings() const noexcept { return settings_; }

 private:
  struct SettleCommand {
    std::uint64_t generation;
    std::uint64_t tag;
    Settle how;
  };
  struct Outstanding {
    Publish message;
    bool returned = false;
    std::string return_reason;
  };
  // A method that carries content (deliver or return) waits for its header and body frames.
  struct Incoming {
    bool is_return = false;
    std::uint64_t body_size = 0;
    bool have_header = false;
    Delivery delivery;
    std::string return_reason;
  };

  void run();
  bool connect(std::string& error);
  bool setUp(std::string& error);
  void disconnect(const std::string& reason);
  void wake();
  bool waitInterruptibly(std::chrono::milliseconds delay);
  void takeCommands();
  bool sendSettles();
  bool sendPublishes();
  bool sendConsumeState();
  void expire();
  bool pump();
  bool handleFrame(const amqp_frame_t& frame);
  void finishIncoming();
  void confirm(std::uint64_t tag, bool multiple, bool ok, const std::string& why);
  void failAll(sdk::Status status, const std::string& why);
  std::string describe(const amqp_rpc_reply_t& reply, const char* what) const;

  sdk::Host host_;
  LinkSettings settings_;
  LinkCounters counters_;
  int wake_fd_ = -1;
  // Set by wake() when it signals wake_fd_, cleared by the I/O thread when it reads it: a
  // burst of sends and acks costs one write, not one each.
  std::atomic<bool> wake_pending_{false};

  std::mutex mutex_;  // guards the command queues and the consume request below
  std::vector<SettleCommand> settles_;
  std::vector<Publish> publishes_;
  bool want_consume_ = false;
  std::string consumer_tag_;
  int prefetch_ = 0;
  std::function<void(Delivery&&)> on_delivery_;
  bool stopping_ = false;

  std::thread thread_;
  std::atomic<bool> started_{false};

  // Owned by the I/O thread.
  amqp_connection_state_t conn_ = nullptr;
  std::uint64_t generation_ = 0;
  std::uint64_t next_seq_ = 0;
  bool consuming_ = false;  // basic.consume is active on this channel
  std::string consumer_tag_sent_;
  std::deque<Publish> unsent_;
  std::map<std::uint64_t, Outstanding> outstanding_;
  std::optional<Incoming> incoming_;
  std::set<std::uint64_t> unsettled_;        // delivered on this channel, not yet acked or nacked
  std::function<void(Delivery&&)> handler_;  // the I/O thread's copy of on_delivery_
};

// Frees what rabbitmq-c set up process-wide for TLS (its OpenSSL BIO method), which it
// otherwise keeps until exit. Call once no Link is left; with links open it does nothing.
void releaseTlsLibrary() noexcept;

}  // namespace busway::amqp
