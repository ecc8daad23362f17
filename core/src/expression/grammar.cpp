#include "grammar.hpp"

#include <algorithm>
#include <charconv>
#include <system_error>

#include "busway/message/headers.hpp"

namespace busway::expr {

Result<bool> Node::truth(EvalContext& ctx) const {
  Result<Value> value = eval(ctx);
  if (!value) return std::move(value).error();
  return isTruthy(*value);
}

Result<std::vector<Value>> Operand::select(EvalContext& ctx) const {
  Result<Value> value = eval(ctx);
  if (!value) return std::move(value).error();
  std::vector<Value> out;
  if (!isNull(*value)) out.push_back(std::move(value).value());
  return out;
}

bool isNameStart(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
         static_cast<unsigned char>(c) >= 0x80;
}

bool isNameChar(char c) noexcept {
  return isNameStart(c) || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

void Cursor::skipSpace() noexcept {
  while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' ||
                                 text_[pos_] == '\r')) {
    ++pos_;
  }
}

bool Cursor::atKeyword(std::string_view word) const noexcept {
  return startsWith(word) && !isNameChar(peek(word.size()));
}

std::string_view Cursor::peekName() const noexcept {
  std::size_t end = pos_;
  while (end < text_.size() && isNameChar(text_[end])) ++end;
  return text_.substr(pos_, end - pos_);
}

std::string describeToken(std::string_view text, std::size_t pos) {
  if (pos >= text.size()) return "end of expression";
  Cursor cursor(text, pos);
  if (auto name = cursor.peekName(); !name.empty()) return "'" + std::string(name) + "'";
  for (std::string_view op : {"==", "!=", "<=", ">=", "&&", "||"}) {
    if (cursor.startsWith(op)) return "'" + std::string(op) + "'";
  }
  return "'" + std::string(1, text[pos]) + "'";
}

namespace {

std::size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t above = row[j];
      char x = static_cast<char>(a[i - 1] | 0x20);  // case-insensitive for ASCII letters
      char y = static_cast<char>(b[j - 1] | 0x20);
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (x == y ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

}  // namespace

std::string_view suggest(std::string_view word, const std::vector<std::string_view>& candidates) {
  std::string_view best;
  std::size_t best_distance =
      std::max<std::size_t>(1, word.size() / 3) + 1;  // accept distances below this
  for (auto candidate : candidates) {
    std::size_t d = editDistance(word, candidate);
    if (d < best_distance) {
      best = candidate;
      best_distance = d;
    }
  }
  return best;
}

namespace {

class LiteralNode final : public Node {
 public:
  explicit LiteralNode(Value value) : value_(std::move(value)) {}
  Result<Value> eval(EvalContext&) const override { return value_; }
  Result<bool> truth(EvalContext&) const override { return isTruthy(value_); }
  const Value* constant() const noexcept override { return &value_; }

 private:
  Value value_;
};

class NotNode final : public Node {
 public:
  explicit NotNode(NodePtr inner) : inner_(std::move(inner)) {}
  Result<Value> eval(EvalContext& ctx) const override {
    Result<bool> t = truth(ctx);
    if (!t) return std::move(t).error();
    return Value(*t);
  }
  Result<bool> truth(EvalContext& ctx) const override {
    Result<bool> t = inner_->truth(ctx);
    if (!t) return t;
    return !*t;
  }

 private:
  NodePtr inner_;
};

class LogicNode final : public Node {
 public:
  LogicNode(bool is_and, NodePtr left, NodePtr right)
      : is_and_(is_and), left_(std::move(left)), right_(std::move(right)) {}
  Result<Value> eval(EvalContext& ctx) const override {
    Result<bool> t = truth(ctx);
    if (!t) return std::move(t).error();
    return Value(*t);
  }
  Result<bool> truth(EvalContext& ctx) const override {
    Result<bool> left = left_->truth(ctx);
    // Short-circuit: the right side is not evaluated (and cannot fail) once the answer is known.
    if (!left || *left != is_and_) return left;
    return right_->truth(ctx);
  }

