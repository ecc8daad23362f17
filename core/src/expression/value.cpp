#include "busway/expression/value.hpp"

#include <charconv>
#include <cmath>
#include <optional>
#include <system_error>

#include "busway/message/headers.hpp"

namespace busway {

namespace {

enum : std::size_t { kNull = 0, kBool = 1, kInt = 2, kDouble = 3, kString = 4, kJson = 5 };

// A number as the comparison sees it: integers stay exact, everything else is a double.
struct Number {
  bool integral = false;
  std::int64_t i = 0;
  double d = 0.0;
};

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// "10" == 10: headers from text protocols carry numbers as strings.
std::optional<Number> parseNumber(std::string_view text) noexcept {
  text = trim(text);
  if (text.empty()) return std::nullopt;
  if (text.front() == '+') text.remove_prefix(1);
  const char* first = text.data();
  const char* last = text.data() + text.size();
  Number n;
  if (auto [end, ec] = std::from_chars(first, last, n.i); ec == std::errc() && end == last) {
    n.integral = true;
    n.d = static_cast<double>(n.i);
    return n;
  }
  if (auto [end, ec] = std::from_chars(first, last, n.d); ec == std::errc() && end == last) {
    return n;
  }
  return std::nullopt;
}

std::optional<Number> asNumber(const Value& v) noexcept {
  switch (v.index()) {
    case kInt: {
      Number n;
      n.integral = true;
      n.i = std::get<std::int64_t>(v);
      n.d = static_cast<double>(n.i);
      return n;
    }
    case kDouble: {
      Number n;
      n.d = std::get<double>(v);
      return n;
    }
    default: return std::nullopt;
  }
}

bool isNumeric(const Value& v) noexcept { return v.index() == kInt || v.index() == kDouble; }

// Numbers, or a number and a string that reads as one.
std::optional<std::pair<Number, Number>> numericPair(const Value& a, const Value& b) noexcept {
  std::optional<Number> x;
  std::optional<Number> y;
  if (isNumeric(a) && isNumeric(b)) {
    x = asNumber(a);
    y = asNumber(b);
  } else if (isNumeric(a) && b.index() == kString) {
    x = asNumber(a);
    y = parseNumber(std::get<std::string>(b));
  } else if (a.index() == kString && isNumeric(b)) {
    x = parseNumber(std::get<std::string>(a));
    y = asNumber(b);
  }
  if (!x || !y) return std::nullopt;
  return std::make_pair(*x, *y);
}

int compareNumbers(const Number& x, const Number& y) noexcept {
  if (x.integral && y.integral) return x.i < y.i ? -1 : (x.i > y.i ? 1 : 0);
  if (std::isnan(x.d) || std::isnan(y.d)) return 2;
  return x.d < y.d ? -1 : (x.d > y.d ? 1 : 0);
}

// JSON scalars arrive as json only when built by hand; compare them as the scalars they are.
Value normalize(const Value& v) {
  if (v.index() != kJson) return v;
  const auto& j = std::get<nlohmann::json>(v);
  switch (j.type()) {
    case nlohmann::json::value_t::null: return std::monostate{};
    case nlohmann::json::value_t::boolean: return j.get<bool>();
    case nlohmann::json::value_t::number_integer: return j.get<std::int64_t>();
    case nlohmann::json::value_t::number_unsigned: {
      auto u = j.get<std::uint64_t>();
      if (u <= static_cast<std::uint64_t>(INT64_MAX)) return static_cast<std::int64_t>(u);
      return static_cast<double>(u);
    }
    case nlohmann::json::value_t::number_float: return j.get<double>();
    case nlohmann::json::value_t::string: return j.get<std::string>();
    default: return v;
  }
}

bool isBoolText(std::string_view s, bool& out) noexcept {
  s = trim(s);
  if (equalsIgnoreCase(s, "true")) {
    out = true;
    return true;
  }
  if (equalsIgnoreCase(s, "false")) {
    out = false;
    return true;
  }
  return false;
}

bool scalarsEqual(const Value& a, const Value& b) {
  if (auto pair = numericPair(a, b)) return compareNumbers(pair->first, pair->second) == 0;
  if (a.index() != b.index()) {
    // true == 'true': a flag header sent as text still matches a boolean literal.
    bool flag = false;
    if (a.index() == kBool && b.index() == kString && isBoolText(std::get<std::string>(b), flag)) {
      return std::get<bool>(a) == flag;
    }
    if (b.index() == kBool && a.index() == kString && isBoolText(std::get<std::string>(a), flag)) {
      return std::get<bool>(b) == flag;
    }
    return false;
  }
  switch (a.index()) {
    case kNull: return true;
    case kBool: return std::get<bool>(a) == std::get<bool>(b);
    case kString: return std::get<std::string>(a) == std::get<std::string>(b);
    case kJson: return std::get<nlohmann::json>(a) == std::get<nlohmann::json>(b);
    default: return false;
  }
}

}  // namespace

Value fromHeader(const HeaderValue& header) {
  switch (header.index()) {
    case 0: return std::monostate{};
    case 1: return std::get<bool>(header);
    case 2: return std::get<std::int64_t>(header);
    case 3: return std::get<double>(header);
    default: return std::get<std::string>(header);
  }
}

HeaderValue toHeader(const Value& value) {
  Value v = normalize(value);
  switch (v.index()) {
    case kNull: return std::monostate{};
    case kBool: return std::get<bool>(v);
    case kInt: return std::get<std::int64_t>(v);
    case kDouble: return std::get<double>(v);
    case kString: return std::get<std::string>(v);
    default: return toText(v);
  }
}

std::string toText(const Value& value) {
  switch (value.index()) {
    case kNull: return {};
    case kBool: return toText(HeaderValue(std::get<bool>(value)));
    case kInt: return toText(HeaderValue(std::get<std::int64_t>(value)));
    case kDouble: return toText(HeaderValue(std::get<double>(value)));
    case kString: return std::get<std::string>(value);
    default: {
      const auto& j = std::get<nlohmann::json>(value);
      if (j.is_string()) return j.get<std::string>();
      if (j.is_null()) return {};
      return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
  }
}

bool isTruthy(const Value& value) noexcept {
  switch (value.index()) {
    case kNull: return false;
    case kBool: return std::get<bool>(value);
    case kInt: return isTruthy(HeaderValue(std::get<std::int64_t>(value)));
    case kDouble: return isTruthy(HeaderValue(std::get<double>(value)));
    case kString: {
      const auto& s = std::get<std::string>(value);
      return !(s.empty() || s == "0" || equalsIgnoreCase(s, "false"));
    }
    default: {
      const auto& j = std::get<nlohmann::json>(value);
      if (j.is_null()) return false;
      if (j.is_boolean()) return j.get<bool>();
      if (j.is_number()) return j.get<double>() != 0.0;
      return !j.empty();  // objects, arrays (and strings, whose empty() is false)
    }
  }
}

bool isNull(const Value& value) noexcept {
  return value.index() == kNull ||
         (value.index() == kJson && std::get<nlohmann::json>(value).is_null());
}

bool valuesEqual(const Value& a, const Value& b) {
  if (a.index() == kJson || b.index() == kJson) return scalarsEqual(normalize(a), normalize(b));
  return scalarsEqual(a, b);
}

int compareValues(const Value& a, const Value& b) {
  if (a.index() == kJson || b.index() == kJson) {
    Value x = normalize(a);
    Value y = normalize(b);
    if (x.index() == kJson || y.index() == kJson) return valuesEqual(x, y) ? 0 : 2;
    return compareValues(x, y);
  }
  if (auto pair = numericPair(a, b)) return compareNumbers(pair->first, pair->second);
  if (a.index() != b.index()) return 2;
  switch (a.index()) {
    case kNull: return 0;
    case kBool: return static_cast<int>(std::get<bool>(a)) - static_cast<int>(std::get<bool>(b));
    case kString: {
      int c = std::get<std::string>(a).compare(std::get<std::string>(b));
      return c < 0 ? -1 : (c > 0 ? 1 : 0);
    }
    default: return 2;
  }
}

}  // namespace busway
