#include <gtest/gtest.h>

#include "route_harness.hpp"

namespace busway::testing {
namespace {

TEST(RouteHarness, RoutesAMessageToAMock) {
  RouteHarness h;
  h.load(RouteHarness::table(
      R"(<route id="r"><from uri="direct:in"/><set-header name="x" constant="1"/><to uri="mock:out"/></route>)"));
  auto exchange = h.sendBody("direct:in", R"({"a":1})");
  ASSERT_TRUE(exchange);
  EXPECT_FALSE(exchange->failed());
  ASSERT_EQ(h.mock("out").count(), 1u);
  EXPECT_EQ(h.mock("out").messages()[0].headers().text("x"), "1");
}

}  // namespace
}  // namespace busway::testing
