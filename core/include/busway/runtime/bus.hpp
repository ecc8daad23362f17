#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "busway/config/diagnostics.hpp"
#include "busway/router/route_compiler.hpp"
#include "busway/runtime/bus_context.hpp"

namespace busway {

struct RouteStatus {
  std::string id;
  std::string from;
  bool running = false;
  RouteStats stats;
  std::string unavailable;  // why it is not running, when a plugin it needs is unavailable
};

// A running bus: one routing table at a time, replaced atomically on reload.
class Bus {
 public:
  explicit Bus(BusContext& context) : context_(context) {}
  ~Bus();
  Bus(const Bus&) = delete;
  Bus& operator=(const Bus&) = delete;

  // Loads, compiles and starts the table at `paths` (several files act as one table, as
  // if each were included). On any error nothing changes: the running table keeps running
  // and the errors are in `diagnostics`.
  bool load(const std::vector<std::string>& paths, Diagnostics& diagnostics);
  // Starts `table` in place of the running one. New consumers start before the old ones
  // stop, so no source is left unserved; messages in flight finish on the old pipelines.
  bool activate(std::unique_ptr<CompiledTable> table, Diagnostics& diagnostics);

  // Stops taking messages from outside, lets queued messages be processed, completes held
  // aggregates and waits up to `drain` for the messages in flight. Returns false when some
  // were still in flight or queued at the deadline.
  bool stop(std::chrono::milliseconds drain);

  std::vector<RouteStatus> status() const;
  // Files of the running table (for watching).
  std::vector<std::string> files() const;
  std::uint64_t generation() const;

 private:
  static bool drain(std::vector<CompiledRoute>& routes, std::chrono::milliseconds timeout);

  BusContext& context_;
  mutable std::mutex mutex_;
  std::unique_ptr<CompiledTable> running_;
  std::vector<std::unique_ptr<CompiledTable>> retired_;
  std::uint64_t generation_ = 0;
  bool stopped_ = false;
};

}  // namespace busway
