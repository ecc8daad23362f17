#include "smtp_text.hpp"

#include <map>

#include <gtest/gtest.h>

namespace busway::smtp {
namespace {

const Lookup kLookup = [](std::string_view operand) -> std::optional<std::string> {
  static const std::map<std::string, std::string, std::less<>> values{
      {"header.order", "A-17"}, {"header.to", "ann@example.org"}, {"id", "m1"}};
  const auto it = values.find(operand);
  if (it == values.end()) return std::nullopt;
  return it->second;
};

TEST(SmtpText, ExpandsHeadersAndIds) {
  EXPECT_EQ(expand("Order ${header.order} (${ id }) costs $5, $${header.order}", kLookup),
            "Order A-17 (m1) costs $5, ${header.order}");
}

TEST(SmtpText, MissingHeaderNamesIt) {
  try {
    expand("to ${header.missing}", kLookup);
    FAIL() << "no error";
  } catch (const TemplateError& e) {
    EXPECT_NE(std::string(e.what()).find("no header 'missing'"), std::string::npos) << e.what();
  }
}

TEST(SmtpText, CheckRefusesUnknownOperandsAndUnclosedBraces) {
  EXPECT_NO_THROW(checkTemplate("${header.a} ${body} ${mediaType} ${correlationId}"));
  EXPECT_THROW(checkTemplate("${headers.a}"), TemplateError);
  EXPECT_THROW(checkTemplate("${header.a"), TemplateError);
}

TEST(SmtpText, SplitsAddressLists) {
  EXPECT_EQ(splitAddresses(" a@x.org, \"Smith, Bob\" <b@y.org>; ,c@z "),
            (std::vector<std::string>{"a@x.org", "\"Smith, Bob\" <b@y.org>", "c@z"}));
  EXPECT_EQ(bareAddress("\"Smith, Bob\" <b@y.org>"), "b@y.org");
  EXPECT_EQ(bareAddress(" c@z "), "c@z");
}

}  // namespace
}  // namespace busway::smtp
