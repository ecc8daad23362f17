#pragma once

// Small text helpers shared by the format plugins: positions (line/column) in a text,
// UTF-8 validation, JSON string escaping and JSON parsing that reports where it failed.
// Header-only; every error is a busway::sdk::InvalidError whose message names the place.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "busway/sdk/error.hpp"

namespace busway::formats {

using Json = nlohmann::ordered_json;

struct Position {
  std::size_t line = 1;    // 1-based
  std::size_t column = 1;  // 1-based, in bytes
};

// The line and column of byte `offset` in `text` (a CR LF pair, a lone LF or a lone CR ends
// a line).
inline Position positionOf(std::string_view text, std::size_t offset) noexcept {
  Position p;
  if (offset > text.size()) offset = text.size();
  for (std::size_t i = 0; i < offset; ++i) {
    const char c = text[i];
    if (c == '\n' || (c == '\r' && (i + 1 >= text.size() || text[i + 1] != '\n'))) {
      ++p.line;
      p.column = 1;
    } else if (c != '\r') {
      ++p.column;
    }
  }
  return p;
}

inline std::string describe(Position p) {
  return "line " + std::to_string(p.line) + ", column " + std::to_string(p.column);
}

// Length of the valid UTF-8 sequence at text[i], or 0 when it is not valid (overlongs,
// surrogates and code points above U+10FFFF are invalid).
inline std::size_t utf8SequenceLength(std::string_view text, std::size_t i) noexcept {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char c = byte(i);
  if (c < 0x80) return 1;
  std::size_t n = 0;
  std::uint32_t cp = 0;
  if ((c & 0xE0U) == 0xC0U) {
    n = 2;
    cp = c & 0x1FU;
  } else if ((c & 0xF0U) == 0xE0U) {
    n = 3;
    cp = c & 0x0FU;
  } else if ((c & 0xF8U) == 0xF0U) {
    n = 4;
    cp = c & 0x07U;
  } else {
    return 0;
  }
  if (i + n > text.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xC0U) != 0x80U) return 0;
    cp = (cp << 6U) | (byte(i + k) & 0x3FU);
  }
  if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000)) return 0;
  if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

// Offset of the first byte that is not valid UTF-8, or npos.
inline std::size_t invalidUtf8At(std::string_view text) noexcept {
  for (std::size_t i = 0; i < text.size();) {
    if (static_cast<unsigned char>(text[i]) < 0x80) {
      ++i;
      continue;
    }
    const std::size_t n = utf8SequenceLength(text, i);
    if (n == 0) return i;
    i += n;
  }
  return std::string_view::npos;
}

// Appends `text` as a JSON string (with quotes). Returns false (and appends nothing
// useful) when `text` is not valid UTF-8; the caller reports where.
inline bool appendJsonString(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80) {
      const std::size_t n = utf8SequenceLength(text, i);
      if (n == 0) return false;
      out.append(text.data() + i, n);
      i += n;
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out.push_back(kHex[c >> 4U]);
          out.push_back(kHex[c & 0x0FU]);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
    ++i;
  }
  out.push_back('"');
  return true;
}

// Parses a JSON body; a syntax error names its line and column. `what` says what was being
// read ("the CSV format's input").
inline Json parseJson(std::string_view text, std::string_view what) {
  try {
    return Json::parse(text.begin(), text.end());
  } catch (const Json::parse_error& e) {
    std::string reason = e.what();
    // "[json.exception.parse_error.101] parse error at line 1, column 2: syntax error ..."
    if (const auto colon = reason.find(": "); colon != std::string::npos)
      reason = reason.substr(colon + 2);
    const std::size_t offset = e.byte > 0 ? e.byte - 1 : 0;
    throw sdk::InvalidError(std::string(what) + " is not valid JSON at " +
                            describe(positionOf(text, offset)) + ": " + reason);
  } catch (const Json::exception& e) {
    // e.g. out_of_range 406: a number too large for a double ("1e999")
    std::string reason = e.what();
    if (const auto bracket = reason.find("] "); bracket != std::string::npos)
      reason = reason.substr(bracket + 2);
    throw sdk::InvalidError(std::string(what) + " is not valid JSON: " + reason);
  }
}

// Serialises a JSON value; text that is not UTF-8 becomes an InvalidError.
inline std::string dumpJson(const Json& value, int indent = -1) {
  try {
    return value.dump(indent);
  } catch (const Json::exception& e) {
    throw sdk::InvalidError(std::string("cannot write JSON: ") + e.what());
  }
}

// A JSON scalar as text: strings as they are, numbers as JSON writes them, booleans as
// true/false, null as the empty string. Objects and arrays give nullopt.
inline bool scalarText(const Json& value, std::string& out) {
  switch (value.type()) {
    case Json::value_t::string: out = value.get_ref<const std::string&>(); return true;
    case Json::value_t::null: out.clear(); return true;
    case Json::value_t::boolean: out = value.get<bool>() ? "true" : "false"; return true;
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float: out = value.dump(); return true;
    default: return false;
  }
}

inline const char* typeName(const Json& value) { return value.type_name(); }

}  // namespace busway::formats
