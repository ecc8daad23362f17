#include "hl7_codec.hpp"

#include <array>
#include <string>
#include <vector>

#include "busway_formats/text.hpp"

namespace busway::formats::hl7 {

namespace {

// The message's delimiters (MSH-1 and MSH-2). A missing optional one is '\0' (never matches).
struct Delimiters {
  char field = '|';
  char component = '^';
  char repetition = '~';
  char escape = '\\';
  char subcomponent = '&';
  char truncation = '\0';  // HL7 2.7+: a fifth encoding character
};

bool isAlnum(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}
bool isHex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
}
int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return c - 'a' + 10;
}
bool isControl(unsigned char c) { return c < 0x20 || c == 0x7F; }

bool validSegmentName(std::string_view name) {
  if (name.size() != 3 || !(name[0] >= 'A' && name[0] <= 'Z')) return false;
  for (const char c : name) {
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) return false;
  }
  return true;
}
bool carriesEncoding(std::string_view name) {
  return name == "MSH" || name == "FHS" || name == "BHS";
}

std::string shown(std::string_view text) {
  std::string out = "'";
  for (const char c : text.substr(0, 40)) {
    if (isControl(static_cast<unsigned char>(c))) {
      static constexpr char kHex[] = "0123456789ABCDEF";
      out += "\\x";
      out.push_back(kHex[static_cast<unsigned char>(c) >> 4U]);
      out.push_back(kHex[static_cast<unsigned char>(c) & 0xFU]);
    } else {
      out.push_back(c);
    }
  }
  if (text.size() > 40) out += "...";
  return out + "'";
}

// Where something is: "segment 3 (PID), field 5".
struct Place {
  std::size_t segment = 0;
  std::string_view name;
  std::size_t field = 0;
  std::string text() const {
    std::string out = "HL7 segment " + std::to_string(segment);
    if (!name.empty()) out += " (" + std::string(name) + ")";
    if (field > 0) out += ", field " + std::to_string(field);
    return out;
  }
};

[[noreturn]] void fail(const Place& place, const std::string& what) {
  throw sdk::InvalidError(place.text() + ": " + what);
}

Delimiters readEncoding(std::string_view segment, const Place& place) {
  // "MSH|^~\&|..." : MSH-1 is the byte after the name, MSH-2 runs to the next MSH-1.
  if (segment.size() < 5)
    fail(place, "too short to hold the field separator and encoding characters (MSH-1, MSH-2)");
  Delimiters d;
  d.field = segment[3];
  const std::size_t end = segment.find(d.field, 4);
  const std::string_view encoding =
      segment.substr(4, end == std::string_view::npos ? std::string_view::npos : end - 4);
  if (isAlnum(d.field) || isControl(static_cast<unsigned char>(d.field)) || d.field == ' ' ||
      static_cast<unsigned char>(d.field) >= 0x80)
    fail(place, "the field separator (MSH-1) is " + shown(std::string_view(&segment[3], 1)) +
                    "; it must be a symbol such as '|'");
  if (encoding.size() < 2 || encoding.size() > 5)
    fail(place, "the encoding characters (MSH-2) are " + shown(encoding) +
                    "; expected 4 (or 5) such as '^~\\&'");
  std::array<char*, 5> slots{&d.component, &d.repetition, &d.escape, &d.subcomponent,
                             &d.truncation};
  for (auto* slot : slots) *slot = '\0';
  for (std::size_t i = 0; i < encoding.size(); ++i) {
    const char c = encoding[i];
    if (isAlnum(c) || c == d.field || c == ' ' || isControl(static_cast<unsigned char>(c)) ||
        static_cast<unsigned char>(c) >= 0x80 || encoding.find(c) != i) {
      fail(place, "the encoding characters (MSH-2) " + shown(encoding) +
                      " must be distinct symbols, different from the field separator");
    }
    *slots[i] = c;
  }
  return d;
}

// ---------------------------------------------------------------------------------------
// Escapes

