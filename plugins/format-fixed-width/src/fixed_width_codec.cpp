#include "fixed_width_codec.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>

#include <pugixml.hpp>

#include "busway_formats/text.hpp"

namespace busway::formats::fixed_width {

namespace {

bool isDigit(char c) { return c >= '0' && c <= '9'; }

// ---------------------------------------------------------------------------------------
// The layout

class LayoutReader {
 public:
  LayoutReader(std::string_view xml, std::string source) : xml_(xml), source_(std::move(source)) {}

  Layout read() {
    pugi::xml_document doc;
    const auto result = doc.load_buffer(xml_.data(), xml_.size());
    if (!result) {
      fail(static_cast<std::size_t>(std::max<std::ptrdiff_t>(result.offset, 0)),
           std::string("not well-formed XML: ") + result.description());
    }
    const pugi::xml_node root = doc.document_element();
    if (std::string_view(root.name()) != "layout") fail(root, "the root element must be <layout>");
    Layout layout;
    if (const pugi::xml_node code = root.child("type-code")) {
      layout.has_type_code = true;
      layout.code_offset = number(code, "offset", true, 0);
      layout.code_length = number(code, "length", true, 1);
    }
    for (const pugi::xml_node node : root.children("record"))
      layout.records.push_back(record(node, layout));
    if (layout.records.empty()) fail(root, "the layout has no <record>");
    if (!layout.has_type_code && layout.records.size() > 1)
      fail(root,
           "several <record> types need a <type-code offset=\"..\" length=\"..\"/> to tell them "
           "apart");
    for (std::size_t i = 0; i < layout.records.size(); ++i) {
      for (std::size_t j = 0; j < i; ++j) {
        if (layout.records[i].name == layout.records[j].name)
          fail(root, "two records are named '" + layout.records[i].name + "'");
        if (layout.has_type_code && layout.records[i].code == layout.records[j].code)
          fail(root, "records '" + layout.records[j].name + "' and '" + layout.records[i].name +
                         "' have the same code '" + layout.records[i].code + "'");
      }
    }
    return layout;
  }

 private:
  Record record(const pugi::xml_node& node, const Layout& layout) {
    Record r;
    r.name = node.attribute("name").as_string();
    if (r.name.empty()) fail(node, "a <record> needs a name");
    if (layout.has_type_code) {
      r.code = node.attribute("code").as_string();
      if (r.code.size() != layout.code_length)
        fail(node, "record '" + r.name + "' needs a code of " + std::to_string(layout.code_length) +
                       " character(s), as <type-code> says (code=\"" + r.code + "\")");
    }
    std::size_t end = layout.has_type_code ? layout.code_offset + layout.code_length : 0;
    for (const pugi::xml_node f : node.children("field")) {
      r.fields.push_back(field(f, r));
      end = std::max(end, r.fields.back().offset + r.fields.back().length);
    }
    if (r.fields.empty()) fail(node, "record '" + r.name + "' has no <field>");
    // Fields must not overlap each other (the type code may be a field too).
    for (std::size_t i = 0; i < r.fields.size(); ++i) {
      for (std::size_t j = 0; j < i; ++j) {
        const Field& a = r.fields[i];
        const Field& b = r.fields[j];
        if (a.offset < b.offset + b.length && b.offset < a.offset + a.length)
          fail(node,
               "in record '" + r.name + "', fields '" + b.name + "' and '" + a.name + "' overlap");
        if (a.name == b.name)
          fail(node, "record '" + r.name + "' has two fields named '" + a.name + "'");
      }
    }
    r.length = number(node, "length", false, end);
    if (r.length < end)
      fail(node, "record '" + r.name + "' has length " + std::to_string(r.length) +
                     " but its fields reach column " + std::to_string(end));
    return r;
  }

