// The header, simple and constant languages, and compileExpression itself.
#include <gtest/gtest.h>

#include "busway/expression/expression.hpp"

namespace busway {
namespace {

Exchange sample() {
  Message m(Body::make(R"({"total": 250, "customer": {"id": "c-9"}})", std::string(media::json)));
  m.setId("msg-1");
  m.setCorrelationId("corr-1");
  m.headers().set("priority", std::string("high"));
  m.headers().set("X-Retries", std::int64_t{3});
  m.headers().set("x-test", false);
  m.headers().set("amount", std::string("12.50"));
  m.headers().set("app.kind", std::string("order"));
  m.headers().set("empty", std::monostate{});
  return Exchange(std::move(m));
}

Result<bool> test(std::string_view language, std::string_view text) {
  CompiledExpression c = compileExpression(language, text);
  EXPECT_FALSE(c.error) << text << ": " << (c.error ? c.error->message : "");
  if (!c.expression) return Error(ErrorKind::permanent, "did not compile");
  return c.expression->test(sample());
}

bool holds(std::string_view language, std::string_view text) {
  auto r = test(language, text);
  EXPECT_TRUE(r.ok()) << text << ": " << (r.ok() ? "" : r.error().message);
  return r.ok() && *r;
}

Value evaluate(std::string_view language, std::string_view text) {
  CompiledExpression c = compileExpression(language, text);
  EXPECT_FALSE(c.error) << text;
  if (!c.expression) return Value();
  auto r = c.expression->evaluate(sample());
  EXPECT_TRUE(r.ok()) << text;
  return r.ok() ? *r : Value();
}

std::optional<ExpressionError> errorOf(std::string_view language, std::string_view text) {
  CompiledExpression c = compileExpression(language, text);
  EXPECT_TRUE(c.error) << text << " compiled but should not";
  return c.error;
}

TEST(HeaderLanguageTest, ValuesAreTyped) {
  EXPECT_EQ(evaluate("header", "priority"), Value(std::string("high")));
  EXPECT_EQ(evaluate("header", "x-retries"), Value(std::int64_t{3}));
  EXPECT_EQ(evaluate("header", "X-Test"), Value(false));
  EXPECT_EQ(evaluate("header", "app.kind"), Value(std::string("order")));
  EXPECT_EQ(evaluate("header", "nope"), Value());
}

TEST(HeaderLanguageTest, Predicates) {
  EXPECT_TRUE(holds("header", "priority == 'high'"));
  EXPECT_TRUE(holds("header", "priority == 'high' and not exists(x-missing)"));
  EXPECT_TRUE(holds("header", "x-retries >= 3 and x-retries < 4"));
  EXPECT_TRUE(holds("header", "x-retries == '3'"));
  EXPECT_TRUE(holds("header", "amount > 12"));  // numeric string against a number
  EXPECT_TRUE(holds("header", "amount == 12.5"));
  EXPECT_TRUE(holds("header", "exists(x-test) and not x-test"));
  EXPECT_TRUE(holds("header", "exists(empty) and empty == null"));
  EXPECT_FALSE(holds("header", "missing"));
  EXPECT_TRUE(holds("header", "priority"));
  EXPECT_TRUE(holds("header", "not-a-header == null"));  // `not-...` is a name, not `not`
  EXPECT_TRUE(holds("header", "priority=='high'||false"));
}

TEST(HeaderLanguageTest, Errors) {
  auto e = errorOf("header", "priority == ");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->offset, 12u);
  e = errorOf("header", "priority = 'high'");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->offset, 9u);
  EXPECT_NE(e->message.find("'=='"), std::string::npos);
  e = errorOf("header", "lower(priority) == 'high'");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->offset, 0u);
  EXPECT_NE(e->message.find("unknown function 'lower'"), std::string::npos);
  e = errorOf("header", "priority == 'high' and $.x");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->offset, 23u);
}

TEST(SimpleLanguageTest, Operands) {
  EXPECT_EQ(evaluate("simple", "header.priority"), Value(std::string("high")));
  EXPECT_EQ(evaluate("simple", "header.X-RETRIES"), Value(std::int64_t{3}));
  EXPECT_EQ(evaluate("simple", "id"), Value(std::string("msg-1")));
  EXPECT_EQ(evaluate("simple", "correlationId"), Value(std::string("corr-1")));
  EXPECT_EQ(evaluate("simple", "$.customer.id"), Value(std::string("c-9")));
  EXPECT_EQ(evaluate("simple", "body"),
            Value(std::string(R"({"total": 250, "customer": {"id": "c-9"}})")));
  EXPECT_EQ(evaluate("simple", "'literal'"), Value(std::string("literal")));
}

