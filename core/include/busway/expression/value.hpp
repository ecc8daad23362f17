#pragma once

#include <cstdint>
#include <string>
#include <variant>

#include <nlohmann/json.hpp>

#include "busway/message/header_value.hpp"

namespace busway {

// What an expression yields. Scalars stay scalars so that header and JSON-path predicates
// compare without allocating; `json` carries objects and arrays selected from a body.
using Value = std::variant<std::monostate, bool, std::int64_t, double, std::string, nlohmann::json>;

Value fromHeader(const HeaderValue& header);
HeaderValue toHeader(const Value& value);
std::string toText(const Value& value);  // null -> "", json -> compact JSON text
bool isTruthy(const Value& value) noexcept;
bool isNull(const Value& value) noexcept;

// Loose equality and ordering for predicates: numbers compare as numbers ("10" == 10),
// strings as strings. Returns nullopt-like false when the two cannot be ordered.
bool valuesEqual(const Value& a, const Value& b);
// -1, 0, 1, or 2 when not comparable.
int compareValues(const Value& a, const Value& b);

}  // namespace busway
