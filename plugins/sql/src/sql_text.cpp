#include "sql_text.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>

namespace busway::sql {
namespace {

bool isNameStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0 || c == '_'; }
bool isNameChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_'; }

// Reads a parameter name after ":header." or ":body.": letters, digits, '_', and '.' or '-'
// between name characters (so `:header.x-sku` and `:body.a.b` are names, `:body.qty-1` is
// qty minus one and a trailing '.' ends the name).
std::size_t readName(std::string_view sql, std::size_t pos) {
  std::size_t end = pos;
  while (end < sql.size()) {
    const char c = sql[end];
    if (isNameChar(c)) {
      ++end;
    } else if ((c == '.' || c == '-') && end > pos && end + 1 < sql.size() &&
               (c == '.' ? isNameChar(sql[end + 1]) : isNameStart(sql[end + 1]))) {
      ++end;
    } else {
      break;
    }
  }
  return end;
}

std::string where(std::string_view sql, std::size_t pos) {
  return "at character " + std::to_string(pos + 1) + " of '" + std::string(sql) + "'";
}

}  // namespace

std::vector<std::string> splitPath(std::string_view path) {
  std::vector<std::string> parts;
  while (!path.empty()) {
    const auto dot = path.find('.');
    parts.emplace_back(path.substr(0, dot));
    if (dot == std::string_view::npos) break;
    path.remove_prefix(dot + 1);
  }
  return parts;
}

std::vector<CompiledStatement> compile(std::string_view sql, Dialect dialect) {
  std::vector<CompiledStatement> out;
  CompiledStatement current;
  bool has_code = false;  // the current statement has more than white space and comments
  const auto finish = [&] {
    if (has_code) out.push_back(std::move(current));
    current = CompiledStatement{};
    has_code = false;
  };
  std::size_t i = 0;
  while (i < sql.size()) {
    const char c = sql[i];
    if (c == '\'' || c == '"') {  // string literal or quoted identifier; '' and "" escape
      std::size_t j = i + 1;
      for (;;) {
        if (j >= sql.size())
          throw SqlTextError("unterminated " +
                             std::string(c == '\'' ? "string" : "quoted identifier") + " " +
                             where(sql, i));
        if (sql[j] == c) {
          if (j + 1 < sql.size() && sql[j + 1] == c) {
            j += 2;
            continue;
          }
          break;
        }
        ++j;
      }
      current.text.append(sql.substr(i, j + 1 - i));
      has_code = true;
      i = j + 1;
    } else if (c == '-' && i + 1 < sql.size() && sql[i + 1] == '-') {  // line comment
      const auto end = sql.find('\n', i);
      const std::size_t stop = end == std::string_view::npos ? sql.size() : end;
      current.text.append(sql.substr(i, stop - i));
      i = stop;
    } else if (c == '/' && i + 1 < sql.size() && sql[i + 1] == '*') {  // block comment
      const auto end = sql.find("*/", i + 2);
      if (end == std::string_view::npos)
        throw SqlTextError("unterminated /* comment " + where(sql, i));
      current.text.append(sql.substr(i, end + 2 - i));
      i = end + 2;
    } else if (c == ';') {
      finish();
      ++i;
    } else if (c == ':' && i + 1 < sql.size() && sql[i + 1] == ':') {  // PostgreSQL cast
      current.text.append("::");
      i += 2;
    } else if (c == ':' && i + 1 < sql.size() && isNameStart(sql[i + 1])) {
      const std::size_t name_end = readName(sql, i + 1);
      const std::string_view word = sql.substr(i + 1, name_end - i - 1);
      Parameter parameter;
      if (word.rfind("header.", 0) == 0 && word.size() > 7) {
        parameter.source = Parameter::Source::header;
        parameter.name = std::string(word.substr(7));
      } else if (word.rfind("body.", 0) == 0 && word.size() > 5) {
        parameter.source = Parameter::Source::body;
        parameter.name = std::string(word.substr(5));
      } else if (word == "body") {
        parameter.source = Parameter::Source::body;
      } else {
        throw SqlTextError(
            "unknown parameter ':" + std::string(word) + "' " + where(sql, i) +
            ": write :header.NAME for a header or :body.PATH for a field of the JSON body");
      }
      current.parameters.push_back(std::move(parameter));
      current.text += dialect == Dialect::sqlite ? std::string("?")
                                                 : "$" + std::to_string(current.parameters.size());
      has_code = true;
      i = name_end;
    } else {
      if (std::isspace(static_cast<unsigned char>(c)) == 0) has_code = true;
      current.text.push_back(c);
      ++i;
    }
  }
  finish();
  if (out.empty()) throw SqlTextError("the query is empty: give at least one SQL statement");
  return out;
}

std::string sqlState(const std::string& text) {
  const auto at = text.find("State: ");
  if (at == std::string::npos || at + 12 > text.size()) return {};
  const std::string state = text.substr(at + 7, 5);
  for (const char c : state) {
    if (std::isalnum(static_cast<unsigned char>(c)) == 0) return {};  // "N/A"
  }
  return state;
}

std::string withConnectTimeout(const std::string& connection, std::chrono::milliseconds timeout) {
  if (connection.find("connect_timeout") != std::string::npos) return connection;
  const auto seconds =
      std::to_string(std::max<std::int64_t>(2, static_cast<std::int64_t>(timeout.count() / 1000)));
  if (connection.rfind("postgresql://", 0) == 0 || connection.rfind("postgres://", 0) == 0) {
    return connection + (connection.find('?') == std::string::npos ? "?" : "&") +
           "connect_timeout=" + seconds;
  }
  return connection + " connect_timeout=" + seconds;
}

}  // namespace busway::sql
