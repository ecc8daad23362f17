#pragma once

// The operator grammar shared by the jsonpath, header and simple languages:
//
//   expr       := and (('or' | '||') and)*
//   and        := unary (('and' | '&&') unary)*
//   unary      := ('not' | '!') unary | comparison
//   comparison := primary (('==' | '!=' | '<' | '<=' | '>' | '>=') primary)?
//   primary    := '(' expr ')' | 'exists' '(' operand ')' | literal | operand
//   literal    := 'text' | "text" | number | true | false | null
//
// Only `operand` differs between languages (a JSON path, a header name, header.NAME...),
// so each language hands the parser a function that reads one operand.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "busway/expression/value.hpp"
#include "busway/message/exchange.hpp"
#include "busway/util/result.hpp"

namespace busway::expr {

struct OnDemandState;

// State for one evaluate() call. Operands that read the body share it so that, for
// example, two JSON paths in one predicate index the body once.
struct EvalContext {
  // Out of line: OnDemandState is only complete in json_path.cpp.
  explicit EvalContext(const Exchange& e) noexcept;
  ~EvalContext();
  EvalContext(const EvalContext&) = delete;
  EvalContext& operator=(const EvalContext&) = delete;

  const Exchange& exchange;
  const Message& message() const noexcept { return exchange.message; }

  // JSON fast path (see json_path.cpp): which thread-local document this call owns.
  std::uint64_t json_token = 0;
  bool json_fast_failed = false;
  std::unique_ptr<OnDemandState> large_body;  // own parser for bodies too big to keep per thread
};

class Node {
 public:
  virtual ~Node() = default;
  virtual Result<Value> eval(EvalContext& ctx) const = 0;
  // The predicate view; nodes that are predicates by nature override it to skip building a Value.
  virtual Result<bool> truth(EvalContext& ctx) const;
  // Non-null for literals, so comparisons can use the value without copying it.
  virtual const Value* constant() const noexcept { return nullptr; }
};
using NodePtr = std::unique_ptr<const Node>;

// A language's operand: something read from the exchange.
class Operand : public Node {
 public:
  virtual Result<bool> exists(EvalContext& ctx) const = 0;
  // Every match; the default is the single value when it is present.
  virtual Result<std::vector<Value>> select(EvalContext& ctx) const;
};
using OperandPtr = std::unique_ptr<const Operand>;

struct ParseError {
  std::size_t offset = 0;
  std::string message;
};

// A position in the expression text.
class Cursor {
 public:
  explicit Cursor(std::string_view text, std::size_t pos = 0) noexcept : text_(text), pos_(pos) {}

  std::string_view text() const noexcept { return text_; }
  std::size_t pos() const noexcept { return pos_; }
  void setPos(std::size_t pos) noexcept { pos_ = pos; }
  bool atEnd() const noexcept { return pos_ >= text_.size(); }
  char peek(std::size_t ahead = 0) const noexcept {
    return pos_ + ahead < text_.size() ? text_[pos_ + ahead] : '\0';
  }
  void advance(std::size_t n = 1) noexcept {
    pos_ = pos_ + n < text_.size() ? pos_ + n : text_.size();
  }
  void skipSpace() noexcept;
  bool startsWith(std::string_view s) const noexcept { return text_.substr(pos_).starts_with(s); }
  // `word` followed by something that cannot continue a name (so `notice` is not `not`).
  bool atKeyword(std::string_view word) const noexcept;
  // The longest run of name characters from here (may be empty).
  std::string_view peekName() const noexcept;

 private:
  std::string_view text_;
  std::size_t pos_;
};

// Characters of bare names: header names, JSON member names, keywords.
bool isNameChar(char c) noexcept;
bool isNameStart(char c) noexcept;
// A short description of the token at `pos` for error messages: 'foo', '==', end of expression.
std::string describeToken(std::string_view text, std::size_t pos);
// The closest of `candidates` to `word` when it is a plausible typo, else empty.
std::string_view suggest(std::string_view word, const std::vector<std::string_view>& candidates);

// Reads one operand with the cursor on its first character; on failure returns null and
// fills `error` (offset pointing at the offending character).
using OperandParser = std::function<OperandPtr(Cursor&, ParseError&)>;

struct ParsedPredicate {
  NodePtr root;
  const Operand* operand = nullptr;  // the root when the whole text is a single operand
};

// Parses the whole text; nothing may follow the expression. On failure `root` is null.
ParsedPredicate parsePredicate(std::string_view text, const OperandParser& parseOperand,
                               ParseError& error);

}  // namespace busway::expr
