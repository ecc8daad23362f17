#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "grammar.hpp"

namespace busway::expr {

// A compiled JSON path: $, .name, ['name'], [0], [-1], [*], .*, ..name (recursive descent).
//
// Simple paths (names and indexes only) are answered straight from the bytes with
// simdjson On-Demand while the body has no DOM yet: most predicates read two or three
// fields of a message that nothing else parses, and building a DOM for that costs ten
// times more than the lookup. Everything else uses the body's cached nlohmann DOM.
//
// The price of On-Demand: it validates only what the lookup reads. A body that is broken
// after (or beside) the fields a predicate reads can still answer that predicate; any
// error On-Demand does see sends the lookup to the DOM, whose parser explains it.
class JsonPath {
 public:
  struct Step {
    enum class Kind { key, index, wildcard };
    Kind kind = Kind::key;
    bool recursive = false;  // ..step
    std::string key;
    std::int64_t index = 0;
  };

  // Parses a path with the cursor on '$'; stops at the first character that cannot
  // continue the path.
  static bool parse(Cursor& cursor, JsonPath& out, ParseError& error);

  bool isSimple() const noexcept { return simple_; }
  const std::vector<Step>& steps() const noexcept { return steps_; }

  Result<Value> first(EvalContext& ctx) const;
  Result<bool> exists(EvalContext& ctx) const;
  Result<std::vector<Value>> all(EvalContext& ctx) const;

 private:
  std::vector<Step> steps_;
  bool simple_ = true;
  bool fast_ = true;  // simple, and every key can be matched against raw JSON bytes
};

class JsonPathOperand final : public Operand {
 public:
  explicit JsonPathOperand(JsonPath path) : path_(std::move(path)) {}
  Result<Value> eval(EvalContext& ctx) const override { return path_.first(ctx); }
  Result<bool> exists(EvalContext& ctx) const override { return path_.exists(ctx); }
  Result<std::vector<Value>> select(EvalContext& ctx) const override { return path_.all(ctx); }

 private:
  JsonPath path_;
};

// Operand parser for the jsonpath language (and the $ operands of simple).
OperandPtr parseJsonPathOperand(Cursor& cursor, ParseError& error);

}  // namespace busway::expr