// Length of a formatting escape kept as written (\H\, \N\, \.br\, \Zxx\, \Cxxxx\, \Mxxxxxx\,
// \Xhh..\) starting at text[i] (the escape character), or 0.
std::size_t verbatimEscapeLength(std::string_view text, std::size_t i, const Delimiters& d) {
  const std::size_t close = text.find(d.escape, i + 1);
  if (close == std::string_view::npos || close == i + 1) return 0;
  const std::string_view body = text.substr(i + 1, close - i - 1);
  for (const char c : body) {
    if (c == d.field || c == d.component || c == d.repetition || c == d.subcomponent ||
        isControl(static_cast<unsigned char>(c)))
      return 0;
  }
  const auto allHex = [](std::string_view s) {
    if (s.empty()) return false;
    for (const char c : s)
      if (!isHex(c)) return false;
    return true;
  };
  const char kind = body[0];
  const std::string_view rest = body.substr(1);
  bool ok = false;
  if (body == "H" || body == "N") {
    ok = true;
  } else if (kind == '.') {
    ok = rest.size() >= 2 && rest.size() <= 8;  // .br .sp .in+4 .ti-2 .sk .ce .fi .nf
  } else if (kind == 'X' || kind == 'C' || kind == 'M') {
    ok = allHex(rest) && rest.size() % 2 == 0;
  } else if (kind == 'Z') {
    ok = !rest.empty();
  }
  return ok ? close - i + 1 : 0;
}

// Appends the unescaped text of one subcomponent.
void unescapeInto(std::string& out, std::string_view text, const Delimiters& d,
                  const Place& place) {
  for (std::size_t i = 0; i < text.size();) {
    const char c = text[i];
    if (c != d.escape) {
      out.push_back(c);
      ++i;
      continue;
    }
    const std::size_t close = text.find(d.escape, i + 1);
    if (close == std::string_view::npos) {
      fail(place, "the escape sequence " + shown(text.substr(i)) + " is not terminated by '" +
                      std::string(1, d.escape) + "' (write a literal '" + std::string(1, d.escape) +
                      "' as " + std::string(1, d.escape) + "E" + std::string(1, d.escape) + ")");
    }
    const std::string_view body = text.substr(i + 1, close - i - 1);
    if (body.size() == 1) {
      const char k = body[0];
      const char decoded = k == 'F'   ? d.field
                           : k == 'S' ? d.component
                           : k == 'T' ? d.subcomponent
                           : k == 'R' ? d.repetition
                           : k == 'E' ? d.escape
                           : k == 'P' ? d.truncation
                                      : '\0';
      if (decoded != '\0') {
        out.push_back(decoded);
        i = close + 1;
        continue;
      }
    }
    if (body.size() >= 3 && body[0] == 'X' && (body.size() - 1) % 2 == 0) {
      std::string bytes;
      bool control = true;
      for (std::size_t k = 1; k + 1 < body.size() + 1 && control; k += 2) {
        if (!isHex(body[k]) || !isHex(body[k + 1])) {
          control = false;
          break;
        }
        const auto byte =
            static_cast<unsigned char>(hexValue(body[k]) * 16 + hexValue(body[k + 1]));
        control = isControl(byte);
        bytes.push_back(static_cast<char>(byte));
      }
      if (control) {
        out += bytes;
        i = close + 1;
        continue;
      }
    }
    const std::size_t verbatim = verbatimEscapeLength(text, i, d);
    if (verbatim == 0) {
      fail(place, "unknown escape sequence " + shown(text.substr(i, close - i + 1)) +
                      "; HL7 knows \\F\\ \\S\\ \\T\\ \\R\\ \\E\\ \\Xhh\\ and formatting escapes");
    }
    out.append(text.substr(i, verbatim));
    i += verbatim;
  }
}

