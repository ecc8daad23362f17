#pragma once

// Options of an endpoint URI, a format, a transformer or the plugin itself. The host has
// already checked them against the manifest's option schema (unknown names, types,
// required) and filled in defaults, so a getter failing means the manifest and the code
// disagree; it throws InvalidError naming the option.
// An Options object owns copies of the text: keep it as long as you like.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "busway/plugin.h"
#include "busway/sdk/error.hpp"

namespace busway::sdk {

namespace detail {

inline std::string_view trim(std::string_view text) noexcept {
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!text.empty() && space(text.front())) text.remove_prefix(1);
  while (!text.empty() && space(text.back())) text.remove_suffix(1);
  return text;
}

// "250ms" -> {250, "ms"}. Digits only: durations and sizes are never negative.
inline bool splitNumber(std::string_view text, std::uint64_t& number,
                        std::string_view& unit) noexcept {
  text = trim(text);
  std::size_t i = 0;
  number = 0;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
    const auto digit = static_cast<std::uint64_t>(text[i] - '0');
    if (number > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) return false;
    number = number * 10 + digit;
  }
  if (i == 0) return false;
  unit = trim(text.substr(i));
  return true;
}

inline bool multiply(std::uint64_t n, std::uint64_t factor, std::uint64_t& out) noexcept {
  if (factor != 0 && n > std::numeric_limits<std::uint64_t>::max() / factor) return false;
  out = n * factor;
  return true;
}

// The grammars are the bus's own (core/src/util/text.cpp), so what the host accepted at
// load time parses here too.
inline std::optional<std::int64_t> parseInteger(std::string_view text) noexcept {
  text = trim(text);
  bool negative = false;
  if (!text.empty() && (text.front() == '-' || text.front() == '+')) {
    negative = text.front() == '-';
    text.remove_prefix(1);
  }
  std::uint64_t n = 0;
  std::string_view rest;
  if (!splitNumber(text, n, rest) || !rest.empty() || text.front() == ' ') return std::nullopt;
  constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  if (n > kMax + (negative ? 1U : 0U)) return std::nullopt;
  if (negative)
    return n == kMax + 1 ? std::numeric_limits<std::int64_t>::min() : -static_cast<std::int64_t>(n);
  return static_cast<std::int64_t>(n);
}

inline std::optional<bool> parseBoolean(std::string_view text) noexcept {
  text = trim(text);
  if (text == "true") return true;
  if (text == "false") return false;
  return std::nullopt;
}

// "250ms", "5s", "2m", "1h" or a bare number of milliseconds.
inline std::optional<std::chrono::milliseconds> parseDuration(std::string_view text) noexcept {
  std::uint64_t n = 0;
  std::string_view unit;
  if (!splitNumber(text, n, unit)) return std::nullopt;
  std::uint64_t factor = 0;
  if (unit.empty() || unit == "ms")
    factor = 1;
  else if (unit == "s")
    factor = 1000;
  else if (unit == "m")
    factor = 60'000;
  else if (unit == "h")
    factor = 3'600'000;
  else
    return std::nullopt;
  std::uint64_t ms = 0;
  if (!multiply(n, factor, ms) ||
      ms > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    return std::nullopt;
  }
  return std::chrono::milliseconds(static_cast<std::int64_t>(ms));
}

// "512", "512B", "64KB"/"64K", "10MB"/"10M", "1GB"/"1G" (powers of 1024; case-insensitive).
inline std::optional<std::uint64_t> parseSize(std::string_view text) noexcept {
  std::uint64_t n = 0;
  std::string_view unit;
  if (!splitNumber(text, n, unit)) return std::nullopt;
  std::string upper;
  for (const char c : unit)
    upper.push_back(c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c);
  int shift = -1;
  if (upper.empty() || upper == "B")
    shift = 0;
  else if (upper == "KB" || upper == "K")
    shift = 10;
  else if (upper == "MB" || upper == "M")
    shift = 20;
  else if (upper == "GB" || upper == "G")
    shift = 30;
  std::uint64_t bytes = 0;
  if (shift < 0 || !multiply(n, std::uint64_t{1} << static_cast<unsigned>(shift), bytes))
    return std::nullopt;
  return bytes;
}

}  // namespace detail