TEST(SimpleLanguageTest, Predicates) {
  EXPECT_TRUE(holds("simple", "header.priority == 'high' and $.total > 100"));
  EXPECT_TRUE(holds("simple", "header.app.kind == 'order'"));
  EXPECT_TRUE(holds("simple", "exists(header.priority) and exists($.customer) and exists(body)"));
  EXPECT_FALSE(holds("simple", "exists(header.nope) or exists($.nope)"));
  EXPECT_TRUE(holds("simple", "id != correlationId"));
  EXPECT_TRUE(holds("simple", "(header.x-retries > 5 or $.total == 250) and not header.x-test"));
}

TEST(SimpleLanguageTest, SelectOfAJsonPathOperand) {
  auto c = compileExpression("simple", "$.customer.*");
  ASSERT_TRUE(c.expression);
  auto all = c.expression->select(sample());
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(*all, std::vector<Value>{Value(std::string("c-9"))});
}

TEST(SimpleLanguageTest, Errors) {
  auto e = errorOf("simple", "headers.priority == 'x'");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->offset, 0u);
  EXPECT_NE(e->message.find("did you mean 'header.NAME'"), std::string::npos) << e->message;
  e = errorOf("simple", "correlationid == 'x'");
  ASSERT_TRUE(e);
  EXPECT_NE(e->message.find("did you mean 'correlationId'"), std::string::npos) << e->message;
  e = errorOf("simple", "header. == 1");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->offset, 7u);
  e = errorOf("simple", "header == 1");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->offset, 6u);
  e = errorOf("simple", "id == 1 and $.a[");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->offset, 16u);
}

TEST(SimpleLanguageTest, JsonOperandOnNonJsonBodyIsInvalid) {
  auto c = compileExpression("simple", "header.priority == 'high' and $.total > 1");
  ASSERT_TRUE(c.expression);
  Exchange ex(Message(Body::make("plain text", std::string(media::text))));
  ex.message.headers().set("priority", std::string("high"));
  auto r = c.expression->test(ex);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::invalid);
}

TEST(ConstantLanguageTest, IsTheText) {
  EXPECT_EQ(evaluate("constant", "hello $.x ${y}"), Value(std::string("hello $.x ${y}")));
  EXPECT_TRUE(holds("constant", "yes"));
  EXPECT_FALSE(holds("constant", "false"));
  auto c = compileExpression("constant", "");
  ASSERT_TRUE(c.expression);
  EXPECT_EQ(c.expression->language(), "constant");
}

TEST(CompileExpressionTest, LanguagesAndUnknownLanguage) {
  EXPECT_EQ(expressionLanguages(),
            (std::vector<std::string>{"xpath", "jsonpath", "header", "simple", "constant"}));
  for (const auto& language : expressionLanguages()) {
    auto c = compileExpression(
        language, language == "xpath" ? "/a" : (language == "jsonpath" ? "$.a" : "id"));
    ASSERT_TRUE(c.expression) << language;
    EXPECT_EQ(c.expression->language(), language);
    EXPECT_EQ(c.expression->text(),
              language == "xpath" ? "/a" : (language == "jsonpath" ? "$.a" : "id"));
  }
  auto c = compileExpression("jsonpth", "$.a");
  ASSERT_TRUE(c.error);
  EXPECT_EQ(c.expression, nullptr);
  EXPECT_NE(c.error->message.find("did you mean 'jsonpath'"), std::string::npos)
      << c.error->message;
  c = compileExpression("groovy", "x");
  ASSERT_TRUE(c.error);
  EXPECT_NE(c.error->message.find("known languages"), std::string::npos);
}

TEST(CompileExpressionTest, EmptyTextIsAnError) {
  for (const char* language : {"jsonpath", "header", "simple", "xpath"}) {
    auto c = compileExpression(language, "");
    EXPECT_TRUE(c.error) << language;
  }
}

}  // namespace
}  // namespace busway