  Field field(const pugi::xml_node& node, const Record& record) {
    Field f;
    f.name = node.attribute("name").as_string();
    if (f.name.empty()) fail(node, "a <field> of record '" + record.name + "' needs a name");
    f.offset = number(node, "offset", true, 0);
    f.length = number(node, "length", true, 1);
    if (f.length == 0 || f.length > 4096)
      fail(node, "field '" + f.name + "': length must be 1 to 4096");
    const std::string type = node.attribute("type").as_string("string");
    if (type == "string") {
      f.type = Type::string;
    } else if (type == "int" || type == "integer") {
      f.type = Type::integer;
    } else if (type == "decimal") {
      f.type = Type::decimal;
    } else if (type == "date") {
      f.type = Type::date;
    } else {
      fail(node, "field '" + f.name + "': type '" + type + "' is not string, int, decimal or date");
    }
    const bool numeric = f.type == Type::integer || f.type == Type::decimal;
    const std::string pad = node.attribute("pad").as_string(numeric ? "0" : " ");
    if (pad.size() != 1) fail(node, "field '" + f.name + "': pad must be one character");
    f.pad = pad[0];
    const std::string align = node.attribute("align").as_string(numeric ? "right" : "left");
    if (align != "left" && align != "right")
      fail(node, "field '" + f.name + "': align is left or right");
    f.right = align == "right";
    if (f.type == Type::decimal) {
      f.implied_decimals = static_cast<int>(number(node, "implied-decimals", false, 0));
      if (f.implied_decimals > 18)
        fail(node, "field '" + f.name + "': at most 18 implied decimals");
    } else if (node.attribute("implied-decimals")) {
      fail(node, "field '" + f.name + "': implied-decimals needs type=\"decimal\"");
    }
    const std::string sign = node.attribute("sign").as_string("leading");
    if (sign == "leading") {
      f.sign = Sign::leading;
    } else if (sign == "trailing") {
      f.sign = Sign::trailing;
    } else if (sign == "overpunch") {
      f.sign = Sign::overpunch;
    } else {
      fail(node, "field '" + f.name + "': sign is leading, trailing or overpunch");
    }
    if (f.type == Type::date) {
      f.format = node.attribute("format").as_string("yyyyMMdd");
      std::string rest = f.format;
      for (const char* token : {"yyyy", "MM", "dd", "HH", "mm", "ss"}) {
        if (const auto at = rest.find(token); at != std::string::npos)
          rest.replace(at, std::string(token).size(), "");
      }
      if (std::any_of(rest.begin(), rest.end(),
                      [](char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; }))
        fail(node, "field '" + f.name + "': date format '" + f.format +
                       "' may use yyyy MM dd HH mm ss and separators");
      if (f.format.size() != f.length)
        fail(node, "field '" + f.name + "': date format '" + f.format + "' is " +
                       std::to_string(f.format.size()) + " characters, the field " +
                       std::to_string(f.length));
    }
    return f;
  }

  std::size_t number(const pugi::xml_node& node, const char* name, bool required,
                     std::size_t fallback) {
    const pugi::xml_attribute attribute = node.attribute(name);
    if (!attribute) {
      if (required) fail(node, "<" + std::string(node.name()) + "> needs " + name + "=\"...\"");
      return fallback;
    }
    const std::string text = attribute.value();
    if (text.empty() || text.size() > 6 || !std::all_of(text.begin(), text.end(), isDigit))
      fail(node, std::string(name) + "=\"" + text + "\" is not a whole number");
    return static_cast<std::size_t>(std::stoul(text));
  }

  [[noreturn]] void fail(const pugi::xml_node& node, const std::string& what) {
    fail(static_cast<std::size_t>(std::max<std::ptrdiff_t>(node.offset_debug() - 1, 0)), what);
  }
  [[noreturn]] void fail(std::size_t offset, const std::string& what) {
    const Position p = positionOf(xml_, offset);
    throw sdk::InvalidError("fixed-width layout " + source_ + ":" + std::to_string(p.line) + ":" +
                            std::to_string(p.column) + ": " + what);
  }

