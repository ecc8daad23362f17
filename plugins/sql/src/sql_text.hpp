#pragma once

// The SQL text of an sql: endpoint, compiled once when the endpoint is made: split into
// statements at `;`, with every named parameter (`:header.NAME`, `:body.PATH`) replaced by
// the driver's positional placeholder (`?` for SQLite, `$1`, `$2`... for PostgreSQL) and
// recorded in order. Values are always bound, never pasted into the text. Quoted strings,
// quoted identifiers, comments and PostgreSQL `::` casts are left alone.

#include <chrono>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace busway::sql {

enum class Dialect { sqlite, postgresql };

struct Parameter {
  enum class Source { header, body };
  Source source = Source::header;
  std::string name;  // header name, or dotted path into the JSON body ("" = the whole body)
  std::string text() const { return (source == Source::header ? ":header." : ":body.") + name; }
};

struct CompiledStatement {
  std::string text;                   // with positional placeholders
  std::vector<Parameter> parameters;  // in placeholder order
};

// Thrown for a statement that cannot be compiled; the message says what and where.
struct SqlTextError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Splits `sql` into statements and compiles each. Empty statements (";;", a trailing ";")
// are dropped. Throws SqlTextError for an unknown parameter form (`:name` without the
// `header.`/`body.` prefix), an unterminated quote or comment, or an empty text.
std::vector<CompiledStatement> compile(std::string_view sql, Dialect dialect);

// "items.0.sku" -> {"items", "0", "sku"}; "" -> {}.
std::vector<std::string> splitPath(std::string_view path);

// The SQLSTATE in POCO's PostgreSQL error text ("... State: 23505 ..."), or "" when it has
// none (a connection that broke has none).
std::string sqlState(const std::string& text);

// A PostgreSQL connection string with connect_timeout (whole seconds, at least 2) added
// unless it has one, so an unreachable server fails after `timeout` rather than TCP's minutes.
// Works for key=value strings and postgresql:// URIs.
std::string withConnectTimeout(const std::string& connection, std::chrono::milliseconds timeout);

}  // namespace busway::sql
