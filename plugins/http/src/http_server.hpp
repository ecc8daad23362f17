#pragma once

// The consumer side: one POCO HTTPServer per port, shared by every route that listens on
// it, each route matching its own path pattern and methods.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "http_support.hpp"
#include <busway/plugin.hpp>

namespace Poco {
class ThreadPool;
namespace Net {
class TCPServer;
}
}  // namespace Poco

namespace busway::http {

// What a server (a port) is: every route on the port must agree on it.
struct ServerConfig {
  std::string host;
  int port = 0;
  bool tls = false;
  std::string cert;
  std::string key;
  int max_threads = 64;
  int max_queued = 256;
  bool keep_alive = true;
  std::chrono::milliseconds keep_alive_timeout{10'000};

  bool operator==(const ServerConfig&) const = default;
  std::string url() const;  // "https://0.0.0.0:8443"
};

// What one route listens for.
struct RouteConfig {
  std::string uri;  // as written, for messages
  PathPattern pattern{"/"};
  std::vector<std::string> methods;  // empty: any
  std::uint64_t max_body = 1U << 20U;
  std::chrono::milliseconds timeout{30'000};
  std::string hmac_secret;  // empty: no signature check
  std::string hmac_header = "X-Signature-256";
};

struct Pending;

struct Registration {
  std::uint64_t token = 0;
  std::shared_ptr<const RouteConfig> config;
  sdk::Route route;
};

class Server {
 public:
  // Binds and starts listening; throws busway::sdk::Error when it cannot.
  Server(sdk::Host host, ServerConfig config);
  ~Server();  // stops accepting, lets requests in progress finish, joins its threads
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  const ServerConfig& config() const noexcept { return config_; }
  sdk::Host host() const noexcept { return host_; }
  void add(Registration registration);
  // Removes a route; true when none is left.
  bool remove(std::uint64_t token);
  std::shared_ptr<const std::vector<Registration>> routes() const;

  // Answers `pending` with 504 when its route has not answered by its deadline.
  void watch(std::shared_ptr<Pending> pending);

  // Connections announce themselves so that stopping can close them; false when stopping.
  bool enter(void* connection);
  void leave(void* connection);

 private:
  void watchdog();
  void stopWatchdog();

  sdk::Host host_;
  ServerConfig config_;
  mutable std::mutex mutex_;
  std::shared_ptr<const std::vector<Registration>> routes_;
  std::unique_ptr<Poco::ThreadPool> threads_;
  std::mutex connections_mutex_;
  std::set<void*> connections_;
  bool stopping_ = false;
  std::mutex watch_mutex_;
  std::condition_variable watch_cv_;
  std::vector<std::shared_ptr<Pending>> watched_;
  bool watch_stopping_ = false;
  std::thread watchdog_;
  std::unique_ptr<Poco::Net::TCPServer> server_;
};

// The servers of one plugin, by port.
class Servers {
 public:
  explicit Servers(sdk::Host host) : host_(host) {}
  ~Servers();
  Servers(const Servers&) = delete;
  Servers& operator=(const Servers&) = delete;

  // Adds a route to the server on config.port (starting it if needed). Throws when the port
  // is already served with other settings (TLS, threads...) or cannot be bound.
  std::uint64_t attach(const ServerConfig& config, std::shared_ptr<const RouteConfig> route_config,
                       sdk::Route route);
  // Removes the route; the server stops with its last route.
  void detach(int port, std::uint64_t token);

 private:
  sdk::Host host_;
  std::mutex mutex_;
  std::map<int, std::shared_ptr<Server>> servers_;
  std::uint64_t next_token_ = 1;
};

}  // namespace busway::http