void escapeInto(std::string& out, std::string_view text, const Delimiters& d, const Place& place,
                bool decode) {
  if (!decode) {
    for (const char c : text) {
      if (c == d.field || c == d.component || c == d.repetition || c == d.subcomponent ||
          c == '\r' || c == '\n') {
        fail(place, "the text " + shown(text) +
                        " contains a delimiter or line break; with escapes=keep the text must be "
                        "escaped already");
      }
    }
    out += text;
    return;
  }
  static constexpr char kHex[] = "0123456789ABCDEF";
  const auto escaped = [&](char kind) {
    out.push_back(d.escape);
    out.push_back(kind);
    out.push_back(d.escape);
  };
  for (std::size_t i = 0; i < text.size();) {
    const char c = text[i];
    if (c == d.escape) {
      const std::size_t verbatim = verbatimEscapeLength(text, i, d);
      if (verbatim > 0) {
        out.append(text.substr(i, verbatim));
        i += verbatim;
      } else {
        escaped('E');
        ++i;
      }
      continue;
    }
    if (isControl(static_cast<unsigned char>(c))) {
      out.push_back(d.escape);
      out.push_back('X');
      while (i < text.size() && isControl(static_cast<unsigned char>(text[i]))) {
        const auto byte = static_cast<unsigned char>(text[i]);
        out.push_back(kHex[byte >> 4U]);
        out.push_back(kHex[byte & 0xFU]);
        ++i;
      }
      out.push_back(d.escape);
      continue;
    }
    if (c == d.field) {
      escaped('F');
    } else if (c == d.component) {
      escaped('S');
    } else if (c == d.subcomponent) {
      escaped('T');
    } else if (c == d.repetition) {
      escaped('R');
    } else if (c == d.truncation && d.truncation != '\0') {
      escaped('P');
    } else {
      out.push_back(c);
    }
    ++i;
  }
}

// ---------------------------------------------------------------------------------------
// unmarshal

template <class Fn>
void split(std::string_view text, char separator, Fn&& fn) {
  if (separator == '\0') {
    fn(text);
    return;
  }
  std::size_t start = 0;
  while (true) {
    const std::size_t at = text.find(separator, start);
    fn(text.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) return;
    start = at + 1;
  }
}

std::size_t count(std::string_view text, char c) {
  if (c == '\0') return 0;
  std::size_t n = 0;
  for (const char x : text) n += x == c ? 1 : 0;
  return n;
}

class Writer {
 public:
  Writer(std::string& out, const Delimiters& d, const Options& options)
      : out_(out), d_(d), options_(options) {}

  void text(std::string_view raw, const Place& place) {
    scratch_.clear();
    if (options_.decode_escapes) {
      unescapeInto(scratch_, raw, d_, place);
    } else {
      scratch_ = raw;
    }
    if (!appendJsonString(out_, scratch_)) {
      fail(place, "the text is not valid UTF-8 (at " + shown(raw) +
                      "); send UTF-8 or convert the message first");
    }
  }

  void component(std::string_view raw, const Place& place) {
    if (count(raw, d_.subcomponent) == 0) return text(raw, place);
    out_.push_back('[');
    bool first = true;
    split(raw, d_.subcomponent, [&](std::string_view sub) {
      if (!first) out_.push_back(',');
      first = false;
      text(sub, place);
    });
    out_.push_back(']');
  }

  void value(std::string_view raw, const Place& place) {
    if (count(raw, d_.component) == 0 && count(raw, d_.subcomponent) == 0) return text(raw, place);
    out_.push_back('[');
    bool first = true;
    split(raw, d_.component, [&](std::string_view comp) {
      if (!first) out_.push_back(',');
      first = false;
      component(comp, place);
    });
    out_.push_back(']');
  }

  void field(std::string_view raw, const Place& place) {
    if (count(raw, d_.repetition) == 0) return value(raw, place);
    out_ += "{\"repetitions\":[";
    bool first = true;
    split(raw, d_.repetition, [&](std::string_view rep) {
      if (!first) out_.push_back(',');
      first = false;
      value(rep, place);
    });
    out_ += "]}";
  }

 private:
  std::string& out_;
  const Delimiters& d_;
  const Options& options_;
  std::string scratch_;
};

}  // namespace

