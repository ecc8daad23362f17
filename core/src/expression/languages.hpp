#pragma once

#include <string>
#include <string_view>

#include "busway/expression/expression.hpp"
#include "grammar.hpp"

namespace busway::expr {

// Operand readers of the header and simple languages (jsonpath's is in json_path.hpp).
OperandPtr parseHeaderOperand(Cursor& cursor, ParseError& error);
OperandPtr parseSimpleOperand(Cursor& cursor, ParseError& error);

// An Expression that evaluates a single operand; templates hold their placeholders as these.
ExpressionPtr makeOperandExpression(std::string_view language, std::string text,
                                    OperandPtr operand);

// XPath lives in its own file so that only it includes pugixml's XPath machinery.
CompiledExpression compileXPath(std::string_view text);

}  // namespace busway::expr
