#include "busway/endpoint/uri.hpp"

#include <cctype>

namespace busway {
namespace {

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool percentDecode(std::string_view in, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%') {
      if (i + 2 >= in.size()) return false;
      const int hi = hexValue(in[i + 1]);
      const int lo = hexValue(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (in[i] == '+') {
      out += ' ';
    } else {
      out += in[i];
    }
  }
  return true;
}

}  // namespace

Result<Uri> Uri::parse(std::string_view text) {
  Uri uri;
  uri.text = std::string(text);
  const auto colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0) {
    return Error(ErrorKind::invalid,
                 "'" + std::string(text) +
                     "' is not an endpoint URI: expected scheme:path (for example queue:orders)");
  }
  for (std::size_t i = 0; i < colon; ++i) {
    const char c = text[i];
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.';
    if (!ok || (i == 0 && !std::isalpha(static_cast<unsigned char>(c)))) {
      return Error(ErrorKind::invalid, "invalid URI scheme '" + std::string(text.substr(0, colon)) +
                                           "': use letters, digits, '+', '-' or '.'");
    }
    uri.scheme += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  std::string_view rest = text.substr(colon + 1);
  const auto question = rest.find('?');
  uri.path = std::string(rest.substr(0, question));
  if (question != std::string_view::npos) {
    std::string_view query = rest.substr(question + 1);
    while (!query.empty()) {
      const auto amp = query.find('&');
      const std::string_view pair = query.substr(0, amp);
      if (!pair.empty()) {
        const auto eq = pair.find('=');
        std::string name;
        std::string value;
        if (!percentDecode(pair.substr(0, eq), name) ||
            (eq != std::string_view::npos && !percentDecode(pair.substr(eq + 1), value))) {
          return Error(ErrorKind::invalid,
                       "bad percent-encoding in option '" + std::string(pair) + "'");
        }
        if (name.empty())
          return Error(ErrorKind::invalid, "empty option name in '" + std::string(pair) + "'");
        for (const auto& [existing, unused] : uri.options) {
          if (existing == name)
            return Error(ErrorKind::invalid, "option '" + name + "' is given twice");
        }
        uri.options.emplace_back(std::move(name), std::move(value));
      }
      if (amp == std::string_view::npos) break;
      query.remove_prefix(amp + 1);
    }
  }
  return uri;
}

const std::string* Uri::option(std::string_view name) const noexcept {
  for (const auto& [key, value] : options) {
    if (key == name) return &value;
  }
  return nullptr;
}

std::string Uri::redact(std::string text) {
  if (const auto authority = text.find("//"); authority != std::string::npos) {
    const auto end = text.find('/', authority + 2);
    const auto at = text.rfind('@', end);
    if (at != std::string::npos && at > authority) {
      const auto colon = text.find(':', authority + 2);
      if (colon != std::string::npos && colon < at) text.replace(colon + 1, at - colon - 1, "***");
    }
  }
  return text;
}

}  // namespace busway
