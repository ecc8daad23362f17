#include "busway/message/headers.hpp"

#include <gtest/gtest.h>

namespace busway {
namespace {

TEST(HeaderValueTest, TextFormsAreStable) {
  EXPECT_EQ(toText(HeaderValue{}), "");
  EXPECT_EQ(toText(HeaderValue{true}), "true");
  EXPECT_EQ(toText(HeaderValue{std::int64_t{-42}}), "-42");
  EXPECT_EQ(toText(HeaderValue{2.5}), "2.5");
  EXPECT_EQ(toText(HeaderValue{3.0}), "3");
  EXPECT_EQ(toText(HeaderValue{std::string("x")}), "x");
}

TEST(HeaderValueTest, Truthiness) {
  EXPECT_FALSE(isTruthy(HeaderValue{}));
  EXPECT_FALSE(isTruthy(HeaderValue{false}));
  EXPECT_FALSE(isTruthy(HeaderValue{std::int64_t{0}}));
  EXPECT_FALSE(isTruthy(HeaderValue{0.0}));
  EXPECT_FALSE(isTruthy(HeaderValue{std::string()}));
  EXPECT_FALSE(isTruthy(HeaderValue{std::string("FALSE")}));
  EXPECT_FALSE(isTruthy(HeaderValue{std::string("0")}));
  EXPECT_TRUE(isTruthy(HeaderValue{std::string("yes")}));
  EXPECT_TRUE(isTruthy(HeaderValue{std::int64_t{7}}));
  EXPECT_TRUE(isTruthy(HeaderValue{true}));
}

TEST(HeadersTest, NamesAreCaseInsensitiveAndKeepFirstSpelling) {
  Headers h;
  h.set("Content-Type", std::string("text/plain"));
  h.set("content-type", std::string("application/json"));
  ASSERT_EQ(h.size(), 1u);
  EXPECT_EQ(h.begin()->first, "Content-Type");
  EXPECT_EQ(h.text("CONTENT-TYPE"), "application/json");
  EXPECT_TRUE(h.contains("content-TYPE"));
  EXPECT_EQ(h.text("missing", "fallback"), "fallback");
  EXPECT_EQ(h.find("missing"), nullptr);
}

TEST(HeadersTest, KeepsInsertionOrderAndErases) {
  Headers h;
  h.set("b", std::int64_t{1});
  h.set("a", std::int64_t{2});
  h.set("c", std::int64_t{3});
  EXPECT_TRUE(h.erase("A"));
  EXPECT_FALSE(h.erase("a"));
  std::vector<std::string> names;
  for (const auto& [name, value] : h) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"b", "c"}));
  h.clear();
  EXPECT_TRUE(h.empty());
  EXPECT_EQ(h.begin(), h.end());
}

TEST(HeadersTest, EmptyHeadersIterate) {
  Headers h;
  EXPECT_EQ(h.begin(), h.end());
  EXPECT_EQ(h.size(), 0u);
}

TEST(HeadersTest, CopiesShareStorageUntilWritten) {
  Headers original;
  original.set("x", std::string("1"));
  Headers copy = original;
  // Shared: both point at the same value object.
  EXPECT_EQ(original.find("x"), copy.find("x"));

  copy.set("x", std::string("2"));
  EXPECT_NE(original.find("x"), copy.find("x"));
  EXPECT_EQ(original.text("x"), "1");
  EXPECT_EQ(copy.text("x"), "2");

  Headers third = original;
  EXPECT_TRUE(third.erase("x"));
  EXPECT_TRUE(original.contains("x"));
  EXPECT_FALSE(third.contains("x"));

  Headers fourth = original;
  fourth.clear();
  EXPECT_TRUE(original.contains("x"));
}

TEST(HeadersTest, SoleOwnerWritesInPlace) {
  Headers h;
  h.set("x", std::string("1"));
  const HeaderValue* before = h.find("x");
  h.set("x", std::string("2"));
  EXPECT_EQ(before, h.find("x"));  // no needless clone
}

TEST(HeadersTest, EqualsIgnoreCase) {
  EXPECT_TRUE(equalsIgnoreCase("X-Id", "x-ID"));
  EXPECT_FALSE(equalsIgnoreCase("x-id", "x-idd"));
  EXPECT_FALSE(equalsIgnoreCase("a", "b"));
}

}  // namespace
}  // namespace busway
