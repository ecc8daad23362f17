#include <gtest/gtest.h>

#include "busway/expression/expression.hpp"

namespace busway {
namespace {

constexpr const char* kDoc =
    "<?xml version='1.0'?><order id='17' country='NL'><total>149.5</total>"
    "<items><item sku='x1'>First <b>one</b></item><item sku='x2'>Second</item></items></order>";

Exchange exchangeWith(std::string body) {
  return Exchange(Message(Body::make(std::move(body), std::string(media::xml))));
}

ExpressionPtr compile(std::string_view text) {
  auto c = compileExpression("xpath", text);
  EXPECT_FALSE(c.error) << text << ": " << (c.error ? c.error->message : "");
  return c.expression;
}

Value evaluate(std::string_view text, const char* body = kDoc) {
  auto e = compile(text);
  if (!e) return Value();
  auto r = e->evaluate(exchangeWith(body));
  EXPECT_TRUE(r.ok()) << text;
  return r.ok() ? *r : Value();
}

TEST(XPathTest, NodeSetGivesFirstStringValue) {
  EXPECT_EQ(evaluate("/order/@id"), Value(std::string("17")));
  EXPECT_EQ(evaluate("//item"), Value(std::string("First one")));
  EXPECT_EQ(evaluate("//item[2]/@sku"), Value(std::string("x2")));
  EXPECT_EQ(evaluate("/order/total/text()"), Value(std::string("149.5")));
  EXPECT_EQ(evaluate("//missing"), Value());
}

TEST(XPathTest, ScalarResults) {
  EXPECT_EQ(evaluate("count(//item)"), Value(std::int64_t{2}));
  EXPECT_EQ(evaluate("/order/total * 2"),
            Value(std::int64_t{299}));  // integral doubles become integers
  EXPECT_EQ(evaluate("/order/total div 2"), Value(74.75));
  EXPECT_EQ(evaluate("concat(/order/@country, '-', /order/@id)"), Value(std::string("NL-17")));
  EXPECT_EQ(evaluate("/order/total > 100"), Value(true));
}

TEST(XPathTest, TestUsesXPathBoolean) {
  Exchange ex = exchangeWith(kDoc);
  EXPECT_TRUE(*compile("/order[@country='NL']")->test(ex));
  EXPECT_FALSE(*compile("/order[@country='DE']")->test(ex));
  EXPECT_TRUE(*compile("/order/total > 100 and count(//item) = 2")->test(ex));
  EXPECT_FALSE(*compile("string(/order/nothing)")->test(ex));
}

TEST(XPathTest, SelectSerializesNodes) {
  auto all = compile("//item")->select(exchangeWith(kDoc));
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(*all,
            (std::vector<Value>{Value(std::string("<item sku=\"x1\">First <b>one</b></item>")),
                                Value(std::string("<item sku=\"x2\">Second</item>"))}));
  auto attributes = compile("//item/@sku")->select(exchangeWith(kDoc));
  ASSERT_TRUE(attributes.ok());
  EXPECT_EQ(*attributes, (std::vector<Value>{Value(std::string("x1")), Value(std::string("x2"))}));
  auto count = compile("count(//item)")->select(exchangeWith(kDoc));
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(*count, std::vector<Value>{Value(std::int64_t{2})});
}

TEST(XPathTest, NamespacedDocumentsWithLocalName) {
  const char* body = "<p:order xmlns:p='urn:x'><p:id>5</p:id></p:order>";
  EXPECT_EQ(evaluate("/*[local-name()='order']/*[local-name()='id']", body),
            Value(std::string("5")));
}

TEST(XPathTest, CompileErrorHasPugiOffset) {
  auto c = compileExpression("xpath", "/order/[");
  ASSERT_TRUE(c.error);
  EXPECT_EQ(c.expression, nullptr);
  EXPECT_EQ(c.error->offset, 7u);
  EXPECT_NE(c.error->message.find("XPath"), std::string::npos);

  c = compileExpression("xpath", "count(//a");
  ASSERT_TRUE(c.error);
  EXPECT_EQ(c.error->offset, 9u);

  c = compileExpression("xpath", "nosuchfn(1)");
  ASSERT_TRUE(c.error);
  EXPECT_LE(c.error->offset, 11u);
}

TEST(XPathTest, NonXmlBodyIsInvalid) {
  auto e = compile("/a");
  for (auto r : {e->evaluate(exchangeWith("{\"a\":1}")), e->evaluate(exchangeWith("<a><b></a>"))}) {
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().kind, ErrorKind::invalid);
    EXPECT_NE(r.error().message.find("invalid XML at byte"), std::string::npos)
        << r.error().message;
  }
  auto t = e->test(exchangeWith("nope"));
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().kind, ErrorKind::invalid);
  auto s = e->select(exchangeWith(""));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().kind, ErrorKind::invalid);
}

}  // namespace
}  // namespace busway