class Options {
 public:
  Options() = default;
  // Reads the host's array. Elements are stepped by the struct_size the host wrote, so a
  // newer host with a longer bw_option still reads right.
  Options(const bw_option* options, std::size_t count, std::string_view uri = {},
          std::string_view path = {})
      : uri_(uri), path_(path) {
    if (options == nullptr || count == 0) return;
    const std::size_t stride =
        options->struct_size >= sizeof(bw_option) ? options->struct_size : sizeof(bw_option);
    constexpr std::size_t kNeeded = offsetof(bw_option, value) + sizeof(bw_str);
    const auto* base = reinterpret_cast<const unsigned char*>(options);
    values_.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
      const auto* option = reinterpret_cast<const bw_option*>(base + i * stride);
      if (option->struct_size < kNeeded) continue;
      values_.emplace_back(std::string(detail::view(option->name)),
                           std::string(detail::view(option->value)));
    }
  }
  // For tests and for plugins that build options themselves.
  Options(std::vector<std::pair<std::string, std::string>> values, std::string_view uri = {},
          std::string_view path = {})
      : uri_(uri), path_(path), values_(std::move(values)) {}

  // The endpoint URI as written in the routing table, and its path ("orders" in
  // "acme-erp:orders?host=erp"). Empty for formats, transformers and plugin configuration.
  const std::string& uri() const noexcept { return uri_; }
  const std::string& path() const noexcept { return path_; }

  bool has(std::string_view name) const noexcept { return find(name) != nullptr; }
  std::optional<std::string_view> get(std::string_view name) const noexcept {
    const std::string* value = find(name);
    if (value == nullptr) return std::nullopt;
    return std::string_view(*value);
  }
  const std::vector<std::pair<std::string, std::string>>& all() const noexcept { return values_; }

  // Typed getters. Without a fallback, a missing option throws InvalidError; a value that
  // does not parse always throws InvalidError naming the option and the expected form.
  std::string text(std::string_view name) const { return std::string(required(name)); }
  std::string text(std::string_view name, std::string_view fallback) const {
    return std::string(get(name).value_or(fallback));
  }

  std::int64_t integer(std::string_view name) const {
    return parsed(name, required(name), detail::parseInteger, "an integer");
  }
  std::int64_t integer(std::string_view name, std::int64_t fallback) const {
    const auto value = get(name);
    return value ? parsed(name, *value, detail::parseInteger, "an integer") : fallback;
  }

  bool boolean(std::string_view name) const {
    return parsed(name, required(name), detail::parseBoolean, "true or false");
  }
  bool boolean(std::string_view name, bool fallback) const {
    const auto value = get(name);
    return value ? parsed(name, *value, detail::parseBoolean, "true or false") : fallback;
  }

  // Durations: "250ms", "5s", "2m", "1h" or a bare number of milliseconds.
  std::chrono::milliseconds duration(std::string_view name) const {
    return parsed(name, required(name), detail::parseDuration,
                  "a duration such as 250ms, 5s, 2m or 1h");
  }
  std::chrono::milliseconds duration(std::string_view name,
                                     std::chrono::milliseconds fallback) const {
    const auto value = get(name);
    return value ? parsed(name, *value, detail::parseDuration,
                          "a duration such as 250ms, 5s, 2m or 1h")
                 : fallback;
  }

  // Sizes in bytes: "512", "64KB", "10MB", "1GB" (powers of 1024).
  std::uint64_t bytes(std::string_view name) const {
    return parsed(name, required(name), detail::parseSize, "a size such as 512, 64KB, 10MB or 1GB");
  }
  std::uint64_t bytes(std::string_view name, std::uint64_t fallback) const {
    const auto value = get(name);
    return value ? parsed(name, *value, detail::parseSize, "a size such as 512, 64KB, 10MB or 1GB")
                 : fallback;
  }

 private:
  const std::string* find(std::string_view name) const noexcept {
    for (const auto& [key, value] : values_) {
      if (key == name) return &value;
    }
    return nullptr;
  }
  std::string_view required(std::string_view name) const {
    const auto value = get(name);
    if (!value) {
      throw InvalidError("option '" + std::string(name) + "' is missing" +
                         (uri_.empty() ? std::string() : " in '" + uri_ + "'") +
                         "; declare it in plugin.json with \"required\": true or a \"default\"");
    }
    return *value;
  }
  template <class Parse>
  auto parsed(std::string_view name, std::string_view value, Parse parse,
              const char* expected) const ->
      typename std::invoke_result_t<Parse, std::string_view>::value_type {
    const auto result = parse(value);
    if (!result) {
      throw InvalidError("option '" + std::string(name) + "' is '" + std::string(value) +
                         "', expected " + expected +
                         (uri_.empty() ? std::string() : " (in '" + uri_ + "')"));
    }
    return *result;
  }

  std::string uri_;
  std::string path_;
  std::vector<std::pair<std::string, std::string>> values_;
};

}  // namespace busway::sdk
