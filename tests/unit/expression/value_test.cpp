#include "busway/expression/value.hpp"

#include <gtest/gtest.h>

namespace busway {
namespace {

Value str(const char* s) { return Value(std::string(s)); }
Value num(std::int64_t i) { return Value(i); }

TEST(ValueTest, NumbersCompareNumericallyAcrossTypes) {
  EXPECT_TRUE(valuesEqual(num(10), Value(10.0)));
  EXPECT_TRUE(valuesEqual(num(10), str("10")));
  EXPECT_TRUE(valuesEqual(str(" 10.0 "), num(10)));
  EXPECT_EQ(compareValues(str("9"), num(10)), -1);
  EXPECT_EQ(compareValues(num(100), Value(99.5)), 1);
  EXPECT_EQ(compareValues(num(-1), num(-1)), 0);
}

TEST(ValueTest, LargeIntegersStayExact) {
  std::int64_t big = 9007199254740993;  // not representable as a double
  EXPECT_FALSE(valuesEqual(num(big), num(big - 1)));
  EXPECT_EQ(compareValues(num(big), num(big - 1)), 1);
}

TEST(ValueTest, StringsCompareLexicographically) {
  EXPECT_EQ(compareValues(str("abc"), str("abd")), -1);
  EXPECT_EQ(compareValues(str("10"), str("9")), -1);  // both strings: text order
  EXPECT_TRUE(valuesEqual(str("NL"), str("NL")));
  EXPECT_FALSE(valuesEqual(str("NL"), str("nl")));
}

TEST(ValueTest, NullAndIncomparable) {
  EXPECT_TRUE(valuesEqual(Value(), Value()));
  EXPECT_FALSE(valuesEqual(Value(), num(0)));
  EXPECT_FALSE(valuesEqual(Value(), str("")));
  EXPECT_EQ(compareValues(str("abc"), num(1)), 2);
  EXPECT_EQ(compareValues(Value(), num(1)), 2);
  EXPECT_EQ(compareValues(Value(std::nan("")), num(1)), 2);
  EXPECT_TRUE(isNull(Value(nlohmann::json())));
}

TEST(ValueTest, BooleansMatchTheirText) {
  EXPECT_TRUE(valuesEqual(Value(true), str("true")));
  EXPECT_TRUE(valuesEqual(str("False"), Value(false)));
  EXPECT_FALSE(valuesEqual(Value(true), num(1)));
}

TEST(ValueTest, JsonValues) {
  Value array(nlohmann::json::array({1, 2}));
  EXPECT_TRUE(valuesEqual(array, Value(nlohmann::json::parse("[1,2]"))));
  EXPECT_EQ(toText(array), "[1,2]");
  EXPECT_TRUE(isTruthy(array));
  EXPECT_FALSE(isTruthy(Value(nlohmann::json::array())));
  // Scalars wrapped in json behave as the scalars they are.
  EXPECT_TRUE(valuesEqual(Value(nlohmann::json(5)), str("5")));
  EXPECT_EQ(toText(Value(nlohmann::json("s"))), "s");
}

TEST(ValueTest, HeaderConversions) {
  EXPECT_EQ(std::get<std::int64_t>(fromHeader(HeaderValue(std::int64_t{3}))), 3);
  EXPECT_EQ(std::get<std::string>(toHeader(Value(nlohmann::json{{"a", 1}}))), R"({"a":1})");
  EXPECT_TRUE(std::holds_alternative<std::monostate>(toHeader(Value())));
  EXPECT_EQ(toText(Value(2.25)), "2.25");
  EXPECT_EQ(toText(Value()), "");
}

}  // namespace
}  // namespace busway
