#pragma once

// The pieces of the http plugin that need no network: endpoint addresses, path patterns
// with {parameters}, ${...} templates in client URLs, HMAC-SHA256 webhook signatures, media
// types, JSON error bodies and what an HTTP status means for the route. Kept apart from
// POCO so they are unit-tested on their own (plugins/http/tests).

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace busway::http {

// host, port and path of an endpoint URI's path part: "0.0.0.0:8080/orders/{id}",
// "//erp.example:8443/api" (the "//" of http://... is optional). Throws std::invalid_argument
// with a sentence for people when it is malformed.
struct Address {
  std::string host;
  int port = 0;
  std::string path = "/";  // always starts with '/'
};
Address parseAddress(std::string_view text, int default_port);

// A path pattern: literal segments and {name} segments that match one segment each
// ("/orders/{id}/lines/{line}"). A last segment {name*} matches the rest of the path.
class PathPattern {
 public:
  explicit PathPattern(std::string_view pattern);  // throws std::invalid_argument
  // The parameters (percent-decoded) when `path` matches, else nullopt.
  std::optional<std::vector<std::pair<std::string, std::string>>> match(
      std::string_view path) const;
  const std::string& text() const noexcept { return text_; }
  // More literal segments first: /orders/new wins over /orders/{id}.
  int specificity() const noexcept { return literals_; }

 private:
  struct Segment {
    std::string text;
    bool parameter = false;
    bool rest = false;
  };
  std::string text_;
  std::vector<Segment> segments_;
  int literals_ = 0;
};

// Splits "POST, put" into {"POST", "PUT"}; empty means every method. Throws
// std::invalid_argument for something that is not a method token.
std::vector<std::string> parseMethods(std::string_view text);

// A text with ${header.NAME}, ${id} and ${correlation-id} placeholders, for client URLs.
// Values are percent-encoded when `encode` is set (path and query parts).
class Template {
 public:
  using Lookup = std::function<std::optional<std::string>(std::string_view header)>;
  explicit Template(std::string_view text);  // throws std::invalid_argument
  bool constant() const noexcept {
    return parts_.size() <= 1 && (parts_.empty() || !parts_[0].placeholder);
  }
  // Throws std::out_of_range naming the placeholder when a header is missing.
  std::string render(const Lookup& header, std::string_view id, std::string_view correlation_id,
                     bool encode) const;

 private:
  struct Part {
    std::string text;  // literal text, or the header name / "id" / "correlation-id"
    bool placeholder = false;
    bool header = false;
  };
  std::vector<Part> parts_;
};

std::string percentEncode(std::string_view text);  // everything but RFC 3986 unreserved
std::string percentDecode(std::string_view text);  // "%2F" -> "/"; bad escapes are kept

// Lower-case hex HMAC-SHA256 of `data` with `secret`.
std::string hmacSha256Hex(std::string_view secret, std::string_view data);
// True when `signature` ("sha256=<hex>" or "<hex>", any case) is the HMAC-SHA256 of `body`
// with `secret`. Compared in constant time.
bool signatureMatches(std::string_view signature, std::string_view secret, std::string_view body);

// "application/json; charset=utf-8" -> "application/json" (lower case); "" stays "".
std::string mediaTypeOf(std::string_view content_type);
std::string toLower(std::string_view text);

// {"error":"...","status":503} with the text escaped.
std::string jsonError(int status, std::string_view message);
std::string jsonEscape(std::string_view text);

// What a peer's answer means for the route: ok (2xx), worth retrying (408, 429, 5xx) or
// permanent (other 1xx/3xx/4xx: the peer refused this message; we do not follow redirects).
enum class Outcome { ok, transient, permanent };
Outcome outcomeOf(int status) noexcept;

}  // namespace busway::http
