#include "http_support.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <stdexcept>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace busway::http {
namespace {

bool isUnreserved(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::vector<std::string_view> splitPath(std::string_view path) {
  std::vector<std::string_view> out;
  while (!path.empty()) {
    if (path.front() == '/') {
      path.remove_prefix(1);
      continue;
    }
    const auto slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash);
  }
  return out;
}

}  // namespace

Address parseAddress(std::string_view text, int default_port) {
  const std::string original(text);
  if (text.substr(0, 2) == "//") text.remove_prefix(2);
  Address address;
  const auto slash = text.find('/');
  std::string_view authority = text.substr(0, slash);
  address.path = slash == std::string_view::npos ? "/" : std::string(text.substr(slash));
  if (authority.empty()) {
    throw std::invalid_argument("'" + original +
                                "' has no host: write HOST:PORT/PATH, e.g. 0.0.0.0:8080/orders or "
                                "//erp.example:8443/api");
  }
  std::string_view port_text;
  if (authority.front() == '[') {  // [::1]:8080
    const auto close = authority.find(']');
    if (close == std::string_view::npos)
      throw std::invalid_argument("'" + original + "': missing ']' after an IPv6 address");
    address.host = std::string(authority.substr(1, close - 1));
    std::string_view rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':')
        throw std::invalid_argument("'" + original + "': expected ':PORT' after ']'");
      port_text = rest.substr(1);
    }
  } else {
    const auto colon = authority.rfind(':');
    address.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (address.host.empty())
    throw std::invalid_argument("'" + original + "' has no host before the port");
  address.port = default_port;
  if (!port_text.empty()) {
    int port = 0;
    const auto [end, ec] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || port < 0 ||
        port > 65535) {
      throw std::invalid_argument("'" + original + "': port '" + std::string(port_text) +
                                  "' is not a number from 0 to 65535");
    }
    address.port = port;
  }
  return address;
}

PathPattern::PathPattern(std::string_view pattern) : text_(pattern) {
  const auto parts = splitPath(pattern);
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const std::string_view part = parts[i];
    Segment segment;
    if (part.front() == '{') {
      if (part.back() != '}' || part.size() < 3) {
        throw std::invalid_argument("path parameter '" + std::string(part) + "' in '" + text_ +
                                    "' must be written {name}");
      }
      std::string_view name = part.substr(1, part.size() - 2);
      if (name.back() == '*') {
        if (i + 1 != parts.size()) {
          throw std::invalid_argument(
              "'{" + std::string(name) + "}' in '" + text_ +
              "' takes the rest of the path, so it must be the last segment");
        }
        segment.rest = true;
        name.remove_suffix(1);
      }
      for (const char c : name) {
        if (!(isUnreserved(c))) {
          throw std::invalid_argument("path parameter name '" + std::string(name) + "' in '" +
                                      text_ + "': use letters, digits, '-', '_' and '.'");
        }
      }
      if (name.empty()) throw std::invalid_argument("empty path parameter name in '" + text_ + "'");
      segment.text = std::string(name);
      segment.parameter = true;
    } else {
      if (part.find_first_of("{}") != std::string_view::npos) {
        throw std::invalid_argument(
            "segment '" + std::string(part) + "' of '" + text_ +
            "' mixes text and a parameter; a parameter is a whole segment: /orders/{id}");
      }
      segment.text = percentDecode(part);
      ++literals_;
    }
    segments_.push_back(std::move(segment));
  }
}

std::optional<std::vector<std::pair<std::string, std::string>>> PathPattern::match(
    std::string_view path) const {
  std::vector<std::pair<std::string, std::string>> params;
  std::size_t i = 0;
  while (true) {
    while (!path.empty() && path.front() == '/') path.remove_prefix(1);
    if (i == segments_.size()) {
      if (!path.empty()) return std::nullopt;
      return params;
    }
    const Segment& segment = segments_[i];
    if (segment.rest) {
      if (path.empty()) return std::nullopt;
      params.emplace_back(segment.text, percentDecode(path));
      return params;
    }
    if (path.empty()) return std::nullopt;
    const auto slash = path.find('/');
    const std::string_view part = path.substr(0, slash);
    path.remove_prefix(part.size());
    if (segment.parameter) {
      params.emplace_back(segment.text, percentDecode(part));
    } else if (part.find('%') == std::string_view::npos ? part != segment.text
                                                        : percentDecode(part) != segment.text) {
      return std::nullopt;
    }
    ++i;
  }
}

std::vector<std::string> parseMethods(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    const auto comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) {
      std::string method;
      for (const char c : item) {
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '-' || c == '_')) {
          throw std::invalid_argument("'" + std::string(item) +
                                      "' is not an HTTP method; write e.g. methods=GET,POST");
        }
        method.push_back(static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c));
      }
      if (std::find(out.begin(), out.end(), method) == out.end()) out.push_back(std::move(method));
    }
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