  std::string_view xml_;
  std::string source_;
};

// ---------------------------------------------------------------------------------------
// Values

struct Where {
  std::size_t line;  // 1-based line (unmarshal) or item (marshal)
  const Record* record;
  const Field* field;
  bool marshal = false;
  std::string text() const {
    std::string out =
        std::string("fixed-width ") + (marshal ? "item " : "line ") + std::to_string(line);
    if (record != nullptr) out += " (record '" + record->name + "')";
    if (field != nullptr) {
      out += ", field '" + field->name + "' (columns " + std::to_string(field->offset + 1) + "-" +
             std::to_string(field->offset + field->length) + ")";
    }
    return out;
  }
};

[[noreturn]] void fail(const Where& where, const std::string& what) {
  throw sdk::InvalidError(where.text() + ": " + what);
}

std::string shown(std::string_view raw) {
  std::string out = "'";
  for (const char c : raw) out.push_back(static_cast<unsigned char>(c) < 0x20 ? '?' : c);
  return out + "'";
}

// Overpunch (zoned decimal) last characters: {ABCDEFGHI = +0..+9, }JKLMNOPQR = -0..-9.
bool overpunch(char c, char& digit, bool& negative) {
  static constexpr std::string_view kPositive = "{ABCDEFGHI";
  static constexpr std::string_view kNegative = "}JKLMNOPQR";
  if (const auto at = kPositive.find(c); at != std::string_view::npos) {
    digit = static_cast<char>('0' + at);
    negative = false;
    return true;
  }
  if (const auto at = kNegative.find(c); at != std::string_view::npos) {
    digit = static_cast<char>('0' + at);
    negative = true;
    return true;
  }
  return false;
}

// The digits and sign of a numeric field; false when it is blank.
bool readNumber(std::string_view raw, const Field& f, const Where& where, std::string& digits,
                bool& negative) {
  std::string_view s = raw;
  const auto strip = [](std::string_view& v, char c) {
    while (!v.empty() && v.front() == c) v.remove_prefix(1);
    while (!v.empty() && v.back() == c) v.remove_suffix(1);
  };
  strip(s, ' ');
  if (f.pad != '0' && f.pad != ' ') strip(s, f.pad);
  negative = false;
  if (s.empty()) return false;
  digits.clear();
  if (f.sign == Sign::leading && (s.front() == '-' || s.front() == '+')) {
    negative = s.front() == '-';
    s.remove_prefix(1);
  } else if (f.sign == Sign::trailing && (s.back() == '-' || s.back() == '+')) {
    negative = s.back() == '-';
    s.remove_suffix(1);
  } else if (f.sign == Sign::overpunch && !isDigit(s.back())) {
    char digit = '0';
    if (!overpunch(s.back(), digit, negative))
      fail(where, shown(raw) + " does not end in a digit or an overpunched sign ({A-I}J-R)");
    s.remove_suffix(1);
    digits.push_back(digit);  // appended after the rest below
  }
  std::string body;
  for (const char c : s) {
    if (!isDigit(c)) fail(where, shown(raw) + " is not a number");
    body.push_back(c);
  }
  digits = body + digits;
  if (digits.empty()) fail(where, shown(raw) + " has a sign but no digits");
  return true;
}

bool dateValue(std::string_view raw, const Field& f, const Where& where, std::string& iso) {
  if (std::all_of(raw.begin(), raw.end(),
                  [&](char c) { return c == ' ' || c == '0' || c == f.pad; }))
    return false;  // blank or zeros: no date
  const auto part = [&](const char* token, int low, int high, int& out) -> bool {
    const auto at = f.format.find(token);
    if (at == std::string::npos) return false;
    const std::size_t n = std::string_view(token).size();
    int value = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const char c = raw[at + i];
      if (!isDigit(c))
        fail(where, shown(raw) + " does not match the date format '" + f.format + "'");
      value = value * 10 + (c - '0');
    }
    if (value < low || value > high)
      fail(where, shown(raw) + " is not a valid date/time for format '" + f.format + "'");
    out = value;
    return true;
  };
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  const bool has_date =
      part("yyyy", 0, 9999, year) && part("MM", 1, 12, month) && part("dd", 1, 31, day);
  const bool has_time = part("HH", 0, 23, hour) && part("mm", 0, 59, minute);
  part("ss", 0, 59, second);
  if (has_date) {
    static constexpr int kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (day > kDays[month - 1] || (month == 2 && day == 29 && !leap))
      fail(where, shown(raw) + " is not a day of the calendar");
  }
  char buffer[32];
  if (has_date && has_time) {
    std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d", year, month, day, hour,
                  minute, second);
  } else if (has_date) {
    std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02d", year, month, day);
  } else {
    std::snprintf(buffer, sizeof buffer, "%02d:%02d:%02d", hour, minute, second);
  }
  iso = buffer;
  return true;
}

