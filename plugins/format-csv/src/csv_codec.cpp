#include "csv_codec.hpp"

#include <algorithm>
#include <string>
#include <utility>

#include "busway_formats/text.hpp"

namespace busway::formats::csv {

namespace {

char singleChar(const sdk::Options& options, std::string_view name, std::string_view fallback) {
  std::string value = options.text(name, fallback);
  if (value == "\\t" || value == "tab" || value == "TAB") value = "\t";
  if (value.size() != 1) {
    throw sdk::InvalidError("CSV option '" + std::string(name) + "' is '" + value +
                            "'; give exactly one character (or 'tab')");
  }
  return value[0];
}

std::vector<std::string> splitColumns(std::string_view text) {
  std::vector<std::string> out;
  if (sdk::detail::trim(text).empty()) return out;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = text.find(',', start);
    const auto part = sdk::detail::trim(text.substr(start, comma - start));
    out.emplace_back(part);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

std::string printable(char c) {
  if (c == '\r') return "a carriage return";
  if (c == '\n') return "a line feed";
  if (static_cast<unsigned char>(c) < 0x20) return "a control character";
  return std::string("'") + c + "'";
}

}  // namespace

Options fromOptions(const sdk::Options& options) {
  Options o;
  o.header = options.boolean("header", true);
  o.delimiter = singleChar(options, "delimiter", ",");
  o.quote = singleChar(options, "quote", "\"");
  const std::string escape = options.text("escape", "double");
  if (escape == "double") {
    o.escape = Escape::doubled;
  } else if (escape == "backslash") {
    o.escape = Escape::backslash;
  } else if (escape == "none") {
    o.escape = Escape::none;
  } else {
    throw sdk::InvalidError("CSV option 'escape' is '" + escape +
                            "'; use double (RFC 4180), backslash or none");
  }
  const std::string ending = options.text("line-ending", "crlf");
  if (ending == "crlf") {
    o.line_ending = "\r\n";
  } else if (ending == "lf") {
    o.line_ending = "\n";
  } else {
    throw sdk::InvalidError("CSV option 'line-ending' is '" + ending + "'; use crlf or lf");
  }
  o.columns = splitColumns(options.text("columns", ""));
  o.quote_all = options.text("quoting", "minimal") == "all";
  o.skip_empty_lines = options.boolean("skip-empty-lines", true);
  for (const char c : {o.delimiter, o.quote}) {
    if (c == '\r' || c == '\n') {
      throw sdk::InvalidError("CSV options: a line break cannot be the delimiter or the quote");
    }
  }
  if (o.delimiter == o.quote) {
    throw sdk::InvalidError("CSV options: the delimiter and the quote are both '" +
                            std::string(1, o.delimiter) + "'; choose different characters");
  }
  return o;
}

// ---------------------------------------------------------------------------------------
// Parser

Parser::Parser(const Options& options, Callback callback)
    : options_(options), callback_(std::move(callback)) {}

void Parser::fail(const std::string& what) const { throw sdk::InvalidError("CSV " + what); }

void Parser::endField() {
  record_.fields.push_back(std::move(field_));
  field_.clear();
  field_quoted_ = false;
  state_ = State::field_start;
}

void Parser::endRecord() {
  const bool quoted = field_quoted_;
  endField();
  const bool empty_line = record_.fields.size() == 1 && record_.fields[0].empty() && !quoted;
  if (!(empty_line && options_.skip_empty_lines)) callback_(record_);
  record_.fields.clear();
  record_started_ = false;
}

void Parser::feed(std::string_view chunk) {
  const char delimiter = options_.delimiter;
  const char quote = options_.quote;
  const bool backslash = options_.escape == Escape::backslash;
  for (const char c : chunk) {
    // Position of `c`: a line break (CRLF, LF or CR) moves to the next line.
    if (pending_newline_ && !(c == '\n' && prev_cr_)) {
      ++line_;
      column_ = 0;
      pending_newline_ = false;
    }
    ++column_;
    prev_cr_ = c == '\r';
    if (c == '\r' || c == '\n') pending_newline_ = true;

    if (state_ == State::after_cr) {
      state_ = State::field_start;
      if (c == '\n') continue;
    }
    if (!record_started_ && state_ == State::field_start) {
      record_started_ = true;
      record_.line = line_;
    }
    switch (state_) {
      case State::field_start:
        if (c == quote) {
          state_ = State::quoted;
          field_quoted_ = true;
          quote_line_ = line_;
          quote_column_ = column_;
          break;
        }
        state_ = State::unquoted;
        [[fallthrough]];
      case State::unquoted:
        if (c == delimiter) {
          endField();
        } else if (c == '\r' || c == '\n') {
          endRecord();
          if (c == '\r') state_ = State::after_cr;
        } else if (c == quote) {
          fail("has a quote inside an unquoted field at line " + std::to_string(line_) +
               ", column " + std::to_string(column_) +
               "; quote the whole field (\"...\") or set the 'quote' option");
        } else if (backslash && c == '\\') {
          state_ = State::unquoted_escape;
        } else {
          field_.push_back(c);
        }
        break;
      case State::unquoted_escape:
        field_.push_back(c);
        state_ = State::unquoted;
        break;
      case State::quoted:
        if (c == quote) {
          state_ = options_.escape == Escape::doubled ? State::after_quote : State::closed;
        } else if (backslash && c == '\\') {
          state_ = State::quoted_escape;
        } else {
          field_.push_back(c);
        }
        break;
      case State::quoted_escape:
        field_.push_back(c);
        state_ = State::quoted;
        break;
      case State::after_quote:
        if (c == quote) {  // "" inside a quoted field
          field_.push_back(c);
          state_ = State::quoted;
          break;
        }
        state_ = State::closed;
        [[fallthrough]];
      case State::closed:
        if (c == delimiter) {
          endField();
        } else if (c == '\r' || c == '\n') {
          endRecord();
          if (c == '\r') state_ = State::after_cr;
        } else {
          fail("has " + printable(c) + " after the closing quote of a field at line " +
               std::to_string(line_) + ", column " + std::to_string(column_) +
               (options_.escape == Escape::doubled
                    ? "; a quote inside a quoted field is written twice (\"\")"
                    : "; a field ends at its closing quote"));
        }
        break;
      case State::after_cr: break;  // handled above
    }
  }
}

void Parser::finish() {
  if (state_ == State::quoted || state_ == State::quoted_escape) {
    fail("has an unterminated quoted field: the quote at line " + std::to_string(quote_line_) +
         ", column " + std::to_string(quote_column_) + " is never closed");
  }
  if (state_ == State::unquoted_escape) {
    fail("ends with a lone backslash at line " + std::to_string(line_) + ", column " +
         std::to_string(column_));
  }
  if (record_started_) endRecord();
  state_ = State::field_start;
}

// ---------------------------------------------------------------------------------------
// unmarshal

namespace {

void appendValue(std::string& out, const std::string& value, const Record& record,
                 std::size_t index) {
  if (!appendJsonString(out, value)) {
    throw sdk::InvalidError("CSV record at line " + std::to_string(record.line) + ", field " +
                            std::to_string(index + 1) +
                            " is not valid UTF-8; convert the file to UTF-8");
  }
}

}  // namespace

std::string unmarshal(std::string_view csv, const Options& options) {
  if (csv.substr(0, 3) == "\xEF\xBB\xBF") csv.remove_prefix(3);  // UTF-8 byte order mark
  std::string out = "[";
  out.reserve(csv.size() + csv.size() / 2 + 16);
  std::vector<std::string> keys;  // JSON-encoded column names
  bool have_keys = false;
  if (!options.columns.empty()) {
    for (const auto& name : options.columns) {
      std::string key;
      if (!appendJsonString(key, name))
        throw sdk::InvalidError("CSV option 'columns' is not UTF-8");
      keys.push_back(std::move(key));
    }
    have_keys = true;
  }
  bool header_pending = options.header;
  bool first = true;
  Parser parser(options, [&](const Record& record) {
    if (header_pending) {
      header_pending = false;
      if (!have_keys) {
        for (std::size_t i = 0; i < record.fields.size(); ++i) {
          for (std::size_t j = 0; j < i; ++j) {
            if (record.fields[j] == record.fields[i]) {
              throw sdk::InvalidError("CSV header (line " + std::to_string(record.line) +
                                      ") names column '" + record.fields[i] + "' twice (fields " +
                                      std::to_string(j + 1) + " and " + std::to_string(i + 1) +
                                      ")");
            }
          }
          std::string key;
          appendValue(key, record.fields[i], record, i);
          keys.push_back(std::move(key));
        }
        have_keys = true;
      }
      return;  // the header row names the columns; with 'columns' set it is skipped
    }
    if (!first) out.push_back(',');
    first = false;
    if (!have_keys) {
      out.push_back('[');
      for (std::size_t i = 0; i < record.fields.size(); ++i) {
        if (i > 0) out.push_back(',');
        appendValue(out, record.fields[i], record, i);
      }
      out.push_back(']');
      return;
    }
    if (record.fields.size() != keys.size()) {
      throw sdk::InvalidError("CSV record at line " + std::to_string(record.line) + " has " +
                              std::to_string(record.fields.size()) + " fields, but there are " +
                              std::to_string(keys.size()) + " columns" +
                              (options.header ? " in the header" : " in the 'columns' option"));
    }
    out.push_back('{');
    for (std::size_t i = 0; i < keys.size(); ++i) {
      if (i > 0) out.push_back(',');
      out += keys[i];
      out.push_back(':');
      appendValue(out, record.fields[i], record, i);
    }
    out.push_back('}');
  });
  parser.feed(csv);
  parser.finish();
  out.push_back(']');
  return out;
}

// ---------------------------------------------------------------------------------------
// marshal

namespace {

void writeField(std::string& out, std::string_view value, const Options& options,
                bool only_column) {
  const char q = options.quote;
  bool needs = options.quote_all || (only_column && value.empty());
  if (!needs) {
    for (const char c : value) {
      if (c == options.delimiter || c == q || c == '\r' || c == '\n' ||
          (options.escape == Escape::backslash && c == '\\')) {
        needs = true;
        break;
      }
    }
  }
  if (!needs) {
    out += value;
    return;
  }
  out.push_back(q);
  for (const char c : value) {
    if (c == q) {
      if (options.escape == Escape::none) {
        throw sdk::InvalidError(
            "a CSV value contains the quote character, which escape=none cannot write; use "
            "escape=double or another 'quote'");
      }
      out.push_back(options.escape == Escape::doubled ? q : '\\');
    } else if (c == '\\' && options.escape == Escape::backslash) {
      out.push_back('\\');
    }
    out.push_back(c);
  }
  out.push_back(q);
}

std::string cellText(const Json& value, std::size_t row, std::string_view column) {
  std::string text;
  if (!scalarText(value, text)) {
    throw sdk::InvalidError("CSV marshal: item " + std::to_string(row + 1) + ", column '" +
                            std::string(column) + "' is a JSON " + typeName(value) +
                            "; a CSV cell holds a string, number, boolean or null");
  }
  return text;
}

}  // namespace

std::string marshal(std::string_view json, const Options& options) {
  const Json doc = parseJson(json, "the CSV format's input");
  if (!doc.is_array()) {
    throw sdk::InvalidError(
        std::string("CSV marshal needs a JSON array of objects or arrays, not a ") + typeName(doc));
  }
  std::string out;
  out.reserve(json.size());
  std::vector<std::string> columns = options.columns;
  bool objects = false;
  for (std::size_t i = 0; i < doc.size(); ++i) {
    const Json& item = doc[i];
    if (i == 0) objects = item.is_object();
    if (item.is_object() != objects || !(item.is_object() || item.is_array())) {
      throw sdk::InvalidError("CSV marshal: item " + std::to_string(i + 1) + " is a JSON " +
                              typeName(item) + "; every item must be an " +
                              (objects ? "object" : "array") + " like the first");
    }
    if (objects && options.columns.empty()) {
      for (const auto& [key, value] : item.items()) {
        if (std::find(columns.begin(), columns.end(), key) == columns.end()) columns.push_back(key);
      }
    }
  }
  const auto writeRecord = [&](const std::vector<std::string>& cells) {
    for (std::size_t c = 0; c < cells.size(); ++c) {
      if (c > 0) out.push_back(options.delimiter);
      writeField(out, cells[c], options, cells.size() == 1);
    }
    out += options.line_ending;
  };
  if (options.header && !columns.empty()) writeRecord(columns);
  std::vector<std::string> cells;
  for (std::size_t i = 0; i < doc.size(); ++i) {
    const Json& item = doc[i];
    cells.clear();
    if (objects) {
      for (const auto& column : columns) {
        const auto found = item.find(column);
        cells.push_back(found == item.end() ? std::string() : cellText(*found, i, column));
      }
    } else {
      for (std::size_t c = 0; c < item.size(); ++c)
        cells.push_back(cellText(item[c], i, std::to_string(c + 1)));
    }
    writeRecord(cells);
  }
  return out;
}

}  // namespace busway::formats::csv
