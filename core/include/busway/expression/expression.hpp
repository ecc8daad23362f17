#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "busway/expression/value.hpp"
#include "busway/message/exchange.hpp"
#include "busway/util/result.hpp"

namespace busway {

// A compiled expression. Compiled once when the routing table loads; evaluated for each
// exchange, concurrently, so evaluate() is const and thread-safe.
class Expression {
 public:
  virtual ~Expression() = default;

  // The single value (for a node set or a multi-match path: the first match; none: null).
  // Fails (ErrorKind::invalid) when the body cannot be read as the language needs,
  // e.g. a JSON path on a body that is not JSON.
  virtual Result<Value> evaluate(const Exchange& exchange) const = 0;

  // Every match, in document order; split uses this. XPath nodes come back as XML text,
  // JSON values as json (scalars as scalars).
  virtual Result<std::vector<Value>> select(const Exchange& exchange) const;

  // As a predicate: the truth of evaluate() (XPath: boolean() of the result).
  virtual Result<bool> test(const Exchange& exchange) const;

  // "xpath", "jsonpath", "header", "simple" or "constant".
  virtual std::string_view language() const noexcept = 0;
  const std::string& text() const noexcept { return text_; }

 protected:
  explicit Expression(std::string text) : text_(std::move(text)) {}

 private:
  std::string text_;
};

using ExpressionPtr = std::shared_ptr<const Expression>;

// Why an expression did not compile, and where: `offset` is a byte offset into the text.
struct ExpressionError {
  std::size_t offset = 0;
  std::string message;
};

struct CompiledExpression {
  ExpressionPtr expression;  // null on error
  std::optional<ExpressionError> error;
};

// Languages known to compileExpression.
const std::vector<std::string>& expressionLanguages();

// Compiles `text` in `language`. Unknown language, syntax errors and unknown functions are
// errors with an offset; nothing is left to fail at run time but the data itself.
//   xpath    - XPath 1.0 over the XML body (pugixml). Namespaced documents: use local-name().
//   jsonpath - $.a.b[0].c, $['x'], $.items[*].sku, $..name; with comparisons
//              (== != < <= > >=), and/or/not, exists($.x), literals ('s', 12, true, null).
//   header   - a header name; with comparisons and and/or/not like jsonpath, where bare
//              names are header names: priority == 'high' and not exists(x-test)
//   simple   - operands header.NAME, body, id, correlationId, $.json.path, literals, with
//              the same operators: header.type == 'order' and $.total > 100
//   constant - the text itself
CompiledExpression compileExpression(std::string_view language, std::string_view text);

// A text with ${...} placeholders, each a `simple` operand: "order ${$.id} for ${header.customer}".
// `$${` writes a literal "${". Used for log messages, set-body, file names, URIs.
class Template {
 public:
  static Result<Template> compile(std::string_view text, ExpressionError* error = nullptr);
  Result<std::string> render(const Exchange& exchange) const;
  bool isConstant() const noexcept {
    return parts_.size() <= 1 && (parts_.empty() || !parts_[0].expression);
  }
  const std::string& text() const noexcept { return text_; }

 private:
  struct Part {
    std::string literal;
    ExpressionPtr expression;  // null for literal parts
  };
  std::string text_;
  std::vector<Part> parts_;
};

}  // namespace busway