Template::Template(std::string_view text) {
  std::size_t pos = 0;
  std::string literal;
  while (pos < text.size()) {
    const auto open = text.find("${", pos);
    if (open == std::string_view::npos) {
      literal.append(text.substr(pos));
      break;
    }
    literal.append(text.substr(pos, open - pos));
    const auto close = text.find('}', open);
    if (close == std::string_view::npos) {
      throw std::invalid_argument("'${' without a closing '}' in '" + std::string(text) + "'");
    }
    const std::string_view name = text.substr(open + 2, close - open - 2);
    Part part;
    part.placeholder = true;
    if (name.substr(0, 7) == "header." && name.size() > 7) {
      part.header = true;
      part.text = std::string(name.substr(7));
    } else if (name == "id" || name == "correlation-id") {
      part.text = std::string(name);
    } else {
      throw std::invalid_argument(
          "'${" + std::string(name) + "}' in '" + std::string(text) +
          "': the http plugin knows ${header.NAME}, ${id} and ${correlation-id}");
    }
    if (!literal.empty()) parts_.push_back(Part{std::exchange(literal, {}), false, false});
    parts_.push_back(std::move(part));
    pos = close + 1;
  }
  if (!literal.empty()) parts_.push_back(Part{std::move(literal), false, false});
}

std::string Template::render(const Lookup& header, std::string_view id,
                             std::string_view correlation_id, bool encode) const {
  std::string out;
  for (const Part& part : parts_) {
    if (!part.placeholder) {
      out += part.text;
      continue;
    }
    std::string value;
    if (part.header) {
      auto found = header(part.text);
      if (!found) {
        throw std::out_of_range("the message has no header '" + part.text + "' for ${header." +
                                part.text + "}");
      }
      value = std::move(*found);
    } else {
      value = std::string(part.text == "id" ? id : correlation_id);
    }
    out += encode ? percentEncode(value) : value;
  }
  return out;
}

std::string percentEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    if (isUnreserved(c)) {
      out.push_back(c);
    } else {
      const auto byte = static_cast<unsigned char>(c);
      out.push_back('%');
      out.push_back(kHex[byte >> 4U]);
      out.push_back(kHex[byte & 0x0FU]);
    }
  }
  return out;
}

std::string percentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      const int hi = hexValue(text[i + 1]);
      const int lo = hexValue(text[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(text[i]);
  }
  return out;
}

std::string hmacSha256Hex(std::string_view secret, std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int size = 0;
  const unsigned char* result =
      HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest.data(), &size);
  if (result == nullptr) throw std::runtime_error("OpenSSL could not compute an HMAC-SHA256");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2U);
  for (unsigned int i = 0; i < size; ++i) {
    out.push_back(kHex[digest[i] >> 4U]);
    out.push_back(kHex[digest[i] & 0x0FU]);
  }
  return out;
}

bool signatureMatches(std::string_view signature, std::string_view secret, std::string_view body) {
  while (!signature.empty() && signature.front() == ' ') signature.remove_prefix(1);
  while (!signature.empty() && signature.back() == ' ') signature.remove_suffix(1);
  if (signature.size() > 7 && toLower(signature.substr(0, 7)) == "sha256=")
    signature.remove_prefix(7);
  const std::string expected = hmacSha256Hex(secret, body);
  const std::string given = toLower(signature);
  if (given.size() != expected.size()) return false;
  return CRYPTO_memcmp(given.data(), expected.data(), expected.size()) == 0;
}

std::string toLower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string mediaTypeOf(std::string_view content_type) {
  const auto semicolon = content_type.find(';');
  std::string_view type = content_type.substr(0, semicolon);
  while (!type.empty() && type.front() == ' ') type.remove_prefix(1);
  while (!type.empty() && type.back() == ' ') type.remove_suffix(1);
  return toLower(type);
}

std::string jsonEscape(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size() + 8);
  for (const char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += "\\u00";
          out.push_back(kHex[static_cast<unsigned char>(c) >> 4U]);
          out.push_back(kHex[static_cast<unsigned char>(c) & 0x0FU]);
        } else {
          out.push_back(c);
        }
    }
  }
  return out;
}

std::string jsonError(int status, std::string_view message) {
  return "{\"error\":\"" + jsonEscape(message) + "\",\"status\":" + std::to_string(status) + "}";
}

Outcome outcomeOf(int status) noexcept {
  if (status >= 200 && status < 300) return Outcome::ok;
  if (status == 408 || status == 429 || status >= 500) return Outcome::transient;
  return Outcome::permanent;
}

}  // namespace busway::http
