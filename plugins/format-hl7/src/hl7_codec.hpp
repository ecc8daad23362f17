#pragma once

// HL7 v2 (ER7, the "pipe" encoding) <-> JSON.
//
// The JSON keeps the message's order and structure, so marshal(unmarshal(m)) == m byte for
// byte (for a message whose segments end with the configured separator):
//
//   {"segments": [
//     ["MSH", "|", "^~\\&", "LAB", ...],        segment = [name, field 1, field 2, ...]
//     ["PID", "1", "", {"repetitions": [...]}, ...]
//   ]}
//
//   field      := value | {"repetitions": [value, value, ...]}   (only when ~ occurs)
//   value      := "text"                 (one component without subcomponents)
//               | [component, ...]       (otherwise; [[..]] is one component with subcomponents)
//   component  := "text" | ["sub", "sub", ...]
//
// Index n of a segment array is HL7 field n (MSH: 1 is the field separator, 2 the encoding
// characters, both taken verbatim). Text is unescaped: \F\ \S\ \T\ \R\ \E\ (and \P\ with a
// truncation character) become the characters they stand for, \Xhh..\ of control characters
// becomes those bytes; formatting escapes (\H\ \N\ \.br\ \Zxx\ \Cxxxx\ \Mxxxxxx\ and other
// \X..\) are kept as written. marshal escapes in the same way.

#include <cstddef>
#include <string>
#include <string_view>

#include "busway/sdk/options.hpp"

namespace busway::formats::hl7 {

struct Options {
  bool decode_escapes = true;    // false: text is kept exactly as written (escapes and all)
  std::string separator = "\r";  // what marshal ends each segment with
};

Options fromOptions(const sdk::Options& options);

// What unmarshal found in MSH, for headers: raw field text (components as written).
struct MessageInfo {
  std::string message_type;  // MSH-9, e.g. ADT^A01^ADT_A01
  std::string control_id;    // MSH-10
  std::string version;       // MSH-12
  std::size_t segments = 0;
};

// HL7 v2 text -> JSON text. Segments may end with CR, LF or CR LF.
std::string unmarshal(std::string_view message, const Options& options,
                      MessageInfo* info = nullptr);
// JSON text -> HL7 v2 text.
std::string marshal(std::string_view json, const Options& options);

}  // namespace busway::formats::hl7
