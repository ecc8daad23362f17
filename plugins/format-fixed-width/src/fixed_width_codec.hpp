#pragma once

// Fixed-width records (mainframe and bank exports) <-> JSON, described by a layout in XML:
//
//   <layout>
//     <type-code offset="0" length="1"/>            which record a line is (optional)
//     <record name="header" code="H">
//       <field name="batch" offset="1" length="6" type="int"/>
//       <field name="created" offset="7" length="8" type="date" format="yyyyMMdd"/>
//     </record>
//     <record name="detail" code="D">
//       <field name="amount" offset="11" length="9" type="decimal" implied-decimals="2"/>
//     </record>
//   </layout>
//
// Offsets are 0-based byte positions. unmarshal gives a JSON array with one object per line;
// with more than one record type each object names its record under `record_key`
// ("_record"). Errors name the line, the record and the field (with its columns).

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "busway/sdk/options.hpp"

namespace busway::formats::fixed_width {

enum class Type { string, integer, decimal, date };
enum class Sign { leading, trailing, overpunch };

struct Field {
  std::string name;
  std::size_t offset = 0;
  std::size_t length = 0;
  Type type = Type::string;
  char pad = ' ';
  bool right = false;  // right-aligned (numbers by default)
  int implied_decimals = 0;
  Sign sign = Sign::leading;
  std::string format = "yyyyMMdd";  // dates
};

struct Record {
  std::string name;
  std::string code;
  std::size_t length = 0;  // the line length of this record
  std::vector<Field> fields;
};

struct Layout {
  bool has_type_code = false;
  std::size_t code_offset = 0;
  std::size_t code_length = 0;
  std::vector<Record> records;
};

// Parses a layout document; `source` names it in errors (a file name).
Layout parseLayout(std::string_view xml, const std::string& source);

struct Options {
  Layout layout;
  std::string line_ending = "\n";
  std::string record_key = "_record";
  bool decimals_as_strings = false;  // "12.34" instead of 12.34 (exact for any size)
};

// `layout` is a file path, or the layout itself when it starts with '<'.
Options fromOptions(const sdk::Options& options);

std::string unmarshal(std::string_view text, const Options& options);
std::string marshal(std::string_view json, const Options& options);

}  // namespace busway::formats::fixed_width
