#include "mqtt_uri.hpp"

#include <charconv>
#include <stdexcept>

namespace busway::mqtt {
namespace {

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string decode(std::string_view uri, std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    const int hi = i + 2 < text.size() ? hexValue(text[i + 1]) : -1;
    const int lo = hi >= 0 ? hexValue(text[i + 2]) : -1;
    if (hi < 0 || lo < 0) {
      throw std::invalid_argument("'" + std::string(uri) +
                                  "': bad percent-encoding in the topic (write # as %23)");
    }
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

}  // namespace

bool validTopic(std::string_view topic, bool filter) {
  if (topic.empty() || topic.size() > 65535) return false;
  std::size_t level_start = 0;
  for (std::size_t i = 0; i <= topic.size(); ++i) {
    if (i < topic.size() && topic[i] != '/') {
      if (topic[i] == '\0') return false;
      continue;
    }
    const std::string_view level = topic.substr(level_start, i - level_start);
    if (level.find_first_of("+#") != std::string_view::npos) {
      if (!filter || level.size() != 1) return false;
      if (level == "#" && i != topic.size()) return false;  // '#' only as the last level
    }
    level_start = i + 1;
  }
  return true;
}

Address parseAddress(std::string_view uri, std::string_view path) {
  const auto fail = [&](const std::string& what) {
    throw std::invalid_argument("'" + std::string(uri) + "': " + what +
                                "; write mqtt://HOST:PORT/TOPIC, e.g. "
                                "mqtt://127.0.0.1:1883/orders/+/new");
  };
  if (path.substr(0, 2) != "//") fail("the broker address is missing");
  path.remove_prefix(2);
  const auto slash = path.find('/');
  if (slash == std::string_view::npos) fail("the topic is missing");
  const std::string_view authority = path.substr(0, slash);
  Address address;
  address.topic = decode(uri, path.substr(slash + 1));
  std::string_view host = authority;
  const auto colon = authority.rfind(':');
  if (colon != std::string_view::npos && authority.find(']', colon) == std::string_view::npos) {
    host = authority.substr(0, colon);
    const std::string_view port = authority.substr(colon + 1);
    int value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value <= 0 || value > 65535) {
      fail("the port '" + std::string(port) + "' is not a number from 1 to 65535");
    }
    address.port = value;
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (host.empty()) fail("the broker host is missing");
  address.host = std::string(host);
  if (!validTopic(address.topic, true)) {
    fail("'" + address.topic +
         "' is not a valid topic ('+' and '#' must fill a whole level, '#' only at the end)");
  }
  return address;
}

}  // namespace busway::mqtt