 private:
  bool is_and_;
  NodePtr left_;
  NodePtr right_;
};

enum class CompareOp { eq, ne, lt, le, gt, ge };

class CompareNode final : public Node {
 public:
  CompareNode(CompareOp op, NodePtr left, NodePtr right)
      : op_(op), left_(std::move(left)), right_(std::move(right)) {}
  Result<Value> eval(EvalContext& ctx) const override {
    Result<bool> t = truth(ctx);
    if (!t) return std::move(t).error();
    return Value(*t);
  }
  Result<bool> truth(EvalContext& ctx) const override {
    // Literals are compared in place; only operands produce a fresh Value.
    std::optional<Result<Value>> left_holder;
    std::optional<Result<Value>> right_holder;
    const Value* left = left_->constant();
    const Value* right = right_->constant();
    if (!left) {
      left_holder.emplace(left_->eval(ctx));
      if (!*left_holder) return left_holder->error();
      left = &left_holder->value();
    }
    if (!right) {
      right_holder.emplace(right_->eval(ctx));
      if (!*right_holder) return right_holder->error();
      right = &right_holder->value();
    }
    switch (op_) {
      case CompareOp::eq: return valuesEqual(*left, *right);
      case CompareOp::ne: return !valuesEqual(*left, *right);
      default: break;
    }
    int c = compareValues(*left, *right);
    if (c == 2) return false;  // not comparable: no ordering holds
    switch (op_) {
      case CompareOp::lt: return c < 0;
      case CompareOp::le: return c <= 0;
      case CompareOp::gt: return c > 0;
      case CompareOp::ge: return c >= 0;
      default: return false;
    }
  }

 private:
  CompareOp op_;
  NodePtr left_;
  NodePtr right_;
};

class ExistsNode final : public Node {
 public:
  explicit ExistsNode(OperandPtr operand) : operand_(std::move(operand)) {}
  Result<Value> eval(EvalContext& ctx) const override {
    Result<bool> t = truth(ctx);
    if (!t) return std::move(t).error();
    return Value(*t);
  }
  Result<bool> truth(EvalContext& ctx) const override { return operand_->exists(ctx); }

 private:
  OperandPtr operand_;
};

// Deep enough for any hand-written predicate; stops a hostile table from blowing the stack.
constexpr int kMaxDepth = 200;

class Parser {
 public:
  Parser(std::string_view text, const OperandParser& parse_operand, ParseError& error)
      : cursor_(text), parse_operand_(parse_operand), error_(error) {}

  ParsedPredicate parseAll() {
    ParsedPredicate out;
    cursor_.skipSpace();
    if (cursor_.atEnd()) {
      fail(cursor_.pos(), "empty expression");
      return out;
    }
    const Operand* single = nullptr;
    NodePtr root = parseOr(&single);
    if (!root) return out;
    cursor_.skipSpace();
    if (!cursor_.atEnd()) {
      std::size_t at = cursor_.pos();
      if (cursor_.peek() == ')') {
        fail(at, "unmatched ')'");
      } else if (cursor_.peek() == '=' && cursor_.peek(1) != '=') {
        fail(at, "'=' is not an operator; use '==' to compare");
      } else {
        fail(at, "unexpected " + describeToken(cursor_.text(), at) +
                     "; expected an operator (==, !=, <, and, or...)");
      }
      return out;
    }
    out.root = std::move(root);
    out.operand = single;
    return out;
  }

 private:
  std::nullptr_t fail(std::size_t offset, std::string message) {
    error_.offset = offset;
    error_.message = std::move(message);
    return nullptr;
  }

  // `single` reports whether the node is a bare operand, so select() can reach it.
  NodePtr parseOr(const Operand** single) {
    NodePtr left = parseAnd(single);
    while (left) {
      cursor_.skipSpace();
      std::size_t len = cursor_.atKeyword("or") ? 2 : (cursor_.startsWith("||") ? 2 : 0);
      if (len == 0) break;
      cursor_.advance(len);
      NodePtr right = parseAnd(nullptr);
      if (!right) return nullptr;
      left = std::make_unique<LogicNode>(false, std::move(left), std::move(right));
      if (single) *single = nullptr;
    }
    return left;
  }

  NodePtr parseAnd(const Operand** single) {
    NodePtr left = parseUnary(single);
    while (left) {
      cursor_.skipSpace();
      std::size_t len = cursor_.atKeyword("and") ? 3 : (cursor_.startsWith("&&") ? 2 : 0);
      if (len == 0) break;
      cursor_.advance(len);
      NodePtr right = parseUnary(nullptr);
      if (!right) return nullptr;
      left = std::make_unique<LogicNode>(true, std::move(left), std::move(right));
      if (single) *single = nullptr;
    }
    return left;
  }

