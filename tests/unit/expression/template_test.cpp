#include <gtest/gtest.h>

#include "busway/expression/expression.hpp"

namespace busway {
namespace {

Exchange sample() {
  Message m(Body::make(R"({"id": 42, "customer": {"name": "Ada"}, "tags": ["a", "b"]})",
                       std::string(media::json)));
  m.setId("msg-1");
  m.headers().set("customer", std::string("acme"));
  m.headers().set("n", std::int64_t{7});
  return Exchange(std::move(m));
}

std::string render(std::string_view text, const Exchange& ex = sample()) {
  ExpressionError error;
  auto t = Template::compile(text, &error);
  EXPECT_TRUE(t.ok()) << text << ": " << error.message;
  if (!t.ok()) return {};
  auto r = t->render(ex);
  EXPECT_TRUE(r.ok()) << text << ": " << (r.ok() ? "" : r.error().message);
  return r.ok() ? *r : std::string();
}

ExpressionError compileError(std::string_view text) {
  ExpressionError error;
  auto t = Template::compile(text, &error);
  EXPECT_FALSE(t.ok()) << text << " compiled but should not";
  if (!t.ok()) {
    EXPECT_EQ(t.error().kind, ErrorKind::invalid);
    EXPECT_NE(t.error().message.find(error.message), std::string::npos);
  }
  return error;
}

TEST(TemplateTest, RendersPlaceholders) {
  EXPECT_EQ(render("order ${$.id} for ${header.customer}"), "order 42 for acme");
  EXPECT_EQ(render("${id}/${header.n}"), "msg-1/7");
  EXPECT_EQ(render("name=${ $.customer.name }"), "name=Ada");
  EXPECT_EQ(render("${$.tags}"), R"(["a","b"])");
  EXPECT_EQ(render("missing=[${header.nope}]"), "missing=[]");
  EXPECT_EQ(render("${body}"), R"({"id": 42, "customer": {"name": "Ada"}, "tags": ["a", "b"]})");
  EXPECT_EQ(render("${$['customer']['name']}"), "Ada");
}

TEST(TemplateTest, LiteralsAndEscapes) {
  EXPECT_EQ(render(""), "");
  EXPECT_EQ(render("plain text"), "plain text");
  EXPECT_EQ(render("cost $5 {x} $"), "cost $5 {x} $");
  EXPECT_EQ(render("$${header.customer}"), "${header.customer}");
  EXPECT_EQ(render("a$${b}${header.customer}"), "a${b}acme");
}

TEST(TemplateTest, ConstantDetection) {
  EXPECT_TRUE(Template::compile("").value().isConstant());
  EXPECT_TRUE(Template::compile("just text").value().isConstant());
  EXPECT_TRUE(Template::compile("$${not} a placeholder").value().isConstant());
  EXPECT_FALSE(Template::compile("${id}").value().isConstant());
  EXPECT_FALSE(Template::compile("x ${id}").value().isConstant());
  EXPECT_EQ(Template::compile("x ${id}").value().text(), "x ${id}");
}

TEST(TemplateTest, ErrorsHaveOffsets) {
  ExpressionError e = compileError("abc ${header.x");
  EXPECT_EQ(e.offset, 4u);
  EXPECT_NE(e.message.find("unterminated"), std::string::npos);
  EXPECT_EQ(compileError("${").offset, 0u);
  EXPECT_EQ(compileError("ok ${nope}").offset, 5u);
  EXPECT_EQ(compileError("${header.x y}").offset, 11u);
  EXPECT_EQ(compileError("${}").offset, 2u);
  EXPECT_EQ(compileError("${$.a[}").offset, 6u);
  ExpressionError suggestion = compileError("${correlationID}");
  EXPECT_NE(suggestion.message.find("did you mean 'correlationId'"), std::string::npos)
      << suggestion.message;
}

TEST(TemplateTest, RenderFailsOnUnreadableBody) {
  auto t = Template::compile("total ${$.total}");
  ASSERT_TRUE(t.ok());
  auto r = t->render(Exchange(Message(Body::make("not json"))));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::invalid);
}

}  // namespace
}  // namespace busway
