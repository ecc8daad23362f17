#pragma once

// The producer side: requests run on the plugin's own threads (a send never blocks the
// bus's workers), over keep-alive connections pooled per host and port.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPClientSession.h>

#include <busway/plugin.hpp>

namespace busway::http {

// A fixed set of threads with a queue; started on first use.
class Workers {
 public:
  explicit Workers(std::size_t threads) : size_(threads == 0 ? 1 : threads) {}
  ~Workers();
  Workers(const Workers&) = delete;
  Workers& operator=(const Workers&) = delete;

  template <class Fn>
  void post(Fn&& fn) {
    struct Holder final : Task {
      explicit Holder(Fn&& f) : fn(std::forward<Fn>(f)) {}
      void run() override { fn(); }
      std::decay_t<Fn> fn;
    };
    push(std::make_unique<Holder>(std::forward<Fn>(fn)));
  }
  // Waits until the queue is empty and no task runs, at most `timeout`.
  void drain(std::chrono::milliseconds timeout);

 private:
  struct Task {
    virtual ~Task() = default;
    virtual void run() = 0;
  };
  void push(std::unique_ptr<Task> task);
  void loop();

  std::size_t size_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  std::deque<std::unique_ptr<Task>> queue_;
  std::vector<std::thread> threads_;
  std::size_t running_ = 0;
  bool stopping_ = false;
};

// Idle keep-alive connections, by "scheme://host:port|tls settings".
class SessionPool {
 public:
  explicit SessionPool(std::size_t per_key) : per_key_(per_key) {}
  std::unique_ptr<Poco::Net::HTTPClientSession> take(const std::string& key);
  void give(const std::string& key, std::unique_ptr<Poco::Net::HTTPClientSession> session);
  ~SessionPool();

 private:
  std::size_t per_key_;
  std::mutex mutex_;
  std::map<std::string, std::vector<std::unique_ptr<Poco::Net::HTTPClientSession>>> idle_;
};

// One request, ready to go (built from the message on the bus's thread).
struct Request {
  std::string method;
  std::string target;  // path and query
  std::string url;     // for messages: "POST https://host:port/path"
  std::string body;
  std::string media_type;
  std::vector<std::pair<std::string, std::string>> headers;
};

// Where a producer sends.
struct ClientTarget {
  bool tls = false;
  std::string host;
  int port = 0;
  std::chrono::milliseconds timeout{30'000};
  std::chrono::milliseconds connect_timeout{5'000};
  std::string ca_file;
  bool verify = true;
  std::string pool_key;
  Poco::Net::Context::Ptr context;  // TLS only
};

struct Response {
  int status = 0;
  std::string reason;
  std::string body;
  std::string content_type;
  std::vector<std::pair<std::string, std::string>> headers;
};

// Performs the request; throws busway::sdk::Error (transient for timeouts, refused or broken
// connections; permanent for TLS verification failures). Statuses are returned, not thrown.
Response perform(const ClientTarget& target, const Request& request, SessionPool& pool);

}  // namespace busway::http