  NodePtr parseUnary(const Operand** single) {
    cursor_.skipSpace();
    std::size_t len =
        cursor_.atKeyword("not") ? 3 : (cursor_.peek() == '!' && cursor_.peek(1) != '=' ? 1 : 0);
    if (len == 0) return parseComparison(single);
    if (++depth_ > kMaxDepth) return fail(cursor_.pos(), "expression nested too deeply");
    cursor_.advance(len);
    NodePtr inner = parseUnary(nullptr);
    --depth_;
    if (!inner) return nullptr;
    return std::make_unique<NotNode>(std::move(inner));
  }

  NodePtr parseComparison(const Operand** single) {
    NodePtr left = parsePrimary(single);
    if (!left) return nullptr;
    cursor_.skipSpace();
    std::size_t at = cursor_.pos();
    std::optional<CompareOp> op = readOperator();
    if (!op) {
      if (cursor_.peek() == '=') return fail(at, "'=' is not an operator; use '==' to compare");
      return left;
    }
    if (single) *single = nullptr;
    NodePtr right = parsePrimary(nullptr);
    if (!right) return nullptr;
    cursor_.skipSpace();
    std::size_t next = cursor_.pos();
    if (readOperator()) return fail(next, "comparisons cannot be chained; combine them with 'and'");
    return std::make_unique<CompareNode>(*op, std::move(left), std::move(right));
  }

  std::optional<CompareOp> readOperator() {
    struct Entry {
      std::string_view text;
      CompareOp op;
    };
    static constexpr Entry kOperators[] = {{"==", CompareOp::eq}, {"!=", CompareOp::ne},
                                           {"<=", CompareOp::le}, {">=", CompareOp::ge},
                                           {"<", CompareOp::lt},  {">", CompareOp::gt}};
    for (const auto& entry : kOperators) {
      if (cursor_.startsWith(entry.text)) {
        cursor_.advance(entry.text.size());
        return entry.op;
      }
    }
    return std::nullopt;
  }

  NodePtr parsePrimary(const Operand** single) {
    cursor_.skipSpace();
    std::size_t at = cursor_.pos();
    if (cursor_.atEnd()) return fail(at, "unexpected end of expression; expected a value");
    char c = cursor_.peek();
    if (c == '(') {
      if (++depth_ > kMaxDepth) return fail(at, "expression nested too deeply");
      cursor_.advance();
      NodePtr inner = parseOr(nullptr);
      --depth_;
      if (!inner) return nullptr;
      cursor_.skipSpace();
      if (cursor_.peek() != ')') {
        return fail(cursor_.pos(), "expected ')' to close the '(' at offset " + std::to_string(at) +
                                       ", found " + describeToken(cursor_.text(), cursor_.pos()));
      }
      cursor_.advance();
      return inner;
    }
    if (c == '\'' || c == '"') return parseString();
    if ((c >= '0' && c <= '9') ||
        ((c == '-' || c == '.') && cursor_.peek(1) >= '0' && cursor_.peek(1) <= '9')) {
      return parseNumber();
    }
    if (cursor_.atKeyword("true")) {
      cursor_.advance(4);
      return std::make_unique<LiteralNode>(Value(true));
    }
    if (cursor_.atKeyword("false")) {
      cursor_.advance(5);
      return std::make_unique<LiteralNode>(Value(false));
    }
    if (cursor_.atKeyword("null")) {
      cursor_.advance(4);
      return std::make_unique<LiteralNode>(Value());
    }
    for (std::string_view op : {"and", "or", "not"}) {
      if (cursor_.atKeyword(op))
        return fail(at, "expected a value before '" + std::string(op) + "'");
    }
    if (isNameStart(c)) {
      // A word followed by '(' is a function call; exists() is the only function.
      std::size_t end = at;
      while (end < cursor_.text().size() && isNameChar(cursor_.text()[end])) ++end;
      std::string_view word = cursor_.text().substr(at, end - at);
      Cursor after(cursor_.text(), end);
      after.skipSpace();
      if (after.peek() == '(') {
        if (word == "exists") {
          cursor_.setPos(after.pos() + 1);
          return parseExists(at);
        }
        std::string message = "unknown function '" + std::string(word) + "'";
        if (suggest(word, {"exists"}) == "exists")
          message += " (did you mean 'exists'?)";
        else
          message += "; the only function is exists(...)";
        return fail(at, std::move(message));
      }
    }
    if (c == ')' || c == '=' || c == '<' || c == '>' || c == '&' || c == '|' || c == '!') {
      return fail(at, "unexpected " + describeToken(cursor_.text(), at) + "; expected a value");
    }
    OperandPtr operand = parse_operand_(cursor_, error_);
    if (!operand) return nullptr;
    if (single) *single = operand.get();
    return operand;
  }

