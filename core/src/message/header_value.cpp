#include "busway/message/header_value.hpp"

#include <charconv>
#include <cmath>
#include <system_error>

#include "busway/message/headers.hpp"

namespace busway {

namespace {

template <typename Number>
std::string numberText(Number number) {
  // Shortest text that reads back to the same number, so a header written as text and
  // parsed again keeps its value.
  char buffer[64];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, number);
  if (ec != std::errc()) return {};
  return std::string(buffer, end);
}

}  // namespace

std::string toText(const HeaderValue& value) {
  switch (value.index()) {
    case 0: return {};
    case 1: return std::get<bool>(value) ? "true" : "false";
    case 2: return numberText(std::get<std::int64_t>(value));
    case 3: return numberText(std::get<double>(value));
    default: return std::get<std::string>(value);
  }
}

bool isTruthy(const HeaderValue& value) noexcept {
  switch (value.index()) {
    case 0: return false;
    case 1: return std::get<bool>(value);
    case 2: return std::get<std::int64_t>(value) != 0;
    case 3: {
      double d = std::get<double>(value);
      return d != 0.0 && !std::isnan(d);
    }
    default: {
      // Protocols that only carry text (HTTP, MQTT user properties) send flags as
      // "false" or "0"; treating those as false is what an admin writing a predicate expects.
      const auto& s = std::get<std::string>(value);
      return !(s.empty() || s == "0" || equalsIgnoreCase(s, "false"));
    }
  }
}

}  // namespace busway
