#pragma once

// The parts of the file plugin that need no host: the file-name template of the producer,
// glob lists, the media type table and time formatting. A small static library, so that
// plugins/file/tests/ can test them without a bus.

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace busway::file {

// A producer's file name: literal text with ${...} operands, parsed once (when the endpoint
// is created, so a typo is a load error) and rendered for every message.
//   ${header.NAME}   the header NAME (a missing header fails the message as invalid)
//   ${id}            the message id
//   ${correlation-id} the correlation id (empty when there is none)
//   ${date:PATTERN}  the current time in UTC; PATTERN letters: yyyy yy MM dd HH mm ss SSS,
//                    anything else is copied as it is
//   $${              a literal "${"
class NameTemplate {
 public:
  // Throws std::invalid_argument naming the operand and its position.
  explicit NameTemplate(std::string_view text);

  struct Values {
    std::function<std::optional<std::string>(std::string_view)> header;
    std::string id;
    std::string correlation_id;
    std::chrono::system_clock::time_point now;
  };
  // Throws std::invalid_argument when a header is missing.
  std::string render(const Values& values) const;
  const std::string& text() const noexcept { return text_; }

 private:
  enum class Kind { literal, header, id, correlation_id, date };
  struct Part {
    Kind kind;
    std::string text;  // the literal, the header name or the date pattern
  };
  std::string text_;
  std::vector<Part> parts_;
};

// "yyyyMMdd-HHmmss.SSS" in UTC.
std::string formatTime(std::string_view pattern, std::chrono::system_clock::time_point time);
// ISO 8601 with milliseconds, UTC: 2026-12-01T23:59:01.123Z
std::string isoTime(std::chrono::system_clock::time_point time);

// A comma-separated list of shell globs ("*.csv,*.txt"); empty text is an empty list.
class GlobList {
 public:
  GlobList() = default;
  explicit GlobList(std::string_view text);
  bool empty() const noexcept { return globs_.empty(); }
  // True when any glob matches the file name or the path relative to the folder.
  bool matches(std::string_view name, std::string_view relative_path) const;

 private:
  std::vector<std::string> globs_;
};

// The media type for a file name, from its extension (the table in docs/plugins/file.md).
std::string mediaTypeFor(const std::filesystem::path& name);
// The media type of one line of a file read with split=lines.
std::string lineMediaTypeFor(const std::filesystem::path& name);

// Checks a rendered producer name: relative, no "..", not empty. Returns the reason it is
// refused, or nullopt when it is fine.
std::optional<std::string> refuseName(std::string_view name);

// "\n", "\r\n", "\t" and "\\" written in a URI option, as the bytes they stand for.
std::string unescape(std::string_view text);

}  // namespace busway::file
