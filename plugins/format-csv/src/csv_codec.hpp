#pragma once

// CSV (RFC 4180 and its common dialects) <-> JSON.
//
// unmarshal: CSV text -> a JSON array, of objects keyed by the header row (or by the
// `columns` option), or of arrays of strings without a header. Values stay strings.
// marshal: a JSON array of objects (or of arrays) -> CSV, columns in the `columns` order or
// in the order keys first appear.
//
// The parser is a state machine fed chunk by chunk (Parser::feed), so a file is never
// matched as a whole; every error names the line and column.

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "busway/sdk/options.hpp"

namespace busway::formats::csv {

enum class Escape {
  doubled,    // RFC 4180: a quote inside a quoted field is written twice ("")
  backslash,  // \" and \\ inside quoted fields (and \<delimiter> outside)
  none,       // quotes cannot appear inside a field
};

struct Options {
  bool header = true;
  char delimiter = ',';
  char quote = '"';
  Escape escape = Escape::doubled;
  std::string line_ending = "\r\n";  // what marshal writes; unmarshal accepts CRLF, LF and CR
  std::vector<std::string> columns;  // column order (marshal); names without a header (unmarshal)
  bool quote_all = false;            // marshal quotes every field, not only those that need it
  bool skip_empty_lines = true;      // unmarshal ignores lines with nothing on them
};

// Reads the plugin's options (names as in plugin.json); throws InvalidError on bad values.
Options fromOptions(const sdk::Options& options);

// One parsed record: its fields and where it started.
struct Record {
  std::vector<std::string> fields;
  std::size_t line = 0;  // 1-based line of the record's first character
};

// The streaming parser. feed() takes any chunks (a quoted field may span chunks and lines);
// finish() ends the input. Records are handed to the callback as soon as they are complete.
class Parser {
 public:
  using Callback = std::function<void(const Record&)>;
  Parser(const Options& options, Callback callback);
  void feed(std::string_view chunk);
  void finish();

 private:
  enum class State {
    field_start,
    unquoted,
    unquoted_escape,
    quoted,
    quoted_escape,
    after_quote,  // a quote in a quoted field: closing, or the first of a doubled quote
    closed,       // after a closing quote: only a delimiter or a line end may follow
    after_cr,
  };
  void endField();
  void endRecord();
  [[noreturn]] void fail(const std::string& what) const;

  Options options_;
  Callback callback_;
  State state_ = State::field_start;
  Record record_;
  std::string field_;
  bool field_quoted_ = false;
  bool record_started_ = false;
  std::size_t line_ = 1;
  std::size_t column_ = 0;  // column of the byte being processed (1-based once advanced)
  std::size_t quote_line_ = 0;
  std::size_t quote_column_ = 0;
  bool pending_newline_ = false;  // the previous byte ended a line
  bool prev_cr_ = false;
};

// CSV -> JSON text (application/json).
std::string unmarshal(std::string_view csv, const Options& options);
// JSON text -> CSV.
std::string marshal(std::string_view json, const Options& options);

}  // namespace busway::formats::csv