  NodePtr parseExists(std::size_t at) {
    cursor_.skipSpace();
    std::size_t arg = cursor_.pos();
    char c = cursor_.peek();
    if (cursor_.atEnd() || c == ')' || c == '\'' || c == '"' || c == '(' ||
        (c >= '0' && c <= '9')) {
      return fail(arg,
                  "exists() takes a path or a name, found " + describeToken(cursor_.text(), arg));
    }
    OperandPtr operand = parse_operand_(cursor_, error_);
    if (!operand) return nullptr;
    cursor_.skipSpace();
    if (cursor_.peek() != ')') {
      return fail(cursor_.pos(), "expected ')' to close exists( at offset " + std::to_string(at) +
                                     ", found " + describeToken(cursor_.text(), cursor_.pos()));
    }
    cursor_.advance();
    return std::make_unique<ExistsNode>(std::move(operand));
  }

  NodePtr parseString() {
    std::size_t at = cursor_.pos();
    char quote = cursor_.peek();
    cursor_.advance();
    std::string out;
    while (!cursor_.atEnd()) {
      char c = cursor_.peek();
      cursor_.advance();
      if (c == quote) return std::make_unique<LiteralNode>(Value(std::move(out)));
      if (c == '\\') {
        if (cursor_.atEnd()) break;
        char e = cursor_.peek();
        cursor_.advance();
        switch (e) {
          case 'n': out.push_back('\n'); break;
          case 't': out.push_back('\t'); break;
          case 'r': out.push_back('\r'); break;
          default: out.push_back(e); break;  // \' \" \\ and anything else: the character itself
        }
        continue;
      }
      out.push_back(c);
    }
    return fail(at, std::string("unterminated string: missing closing ") + quote);
  }

  NodePtr parseNumber() {
    std::size_t at = cursor_.pos();
    std::string_view rest = cursor_.text().substr(at);
    std::size_t end = 0;
    if (end < rest.size() && rest[end] == '-') ++end;
    bool integral = true;
    auto digits = [&] {
      while (end < rest.size() && rest[end] >= '0' && rest[end] <= '9') ++end;
    };
    digits();
    if (end < rest.size() && rest[end] == '.') {
      integral = false;
      ++end;
      digits();
    }
    if (end < rest.size() && (rest[end] == 'e' || rest[end] == 'E')) {
      integral = false;
      ++end;
      if (end < rest.size() && (rest[end] == '+' || rest[end] == '-')) ++end;
      std::size_t before = end;
      digits();
      if (end == before) return fail(at + end, "malformed number: expected digits in the exponent");
    }
    if (end < rest.size() && isNameStart(rest[end])) {
      return fail(at + end,
                  "malformed number: unexpected " + describeToken(cursor_.text(), at + end));
    }
    std::string_view number = rest.substr(0, end);
    cursor_.advance(end);
    if (integral) {
      std::int64_t i = 0;
      auto [ptr, ec] = std::from_chars(number.data(), number.data() + number.size(), i);
      if (ec == std::errc() && ptr == number.data() + number.size())
        return std::make_unique<LiteralNode>(Value(i));
      // Too big for 64 bits: fall through and keep it as a double.
    }
    double d = 0;
    auto [ptr, ec] = std::from_chars(number.data(), number.data() + number.size(), d);
    if (ec != std::errc() || ptr != number.data() + number.size()) {
      return fail(at, "malformed number '" + std::string(number) + "'");
    }
    return std::make_unique<LiteralNode>(Value(d));
  }

  Cursor cursor_;
  const OperandParser& parse_operand_;
  ParseError& error_;
  int depth_ = 0;
};

}  // namespace

ParsedPredicate parsePredicate(std::string_view text, const OperandParser& parseOperand,
                               ParseError& error) {
  Parser parser(text, parseOperand, error);
  return parser.parseAll();
}

}  // namespace busway::expr
