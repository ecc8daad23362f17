#include "busway/expression/expression.hpp"

#include "json_path.hpp"
#include "languages.hpp"

namespace busway {

Result<std::vector<Value>> Expression::select(const Exchange& exchange) const {
  Result<Value> value = evaluate(exchange);
  if (!value) return std::move(value).error();
  std::vector<Value> out;
  if (!isNull(*value)) out.push_back(std::move(value).value());
  return out;
}

Result<bool> Expression::test(const Exchange& exchange) const {
  Result<Value> value = evaluate(exchange);
  if (!value) return std::move(value).error();
  return isTruthy(*value);
}

namespace expr {

namespace {

Error unexpected(const std::exception& e) {
  return Error(ErrorKind::permanent, std::string("expression evaluation failed: ") + e.what());
}

// jsonpath, header and simple: the shared operator grammar over a language's operands.
class PredicateExpression final : public Expression {
 public:
  PredicateExpression(std::string_view language, std::string text, NodePtr root,
                      const Operand* operand)
      : Expression(std::move(text)),
        language_(language),
        root_(std::move(root)),
        operand_(operand) {}

  std::string_view language() const noexcept override { return language_; }

  // Nothing below throws by design; the catch keeps the promise that an exception (an
  // allocation failure, a library surprise) never escapes onto the message path.
  Result<Value> evaluate(const Exchange& exchange) const override {
    try {
      EvalContext ctx(exchange);
      return root_->eval(ctx);
    } catch (const std::exception& e) {
      return unexpected(e);
    }
  }

  Result<std::vector<Value>> select(const Exchange& exchange) const override {
    if (!operand_) return Expression::select(exchange);
    try {
      EvalContext ctx(exchange);
      return operand_->select(ctx);
    } catch (const std::exception& e) {
      return unexpected(e);
    }
  }

  Result<bool> test(const Exchange& exchange) const override {
    try {
      EvalContext ctx(exchange);
      return root_->truth(ctx);
    } catch (const std::exception& e) {
      return unexpected(e);
    }
  }

 private:
  std::string_view language_;  // always one of the static names in expressionLanguages()
  NodePtr root_;
  const Operand* operand_;  // owned by root_; set when the whole expression is one operand
};

class ConstantExpression final : public Expression {
 public:
  explicit ConstantExpression(std::string text) : Expression(std::move(text)) {}
  std::string_view language() const noexcept override { return "constant"; }
  Result<Value> evaluate(const Exchange&) const override { return Value(text()); }
};

CompiledExpression compilePredicate(std::string_view language, std::string_view text,
                                    const OperandParser& operand) {
  CompiledExpression out;
  ParseError error;
  ParsedPredicate parsed = parsePredicate(text, operand, error);
  if (!parsed.root) {
    out.error = ExpressionError{error.offset, std::move(error.message)};
    return out;
  }
  out.expression = std::make_shared<PredicateExpression>(language, std::string(text),
                                                         std::move(parsed.root), parsed.operand);
  return out;
}

}  // namespace

ExpressionPtr makeOperandExpression(std::string_view language, std::string text,
                                    OperandPtr operand) {
  const Operand* raw = operand.get();
  return std::make_shared<PredicateExpression>(language, std::move(text), std::move(operand), raw);
}

}  // namespace expr

const std::vector<std::string>& expressionLanguages() {
  static const std::vector<std::string> languages{"xpath", "jsonpath", "header", "simple",
                                                  "constant"};
  return languages;
}

CompiledExpression compileExpression(std::string_view language, std::string_view text) {
  if (language == "constant")
    return {std::make_shared<expr::ConstantExpression>(std::string(text)), std::nullopt};
  if (language == "xpath") return expr::compileXPath(text);
  if (language == "jsonpath")
    return expr::compilePredicate("jsonpath", text, expr::parseJsonPathOperand);
  if (language == "header") return expr::compilePredicate("header", text, expr::parseHeaderOperand);
  if (language == "simple") return expr::compilePredicate("simple", text, expr::parseSimpleOperand);

  std::string message = "unknown expression language '" + std::string(language) + "'";
  std::vector<std::string_view> names(expressionLanguages().begin(), expressionLanguages().end());
  if (auto guess = expr::suggest(language, names); !guess.empty()) {
    message += " (did you mean '" + std::string(guess) + "'?)";
  } else {
    message += "; known languages: xpath, jsonpath, header, simple, constant";
  }
  CompiledExpression out;
  out.error = ExpressionError{0, std::move(message)};
  return out;
}

Result<Template> Template::compile(std::string_view text, ExpressionError* error) {
  auto failure = [&](std::size_t offset, std::string message) -> Result<Template> {
    if (error) *error = ExpressionError{offset, message};
    return Error(ErrorKind::invalid, message + " (at offset " + std::to_string(offset) + ")");
  };

  Template out;
  out.text_ = std::string(text);
  std::string literal;
  std::size_t pos = 0;
  while (pos < text.size()) {
    if (text.substr(pos).starts_with("$${")) {
      literal += "${";
      pos += 3;
      continue;
    }
    if (!text.substr(pos).starts_with("${")) {
      literal.push_back(text[pos++]);
      continue;
    }
    std::size_t open = pos;
    if (text.find('}', open + 2) == std::string_view::npos) {
      return failure(open, "unterminated '${': missing '}' (write '$${' for a literal '${')");
    }
    expr::Cursor cursor(text, open + 2);
    cursor.skipSpace();
    std::size_t start = cursor.pos();
    if (cursor.peek() == '}') return failure(start, "empty placeholder '${}'");
    expr::ParseError parse_error;
    expr::OperandPtr operand = expr::parseSimpleOperand(cursor, parse_error);
    if (!operand) return failure(parse_error.offset, std::move(parse_error.message));
    std::size_t operand_end = cursor.pos();
    cursor.skipSpace();
    if (cursor.peek() != '}') {
      return failure(cursor.pos(), "expected '}' to close the '${' at offset " +
                                       std::to_string(open) + ", found " +
                                       expr::describeToken(text, cursor.pos()));
    }
    if (!literal.empty()) out.parts_.push_back(Part{std::move(literal), nullptr});
    literal.clear();
    std::string source(text.substr(start, operand_end - start));
    out.parts_.push_back(
        Part{{}, expr::makeOperandExpression("simple", std::move(source), std::move(operand))});
    pos = cursor.pos() + 1;
  }
  if (!literal.empty()) out.parts_.push_back(Part{std::move(literal), nullptr});
  return out;
}

Result<std::string> Template::render(const Exchange& exchange) const {
  std::string out;
  for (const auto& part : parts_) {
    if (!part.expression) {
      out += part.literal;
      continue;
    }
    Result<Value> value = part.expression->evaluate(exchange);
    if (!value) return std::move(value).error();
    out += toText(*value);
  }
  return out;
}

}  // namespace busway
