#pragma once

// The host as the plugin sees it: logging, metrics, new messages and timers. A Host is a
// small value (two pointers); copy it freely. Every function may be called from any thread
// between the plugin's init and destroy (plugin.h, bw_host_api).

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_set>
#include <utility>

#include "busway/plugin.h"
#include "busway/sdk/error.hpp"
#include "busway/sdk/message.hpp"

namespace busway::sdk {

enum class LogLevel : int { trace = 0, debug = 1, info = 2, warn = 3, error = 4 };

namespace detail {
// Tasks handed to the host's timers and not yet run. The host drops timers still pending
// when the plugin is destroyed without running them; the plugin's destroy frees these.
// One registry per plugin library (each plugin has its own copy of this inline code).
struct PendingTask {
  virtual ~PendingTask() = default;
};
inline std::mutex& pendingTasksMutex() {
  static std::mutex mutex;
  return mutex;
}
inline std::unordered_set<PendingTask*>& pendingTasks() {
  static std::unordered_set<PendingTask*> tasks;
  return tasks;
}
inline void addPendingTask(PendingTask* task) {
  const std::lock_guard<std::mutex> lock(pendingTasksMutex());
  pendingTasks().insert(task);
}
// True when `task` was still pending (the caller now owns it).
inline bool takePendingTask(PendingTask* task) {
  const std::lock_guard<std::mutex> lock(pendingTasksMutex());
  return pendingTasks().erase(task) == 1;
}
inline void dropPendingTasks() {
  std::unordered_set<PendingTask*> dropped;
  {
    const std::lock_guard<std::mutex> lock(pendingTasksMutex());
    dropped.swap(pendingTasks());
  }
  for (PendingTask* task : dropped) delete task;
}
}  // namespace detail

class Host {
 public:
  Host() noexcept = default;
  Host(const bw_host_api* api, bw_host* host) noexcept : api_(api), host_(host) {}

  // Lines go to the bus's log under the plugin's id; the bus applies its log level.
  void log(LogLevel level, std::string_view message) const noexcept {
    if (api_ != nullptr) api_->log(host_, static_cast<int>(level), detail::str(message));
  }
  // log() with the parts streamed together: host.info("sent ", n, " messages to ", queue).
  template <class... Parts>
  void trace(const Parts&... parts) const {
    log(LogLevel::trace, concat(parts...));
  }
  template <class... Parts>
  void debug(const Parts&... parts) const {
    log(LogLevel::debug, concat(parts...));
  }
  template <class... Parts>
  void info(const Parts&... parts) const {
    log(LogLevel::info, concat(parts...));
  }
  template <class... Parts>
  void warn(const Parts&... parts) const {
    log(LogLevel::warn, concat(parts...));
  }
  template <class... Parts>
  void error(const Parts&... parts) const {
    log(LogLevel::error, concat(parts...));
  }

  // Adds `value` to the counter `name` (the bus prefixes it with the plugin id).
  void metric(std::string_view name, double value = 1.0) const noexcept {
    if (api_ != nullptr) api_->metric_add(host_, detail::str(name), value);
  }

  // A new, empty message owned by the caller. Throws TransientError when the host cannot
  // make one (out of memory).
  OwnedMessage newMessage() const {
    bw_message* message = api_->message_new(host_);
    if (message == nullptr) throw TransientError("the host could not create a message");
    return OwnedMessage(api_, message);
  }
  OwnedMessage newMessage(std::string_view body, std::string_view media_type) const {
    OwnedMessage message = newMessage();
    message.setBody(body, media_type);
    return message;
  }

  // Runs fn() once on the bus's thread pool after `delay`. `fn` may be move-only; it is
  // destroyed after it runs, or when the plugin is destroyed if it never ran (the host
  // drops timers still pending at destroy). Exceptions from fn are logged, not
  // propagated. Throws Error when the host refuses the timer.
  // There is no cancel: a timer that must not act after its owner is gone should capture
  // a weak_ptr or a Route (which goes inert when its consumer stops), never `this`.
  template <class Fn>
  void schedule(std::chrono::milliseconds delay, Fn&& fn) const {
    using Task = std::decay_t<Fn>;
    static_assert(std::is_invocable_v<Task&>,
                  "Host::schedule needs a callable taking no arguments");
    struct Scheduled final : detail::PendingTask {
      Scheduled(Host h, Task t) : host(h), task(std::move(t)) {}
      Host host;
      Task task;
    };
    auto scheduled = std::make_unique<Scheduled>(*this, Task(std::forward<Fn>(fn)));
    void (*run)(void*) = [](void* context) noexcept {
      // Not pending any more: from here on this call owns the task.
      if (!detail::takePendingTask(static_cast<detail::PendingTask*>(context))) return;
      const std::unique_ptr<Scheduled> owned(static_cast<Scheduled*>(context));
      detail::guardVoid(
          [&](std::string_view what) { owned->host.error("a scheduled task failed: ", what); },
          [&] { owned->task(); });
    };
    const auto ms =
        delay.count() < 0 ? std::uint64_t{0} : static_cast<std::uint64_t>(delay.count());
    detail::addPendingTask(scheduled.get());
    const bw_status status = api_->schedule(host_, ms, run, scheduled.get());
    if (status != BW_OK) {
      detail::takePendingTask(scheduled.get());
      throw Error(fromC(status), "the host refused to schedule a timer");
    }
    // Pending until it runs, or until the plugin is destroyed (dropPendingTasks).
    static_cast<void>(scheduled.release());
  }

  const bw_host_api* api() const noexcept { return api_; }
  bw_host* handle() const noexcept { return host_; }

 private:
  template <class... Parts>
  static std::string concat(const Parts&... parts) {
    if constexpr (sizeof...(Parts) == 1 &&
                  (std::is_convertible_v<const Parts&, std::string_view> && ...)) {
      return std::string(std::string_view(parts...));
    } else {
      std::ostringstream out;
      (out << ... << parts);
      return std::move(out).str();
    }
  }

  const bw_host_api* api_ = nullptr;
  bw_host* host_ = nullptr;
};

}  // namespace busway::sdk
