#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

namespace busway {

// A typed header value. Absent headers are not stored; monostate means "null".
using HeaderValue = std::variant<std::monostate, bool, std::int64_t, double, std::string>;

// Text form used by templates, logs and protocols that only carry strings.
std::string toText(const HeaderValue& value);

// Best-effort conversions used by predicates and typed options.
bool isTruthy(const HeaderValue& value) noexcept;

}  // namespace busway
