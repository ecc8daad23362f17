#include "file_support.hpp"

#include <algorithm>
#include <cctype>
#include <ctime>
#include <stdexcept>

#include <fnmatch.h>

namespace busway::file {

namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string twoDigits(int n) {
  std::string out = std::to_string(n);
  return out.size() < 2 ? "0" + out : out;
}

}  // namespace

NameTemplate::NameTemplate(std::string_view text) : text_(text) {
  std::string literal;
  std::size_t i = 0;
  while (i < text.size()) {
    if (text.compare(i, 3, "$${") == 0) {
      literal += "${";
      i += 3;
      continue;
    }
    if (text.compare(i, 2, "${") != 0) {
      literal += text[i++];
      continue;
    }
    const std::size_t close = text.find('}', i + 2);
    if (close == std::string_view::npos) {
      throw std::invalid_argument("unclosed '${' at position " + std::to_string(i + 1) + " of '" +
                                  std::string(text) + "'");
    }
    const std::string_view operand = text.substr(i + 2, close - i - 2);
    if (!literal.empty()) parts_.push_back(Part{Kind::literal, std::move(literal)});
    literal.clear();
    if (operand.rfind("header.", 0) == 0 && operand.size() > 7) {
      parts_.push_back(Part{Kind::header, std::string(operand.substr(7))});
    } else if (operand == "id") {
      parts_.push_back(Part{Kind::id, {}});
    } else if (operand == "correlation-id" || operand == "correlationId") {
      parts_.push_back(Part{Kind::correlation_id, {}});
    } else if (operand.rfind("date:", 0) == 0 && operand.size() > 5) {
      parts_.push_back(Part{Kind::date, std::string(operand.substr(5))});
    } else {
      throw std::invalid_argument("unknown operand '${" + std::string(operand) + "}' at position " +
                                  std::to_string(i + 1) + " of '" + std::string(text) +
                                  "'; use ${header.NAME}, ${id}, ${correlation-id} or "
                                  "${date:yyyyMMdd}");
    }
    i = close + 1;
  }
  if (!literal.empty()) parts_.push_back(Part{Kind::literal, std::move(literal)});
}

std::string NameTemplate::render(const Values& values) const {
  std::string out;
  for (const Part& part : parts_) {
    switch (part.kind) {
      case Kind::literal: out += part.text; break;
      case Kind::id: out += values.id; break;
      case Kind::correlation_id: out += values.correlation_id; break;
      case Kind::date: out += formatTime(part.text, values.now); break;
      case Kind::header: {
        std::optional<std::string> value;
        if (values.header) value = values.header(part.text);
        if (!value) {
          throw std::invalid_argument("the message has no header '" + part.text +
                                      "', which the file name '" + text_ + "' needs");
        }
        out += *value;
        break;
      }
    }
  }
  return out;
}

std::string formatTime(std::string_view pattern, std::chrono::system_clock::time_point time) {
  const auto since = time.time_since_epoch();
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since);
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(since - seconds);
  const std::time_t t = static_cast<std::time_t>(seconds.count());
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::string out;
  std::size_t i = 0;
  const auto starts = [&](std::string_view token) {
    return pattern.compare(i, token.size(), token) == 0;
  };
  while (i < pattern.size()) {
    if (starts("yyyy")) {
      out += std::to_string(tm.tm_year + 1900);
      i += 4;
    } else if (starts("yy")) {
      out += twoDigits((tm.tm_year + 1900) % 100);
      i += 2;
    } else if (starts("MM")) {
      out += twoDigits(tm.tm_mon + 1);
      i += 2;
    } else if (starts("dd")) {
      out += twoDigits(tm.tm_mday);
      i += 2;
    } else if (starts("HH")) {
      out += twoDigits(tm.tm_hour);
      i += 2;
    } else if (starts("mm")) {
      out += twoDigits(tm.tm_min);
      i += 2;
    } else if (starts("ss")) {
      out += twoDigits(tm.tm_sec);
      i += 2;
    } else if (starts("SSS")) {
      const auto ms = static_cast<int>(millis.count());
      out += (ms < 100 ? (ms < 10 ? "00" : "0") : "") + std::to_string(ms);
      i += 3;
    } else {
      out += pattern[i++];
    }
  }
  return out;
}

std::string isoTime(std::chrono::system_clock::time_point time) {
  return formatTime("yyyy-MM-ddTHH:mm:ss.SSSZ", time);
}

GlobList::GlobList(std::string_view text) {
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    std::string_view glob = text.substr(start, comma - start);
    while (!glob.empty() && glob.front() == ' ') glob.remove_prefix(1);
    while (!glob.empty() && glob.back() == ' ') glob.remove_suffix(1);
    if (!glob.empty()) globs_.emplace_back(glob);
    start = comma + 1;
  }
}

bool GlobList::matches(std::string_view name, std::string_view relative_path) const {
  const std::string n(name);
  const std::string r(relative_path);
  return std::any_of(globs_.begin(), globs_.end(), [&](const std::string& glob) {
    return fnmatch(glob.c_str(), n.c_str(), 0) == 0 ||
           fnmatch(glob.c_str(), r.c_str(), FNM_PATHNAME) == 0;
  });
}

std::string mediaTypeFor(const std::filesystem::path& name) {
  const std::string ext = lower(name.extension().string());
  if (ext == ".json") return "application/json";
  if (ext == ".xml") return "application/xml";
  if (ext == ".csv") return "text/csv";
  if (ext == ".txt" || ext == ".log") return "text/plain";
  if (ext == ".hl7") return "x-application/hl7-v2+er7";
  if (ext == ".html" || ext == ".htm") return "text/html";
  if (ext == ".yaml" || ext == ".yml") return "application/yaml";
  if (ext == ".jsonl" || ext == ".ndjson") return "application/x-ndjson";
  if (ext == ".pdf") return "application/pdf";
  if (ext == ".zip") return "application/zip";
  if (ext == ".edi" || ext == ".x12") return "application/edi-x12";
  return "application/octet-stream";
}

std::string lineMediaTypeFor(const std::filesystem::path& name) {
  const std::string ext = lower(name.extension().string());
  if (ext == ".jsonl" || ext == ".ndjson") return "application/json";
  if (ext == ".csv") return "text/csv";
  return "text/plain";
}

std::optional<std::string> refuseName(std::string_view name) {
  if (name.empty()) return "the file name is empty";
  if (name.front() == '/') return "the file name '" + std::string(name) + "' is absolute";
  const std::filesystem::path path{std::string(name)};
  for (const auto& part : path) {
    if (part == "..") {
      return "the file name '" + std::string(name) + "' leaves the folder ('..')";
    }
  }
  if (name.find('\0') != std::string_view::npos) return "the file name contains a NUL byte";
  if (path.filename().empty() || path.filename() == ".") {
    return "the file name '" + std::string(name) + "' names a folder, not a file";
  }
  return std::nullopt;
}

std::string unescape(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 1 < text.size()) {
      const char next = text[i + 1];
      if (next == 'n') {
        out += '\n';
        ++i;
        continue;
      }
      if (next == 'r') {
        out += '\r';
        ++i;
        continue;
      }
      if (next == 't') {
        out += '\t';
        ++i;
        continue;
      }
      if (next == '\\') {
        out += '\\';
        ++i;
        continue;
      }
    }
    out += text[i];
  }
  return out;
}

}  // namespace busway::file
