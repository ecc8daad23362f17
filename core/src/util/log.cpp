#include "busway/util/log.hpp"

#include <chrono>
#include <ctime>
#include <mutex>

#include <unistd.h>

namespace busway {

std::atomic<LogLevel> Log::threshold_{LogLevel::info};

const char* toString(LogLevel level) noexcept {
  switch (level) {
    case LogLevel::trace: return "TRACE";
    case LogLevel::debug: return "DEBUG";
    case LogLevel::info: return "INFO";
    case LogLevel::warn: return "WARN";
    case LogLevel::error: return "ERROR";
    case LogLevel::off: return "OFF";
  }
  return "?";
}

bool parseLogLevel(std::string_view text, LogLevel& level) noexcept {
  static constexpr std::pair<std::string_view, LogLevel> kNames[] = {
      {"trace", LogLevel::trace}, {"debug", LogLevel::debug},  {"info", LogLevel::info},
      {"warn", LogLevel::warn},   {"warning", LogLevel::warn}, {"error", LogLevel::error},
      {"off", LogLevel::off}};
  for (const auto& [name, value] : kNames) {
    if (name == text) {
      level = value;
      return true;
    }
  }
  return false;
}

void Log::setLevel(LogLevel level) noexcept { threshold_.store(level, std::memory_order_relaxed); }
LogLevel Log::level() noexcept { return threshold_.load(std::memory_order_relaxed); }

void Log::write(LogLevel level, std::string_view category, std::string_view message) {
  if (!enabled(level)) return;
  using namespace std::chrono;
  const auto now = system_clock::now();
  const std::time_t secs = system_clock::to_time_t(now);
  const auto millis = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char stamp[40];
  const auto n = std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string line;
  line.reserve(64 + category.size() + message.size());
  line.append(stamp, n);
  char ms[8];
  std::snprintf(ms, sizeof ms, ".%03dZ ", static_cast<int>(millis));
  line += ms;
  line += toString(level);
  line.append(6 - std::char_traits<char>::length(toString(level)), ' ');
  line += '[';
  line += category;
  line += "] ";
  line += message;
  line += '\n';
  // One write(2) per line: lines from different threads never interleave.
  const char* p = line.data();
  std::size_t left = line.size();
  while (left > 0) {
    const ssize_t written = ::write(STDERR_FILENO, p, left);
    if (written <= 0) break;
    p += written;
    left -= static_cast<std::size_t>(written);
  }
}

}  // namespace busway