Options fromOptions(const sdk::Options& options) {
  Options o;
  const std::string escapes = options.text("escapes", "decode");
  if (escapes != "decode" && escapes != "keep")
    throw sdk::InvalidError("HL7 option 'escapes' is '" + escapes + "'; use decode or keep");
  o.decode_escapes = escapes == "decode";
  const std::string separator = options.text("segment-separator", "cr");
  if (separator == "cr") {
    o.separator = "\r";
  } else if (separator == "lf") {
    o.separator = "\n";
  } else if (separator == "crlf") {
    o.separator = "\r\n";
  } else {
    throw sdk::InvalidError("HL7 option 'segment-separator' is '" + separator +
                            "'; use cr, lf or crlf");
  }
  return o;
}

std::string unmarshal(std::string_view message, const Options& options, MessageInfo* info) {
  std::string out = "{\"segments\":[";
  out.reserve(message.size() * 2 + 32);
  Delimiters d;
  bool have_encoding = false;
  std::size_t index = 0;
  std::size_t start = 0;
  while (start < message.size()) {
    std::size_t end = message.find_first_of("\r\n", start);
    if (end == std::string_view::npos) end = message.size();
    const std::string_view segment = message.substr(start, end - start);
    start = end + 1;
    if (segment.empty()) continue;  // the LF of a CR LF, or blank lines
    ++index;
    Place place{index, {}, 0};
    const std::string_view name = segment.substr(0, 3);
    if (!have_encoding) {
      if (!carriesEncoding(name)) {
        fail(place, "a message starts with MSH (or FHS/BHS), not " + shown(segment.substr(0, 8)));
      }
      place.name = name;
      d = readEncoding(segment, place);
      have_encoding = true;
    }
    place.name = name;
    if (!validSegmentName(name) || (segment.size() > 3 && segment[3] != d.field)) {
      place.name = {};
      fail(place, "the segment name " +
                      shown(segment.substr(0, std::min<std::size_t>(segment.size(), 8))) +
                      " is not three capital letters or digits followed by '" +
                      std::string(1, d.field) + "'");
    }
    if (index > 1) out.push_back(',');
    out += "[\"";
    out += name;
    out.push_back('"');
    Writer writer(out, d, options);
    std::size_t field_number = 0;
    std::string_view rest = segment.size() > 3 ? segment.substr(4) : std::string_view{};
    const bool has_fields = segment.size() > 3;
    if (carriesEncoding(name) && has_fields) {
      const Delimiters here = readEncoding(segment, place);
      if (here.field != d.field || here.component != d.component ||
          here.repetition != d.repetition || here.escape != d.escape ||
          here.subcomponent != d.subcomponent) {
        fail(place, "its delimiters differ from the first header segment's");
      }
      out += ",";
      appendJsonString(out, std::string_view(&d.field, 1));
      const std::size_t encoding_end = rest.find(d.field);
      out += ",";
      if (!appendJsonString(out, rest.substr(0, encoding_end))) fail(place, "MSH-2 is not UTF-8");
      field_number = 2;
      rest = encoding_end == std::string_view::npos ? std::string_view{}
                                                    : rest.substr(encoding_end + 1);
      if (encoding_end == std::string_view::npos) {
        out += "]";
        continue;
      }
    }
    if (has_fields) {
      split(rest, d.field, [&](std::string_view raw) {
        ++field_number;
        out.push_back(',');
        place.field = field_number;
        writer.field(raw, place);
        if (info != nullptr && name == "MSH" && info->segments == 0) {
          if (field_number == 9) info->message_type = raw;
          if (field_number == 10) info->control_id = raw;
          if (field_number == 12) info->version = raw;
        }
      });
    }
    out.push_back(']');
    if (info != nullptr && info->segments == 0 && name == "MSH") info->segments = 1;  // MSH seen
  }
  if (index == 0)
    throw sdk::InvalidError("HL7 message is empty: expected segments starting with MSH");
  if (info != nullptr) info->segments = index;
  out += "]}";
  return out;
}

// ---------------------------------------------------------------------------------------
// marshal

