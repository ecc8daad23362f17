// Operands of the header and simple languages.
#include <string>

#include "json_path.hpp"
#include "languages.hpp"

namespace busway::expr {

namespace {

class HeaderOperand final : public Operand {
 public:
  explicit HeaderOperand(std::string name) : name_(std::move(name)) {}
  Result<Value> eval(EvalContext& ctx) const override {
    const HeaderValue* value = ctx.message().headers().find(name_);
    return value ? fromHeader(*value) : Value();
  }
  Result<bool> exists(EvalContext& ctx) const override {
    return ctx.message().headers().contains(name_);
  }

 private:
  std::string name_;
};

class BodyOperand final : public Operand {
 public:
  Result<Value> eval(EvalContext& ctx) const override {
    return Value(std::string(ctx.message().bodyText()));
  }
  Result<bool> exists(EvalContext& ctx) const override { return !ctx.message().bodyText().empty(); }
};

class IdOperand final : public Operand {
 public:
  explicit IdOperand(bool correlation) : correlation_(correlation) {}
  Result<Value> eval(EvalContext& ctx) const override {
    return Value(correlation_ ? ctx.message().correlationId() : ctx.message().id());
  }
  Result<bool> exists(EvalContext&) const override { return true; }

 private:
  bool correlation_;
};

std::string_view readHeaderName(Cursor& cursor) {
  std::string_view name = cursor.peekName();
  cursor.advance(name.size());
  return name;
}

}  // namespace

OperandPtr parseHeaderOperand(Cursor& cursor, ParseError& error) {
  std::size_t at = cursor.pos();
  if (!isNameStart(cursor.peek())) {
    error = {at, "unexpected " + describeToken(cursor.text(), at) +
                     "; expected a header name, a literal or '('"};
    return nullptr;
  }
  return std::make_unique<HeaderOperand>(std::string(readHeaderName(cursor)));
}

OperandPtr parseSimpleOperand(Cursor& cursor, ParseError& error) {
  static constexpr std::string_view kExpected =
      "expected header.NAME, body, id, correlationId or a $.json.path";
  std::size_t at = cursor.pos();
  if (cursor.peek() == '$') return parseJsonPathOperand(cursor, error);
  // Operand words stop at '.', unlike header names: `header.x-id` is `header` '.' `x-id`.
  std::size_t end = at;
  auto isWordChar = [](char c) { return isNameChar(c) && c != '.' && c != '-'; };
  while (end < cursor.text().size() && isWordChar(cursor.text()[end])) ++end;
  std::string_view word = cursor.text().substr(at, end - at);
  if (word.empty()) {
    error = {at, "unexpected " + describeToken(cursor.text(), at) + "; " + std::string(kExpected)};
    return nullptr;
  }
  cursor.setPos(end);
  if (word == "header") {
    if (cursor.peek() != '.') {
      error = {end, "expected '.' and a header name after 'header' (header.NAME)"};
      return nullptr;
    }
    cursor.advance();
    std::size_t name_at = cursor.pos();
    if (!isNameStart(cursor.peek())) {
      error = {name_at, "expected a header name after 'header.', found " +
                            describeToken(cursor.text(), name_at)};
      return nullptr;
    }
    return std::make_unique<HeaderOperand>(std::string(readHeaderName(cursor)));
  }
  if (word == "body") return std::make_unique<BodyOperand>();
  if (word == "id") return std::make_unique<IdOperand>(false);
  if (word == "correlationId") return std::make_unique<IdOperand>(true);
  std::string message = "unknown operand '" + std::string(word) + "'";
  if (auto guess = suggest(word, {"header", "body", "id", "correlationId"}); !guess.empty()) {
    message += " (did you mean '" + std::string(guess) + (guess == "header" ? ".NAME" : "") + "'?)";
  }
  error = {at, message + "; " + std::string(kExpected)};
  return nullptr;
}

}  // namespace busway::expr