Json readValue(std::string_view raw, const Field& f, const Where& where, const Options& options) {
  switch (f.type) {
    case Type::string: {
      std::string_view s = raw;
      if (f.right) {
        while (!s.empty() && s.front() == f.pad) s.remove_prefix(1);
      } else {
        while (!s.empty() && s.back() == f.pad) s.remove_suffix(1);
      }
      if (const auto bad = invalidUtf8At(s); bad != std::string_view::npos)
        fail(where, "the text is not valid UTF-8 (byte " + std::to_string(bad + 1) + ")");
      return Json(std::string(s));
    }
    case Type::integer: {
      std::string digits;
      bool negative = false;
      if (!readNumber(raw, f, where, digits, negative)) return Json();
      const auto first = digits.find_first_not_of('0');
      const std::string_view significant =
          first == std::string::npos ? "0" : std::string_view(digits).substr(first);
      if (significant.size() > 18) fail(where, shown(raw) + " is too large for an integer");
      const auto value = static_cast<std::int64_t>(std::stoll(std::string(significant)));
      return Json(negative ? -value : value);
    }
    case Type::decimal: {
      std::string digits;
      bool negative = false;
      if (!readNumber(raw, f, where, digits, negative)) return Json();
      const auto scale = static_cast<std::size_t>(f.implied_decimals);
      if (digits.size() <= scale) digits.insert(0, scale + 1 - digits.size(), '0');
      std::string text = digits.substr(0, digits.size() - scale);
      const auto first = text.find_first_not_of('0');
      text = first == std::string::npos ? "0" : text.substr(first);
      if (scale > 0) text += "." + digits.substr(digits.size() - scale);
      if (negative && text.find_first_not_of("0.") != std::string::npos) text.insert(0, "-");
      if (options.decimals_as_strings) return Json(text);
      return Json(std::stod(text));
    }
    case Type::date: {
      std::string iso;
      if (!dateValue(raw, f, where, iso)) return Json();
      return Json(iso);
    }
  }
  return Json();
}

// ---- marshal

// A JSON number or numeric string as sign + digits scaled by 10^scale.
void scaledDigits(const Json& value, int scale, const Where& where, std::string& digits,
                  bool& negative) {
  std::string text;
  if (value.is_number_integer() || value.is_number_unsigned()) {
    text = value.dump();
  } else if (value.is_number_float()) {
    const double exact = value.get<double>() * std::pow(10.0, scale);
    const double scaled = std::round(exact);
    if (std::fabs(scaled) > 9.0e17) fail(where, value.dump() + " is too large");
    if (std::fabs(exact - scaled) > 1e-3)  // more than binary rounding noise of the last digit
      fail(where, value.dump() + " has more decimals than the field's " + std::to_string(scale));
    text = std::to_string(static_cast<std::int64_t>(scaled));
    scale = 0;
  } else if (value.is_string()) {
    text = value.get<std::string>();
  } else {
    fail(where, std::string("a JSON ") + typeName(value) + " is not a number");
  }
  std::string_view s = text;
  negative = false;
  if (!s.empty() && (s.front() == '-' || s.front() == '+')) {
    negative = s.front() == '-';
    s.remove_prefix(1);
  }
  const auto point = s.find('.');
  std::string whole(s.substr(0, point));
  std::string fraction(point == std::string_view::npos ? std::string_view{} : s.substr(point + 1));
  const auto digitsOnly = [](const std::string& v) {
    return std::all_of(v.begin(), v.end(), isDigit);
  };
  if ((whole.empty() && fraction.empty()) || !digitsOnly(whole) || !digitsOnly(fraction))
    fail(where, shown(text) + " is not a number");
  const auto places = static_cast<std::size_t>(scale);
  if (fraction.size() > places) {
    if (fraction.find_first_not_of('0', places) != std::string::npos)
      fail(where, text + " has more decimals than the field's " + std::to_string(scale));
    fraction.resize(places);
  }
  fraction.append(places - fraction.size(), '0');
  digits = whole + fraction;
  const auto first = digits.find_first_not_of('0');
  digits = first == std::string::npos ? "0" : digits.substr(first);
  if (digits == "0") negative = false;
}

std::string writeNumber(const Json& value, const Field& f, const Where& where) {
  if (value.is_null()) return std::string(f.length, f.pad);
  std::string digits;
  bool negative = false;
  scaledDigits(value, f.type == Type::decimal ? f.implied_decimals : 0, where, digits, negative);
  if (f.type == Type::integer && value.is_number_float() &&
      value.get<double>() != std::floor(value.get<double>()))
    fail(where, value.dump() + " is not a whole number");
  std::string body = digits;
  std::string sign;
  if (f.sign == Sign::overpunch) {
    const char last = body.back();
    body.back() = (negative ? std::string_view("}JKLMNOPQR")
                            : std::string_view("{ABCDEFGHI"))[static_cast<std::size_t>(last - '0')];
  } else if (f.sign == Sign::trailing) {
    sign = negative ? "-" : "+";
  } else if (negative) {
    sign = "-";
  }
  const std::size_t width = body.size() + sign.size();
  if (width > f.length)
    fail(where, value.dump() + " needs " + std::to_string(width) + " characters; the field has " +
                    std::to_string(f.length));
  const std::string fill(f.length - width, f.pad);
  if (f.sign == Sign::trailing) return f.right ? fill + body + sign : body + sign + fill;
  if (!f.right) return sign + body + fill;
  return f.pad == '0' ? sign + fill + body : fill + sign + body;
}

