#pragma once

#include <atomic>
#include <string>
#include <string_view>

namespace busway {

enum class LogLevel { trace, debug, info, warn, error, off };

const char* toString(LogLevel level) noexcept;
// Parses "trace".."error"/"off"; returns false when `text` names no level.
bool parseLogLevel(std::string_view text, LogLevel& level) noexcept;

// The process-wide log. Lines go to stderr as `TIME LEVEL [category] message`, one write per
// line so concurrent lines never interleave. Cheap to skip: check enabled() first on hot paths.
class Log {
 public:
  static void setLevel(LogLevel level) noexcept;
  static LogLevel level() noexcept;
  static bool enabled(LogLevel level) noexcept {
    return level >= threshold_.load(std::memory_order_relaxed);
  }
  static void write(LogLevel level, std::string_view category, std::string_view message);

 private:
  static std::atomic<LogLevel> threshold_;
};

inline void logInfo(std::string_view category, std::string_view message) {
  Log::write(LogLevel::info, category, message);
}
inline void logWarn(std::string_view category, std::string_view message) {
  Log::write(LogLevel::warn, category, message);
}
inline void logError(std::string_view category, std::string_view message) {
  Log::write(LogLevel::error, category, message);
}

}  // namespace busway