namespace {

class Encoder {
 public:
  Encoder(std::string& out, const Delimiters& d, const Options& options)
      : out_(out), d_(d), options_(options) {}

  void text(const Json& value, const Place& place) {
    if (value.is_string()) {
      escapeInto(out_, value.get_ref<const std::string&>(), d_, place, options_.decode_escapes);
    } else if (value.is_number() || value.is_null()) {
      std::string text;
      scalarText(value, text);
      out_ += text;
    } else {
      fail(place, std::string("a JSON ") + typeName(value) +
                      " where text is expected (a string, number or null)");
    }
  }
  void component(const Json& value, const Place& place) {
    if (!value.is_array()) return text(value, place);
    for (std::size_t i = 0; i < value.size(); ++i) {
      if (i > 0) out_.push_back(d_.subcomponent);
      text(value[i], place);
    }
  }
  void value(const Json& value, const Place& place) {
    if (!value.is_array()) return text(value, place);
    for (std::size_t i = 0; i < value.size(); ++i) {
      if (i > 0) out_.push_back(d_.component);
      component(value[i], place);
    }
  }
  void field(const Json& field, const Place& place) {
    if (!field.is_object()) return value(field, place);
    const auto reps = field.find("repetitions");
    if (field.size() != 1 || reps == field.end() || !reps->is_array()) {
      fail(place, "an object field must be {\"repetitions\": [...]} and nothing else");
    }
    for (std::size_t i = 0; i < reps->size(); ++i) {
      if (i > 0) out_.push_back(d_.repetition);
      value((*reps)[i], place);
    }
  }

 private:
  std::string& out_;
  const Delimiters& d_;
  const Options& options_;
};

}  // namespace

std::string marshal(std::string_view json, const Options& options) {
  const Json doc = parseJson(json, "the HL7 format's input");
  const auto segments = doc.is_object() ? doc.find("segments") : doc.end();
  if (!doc.is_object() || segments == doc.end() || !segments->is_array()) {
    throw sdk::InvalidError(
        "HL7 marshal needs a JSON object {\"segments\": [[\"MSH\", \"|\", \"^~\\\\&\", ...], "
        "...]}");
  }
  if (segments->empty())
    throw sdk::InvalidError("HL7 marshal: 'segments' is empty; a message needs MSH");
  std::string out;
  out.reserve(json.size());
  Delimiters d;
  for (std::size_t s = 0; s < segments->size(); ++s) {
    const Json& segment = (*segments)[s];
    Place place{s + 1, {}, 0};
    if (!segment.is_array() || segment.empty() || !segment[0].is_string()) {
      fail(place, "a segment is a JSON array whose first item is the segment name");
    }
    const std::string& name = segment[0].get_ref<const std::string&>();
    if (!validSegmentName(name))
      fail(place, "the segment name " + shown(name) + " is not three capital letters or digits");
    place.name = name;
    std::size_t first_field = 1;
    if (s == 0 || carriesEncoding(name)) {
      if (!carriesEncoding(name)) fail(place, "a message starts with MSH (or FHS/BHS)");
      if (segment.size() < 3 || !segment[1].is_string() || !segment[2].is_string()) {
        fail(place,
             "fields 1 and 2 (the field separator and the encoding characters) must be strings");
      }
      const std::string header =
          name + segment[1].get<std::string>() + segment[2].get<std::string>();
      if (segment[1].get_ref<const std::string&>().size() != 1)
        fail(place, "field 1 must be the one-character field separator");
      const Delimiters here = readEncoding(header, place);
      if (s > 0 && (here.field != d.field || here.component != d.component)) {
        fail(place, "its delimiters differ from the first header segment's");
      }
      d = here;
      out += header;
      first_field = 3;
    } else {
      out += name;
    }
    Encoder encoder(out, d, options);
    for (std::size_t f = first_field; f < segment.size(); ++f) {
      place.field = f;
      out.push_back(d.field);
      encoder.field(segment[f], place);
    }
    out += options.separator;
  }
  return out;
}

}  // namespace busway::formats::hl7