std::string writeDate(const Json& value, const Field& f, const Where& where) {
  if (value.is_null() || (value.is_string() && value.get_ref<const std::string&>().empty()))
    return std::string(f.length, f.pad);
  if (!value.is_string())
    fail(where, std::string("a date is an ISO 8601 string, not a JSON ") + typeName(value));
  const std::string& iso = value.get_ref<const std::string&>();
  // yyyy-MM-dd, yyyy-MM-ddTHH:mm:ss or HH:mm:ss
  std::string year, month, day, hour = "00", minute = "00", second = "00";
  const auto digitsAt = [&](std::size_t at, std::size_t n) {
    if (at + n > iso.size() ||
        !std::all_of(iso.begin() + static_cast<std::ptrdiff_t>(at),
                     iso.begin() + static_cast<std::ptrdiff_t>(at + n), isDigit))
      fail(where,
           "'" + iso + "' is not an ISO 8601 date (yyyy-MM-dd[THH:mm:ss]) or time (HH:mm:ss)");
    return iso.substr(at, n);
  };
  if (iso.size() >= 10 && iso[4] == '-' && iso[7] == '-') {
    year = digitsAt(0, 4);
    month = digitsAt(5, 2);
    day = digitsAt(8, 2);
    if (iso.size() >= 19 && (iso[10] == 'T' || iso[10] == ' ')) {
      hour = digitsAt(11, 2);
      minute = digitsAt(14, 2);
      second = digitsAt(17, 2);
    }
  } else if (iso.size() == 8 && iso[2] == ':' && iso[5] == ':') {
    hour = digitsAt(0, 2);
    minute = digitsAt(3, 2);
    second = digitsAt(6, 2);
  } else {
    digitsAt(0, iso.size() + 1);  // fails with the message
  }
  std::string out = f.format;
  const auto put = [&](const char* token, const std::string& v) {
    if (const auto at = out.find(token); at != std::string::npos) {
      if (v.empty()) fail(where, "'" + iso + "' has no date for the format '" + f.format + "'");
      out.replace(at, v.size(), v);
    }
  };
  put("yyyy", year);
  put("MM", month);
  put("dd", day);
  put("HH", hour);
  put("mm", minute);
  put("ss", second);
  // Check it reads back (a day 31 in April, month 13...).
  std::string check;
  dateValue(out, f, where, check);
  return out;
}

std::string writeString(const Json& value, const Field& f, const Where& where) {
  std::string text;
  if (!scalarText(value, text))
    fail(where, std::string("a JSON ") + typeName(value) + " does not fit a text field");
  if (text.size() > f.length)
    fail(where, shown(text) + " is " + std::to_string(text.size()) + " bytes; the field holds " +
                    std::to_string(f.length));
  if (text.find_first_of("\r\n") != std::string::npos) fail(where, "the text holds a line break");
  const std::string fill(f.length - text.size(), f.pad);
  return f.right ? fill + text : text + fill;
}

}  // namespace

Layout parseLayout(std::string_view xml, const std::string& source) {
  return LayoutReader(xml, source).read();
}

Options fromOptions(const sdk::Options& options) {
  Options o;
  const std::string layout = options.text("layout", "");
  if (sdk::detail::trim(layout).empty())
    throw sdk::InvalidError(
        "the fixed-width format needs the 'layout' option: a layout file path, or the layout XML "
        "itself");
  if (sdk::detail::trim(layout).front() == '<') {
    o.layout = parseLayout(layout, "(inline)");
  } else {
    std::ifstream in(layout, std::ios::binary);
    if (!in)
      throw sdk::InvalidError("cannot read the fixed-width layout file '" + layout +
                              "' (option 'layout')");
    std::ostringstream text;
    text << in.rdbuf();
    o.layout = parseLayout(text.str(), layout);
  }
  const std::string ending = options.text("line-ending", "lf");
  if (ending != "lf" && ending != "crlf")
    throw sdk::InvalidError("fixed-width option 'line-ending' is '" + ending + "'; use lf or crlf");
  o.line_ending = ending == "crlf" ? "\r\n" : "\n";
  o.record_key = options.text("record-key", "_record");
  const std::string decimals = options.text("decimals", "number");
  if (decimals != "number" && decimals != "string")
    throw sdk::InvalidError("fixed-width option 'decimals' is '" + decimals +
                            "'; use number or string");
  o.decimals_as_strings = decimals == "string";
  return o;
}

std::string unmarshal(std::string_view text, const Options& options) {
  const Layout& layout = options.layout;
  Json out = Json::array();
  std::size_t line_number = 0;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    const std::size_t next = end == std::string_view::npos ? text.size() : end + 1;
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    start = next;
    ++line_number;
    if (line.empty()) continue;
    Where where{line_number, nullptr, nullptr};
    const Record* record = &layout.records.front();
    if (layout.has_type_code) {
      const std::string_view code = line.size() >= layout.code_offset + layout.code_length
                                        ? line.substr(layout.code_offset, layout.code_length)
                                        : "";
      record = nullptr;
      for (const Record& r : layout.records) {
        if (r.code == code) record = &r;
      }
      if (record == nullptr) {
        std::string known;
        for (const Record& r : layout.records)
          known += (known.empty() ? "" : ", ") + r.code + " (" + r.name + ")";
        fail(where, "the record type code " + shown(code) + " at columns " +
                        std::to_string(layout.code_offset + 1) + "-" +
                        std::to_string(layout.code_offset + layout.code_length) + " is none of " +
                        known);
      }
    }
    where.record = record;
    if (line.size() != record->length) {
      fail(where, "the line is " + std::to_string(line.size()) + " characters; the record is " +
                      std::to_string(record->length));
    }
    Json object = Json::object();
    if (layout.records.size() > 1) object[options.record_key] = record->name;
    for (const Field& f : record->fields) {
      where.field = &f;
      object[f.name] = readValue(line.substr(f.offset, f.length), f, where, options);
    }
    out.push_back(std::move(object));
  }
  return dumpJson(out);
}

std::string marshal(std::string_view json, const Options& options) {
  const Layout& layout = options.layout;
  const Json doc = parseJson(json, "the fixed-width format's input");
  if (!doc.is_array())
    throw sdk::InvalidError(
        std::string("fixed-width marshal needs a JSON array of objects, not a ") + typeName(doc));
  std::string out;
  for (std::size_t i = 0; i < doc.size(); ++i) {
    const Json& item = doc[i];
    Where where{i + 1, nullptr, nullptr, true};
    if (!item.is_object())
      fail(where, std::string("is a JSON ") + typeName(item) + ", not an object");
    const Record* record = &layout.records.front();
    if (layout.records.size() > 1) {
      const auto key = item.find(options.record_key);
      if (key == item.end() || !key->is_string())
        fail(where, "has no string '" + options.record_key + "' naming its record type");
      record = nullptr;
      for (const Record& r : layout.records) {
        if (r.name == key->get_ref<const std::string&>()) record = &r;
      }
      if (record == nullptr)
        fail(where, "'" + options.record_key + "' is '" + key->get<std::string>() +
                        "', which the layout does not define");
    }
    where.record = record;
    for (const auto& [key, value] : item.items()) {
      if (layout.records.size() > 1 && key == options.record_key) continue;
      if (std::none_of(record->fields.begin(), record->fields.end(),
                       [&](const Field& f) { return f.name == key; }))
        fail(where, "'" + key + "' is not a field of the record");
    }
    std::string line(record->length, ' ');
    if (layout.has_type_code) line.replace(layout.code_offset, layout.code_length, record->code);
    for (const Field& f : record->fields) {
      where.field = &f;
      const auto found = item.find(f.name);
      const Json value = found == item.end() ? Json() : *found;
      std::string cell;
      switch (f.type) {
        case Type::string: cell = writeString(value, f, where); break;
        case Type::integer:
        case Type::decimal: cell = writeNumber(value, f, where); break;
        case Type::date: cell = writeDate(value, f, where); break;
      }
      line.replace(f.offset, f.length, cell);
    }
    out += line;
    out += options.line_ending;
  }
  return out;
}

}  // namespace busway::formats::fixed_width
