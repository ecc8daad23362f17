// try/catch: which failures a catch takes, what the catch sees, and what goes on after.
#include <gtest/gtest.h>

#include "route_harness.hpp"

namespace busway::testing {
namespace {

TEST(TryCatchTest, ACaughtFailureRunsTheCatchAndTheRouteGoesOn) {
  RouteHarness h;
  h.load(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <try>
        <to uri="mock:stock?fail=1&amp;fail-kind=permanent"/>
        <to uri="mock:reserved"/>
        <catch on="permanent"><to uri="mock:parked"/></catch>
      </try>
      <to uri="mock:after"/></route>)"));
  auto first = h.sendBody("direct:in", R"({"id":1})");
  auto second = h.sendBody("direct:in", R"({"id":2})");
  ASSERT_TRUE(first && second);
  EXPECT_FALSE(first->failed()) << first->error->describe();
  EXPECT_FALSE(second->failed());
  // The failed step's followers in the try are skipped; the catch runs; the route goes on.
  EXPECT_EQ(h.mock("reserved").bodies(), std::vector<std::string>{R"({"id":2})"});
  ASSERT_EQ(h.mock("parked").count(), 1u);
  EXPECT_EQ(h.mock("parked").headers("busway.failure.kind"), std::vector<std::string>{"permanent"});
  EXPECT_NE(h.mock("parked").headers("busway.failure.reason")[0], "");
  EXPECT_EQ(h.mock("after").count(), 2u);
}

TEST(TryCatchTest, AFailureNoCatchTakesFailsTheRoute) {
  RouteHarness h;
  h.load(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <try>
        <to uri="mock:stock?fail=1&amp;fail-kind=transient"/>
        <catch on="permanent invalid"><to uri="mock:parked"/></catch>
      </try>
      <to uri="mock:after"/></route>)"));
  auto exchange = h.sendBody("direct:in", "{}");
  ASSERT_TRUE(exchange);
  ASSERT_TRUE(exchange->failed());
  EXPECT_EQ(exchange->error->kind, ErrorKind::transient);
  EXPECT_EQ(h.mock("parked").count(), 0u);
  EXPECT_EQ(h.mock("after").count(), 0u);
}

TEST(TryCatchTest, TheFirstMatchingCatchRunsAndACatchWithoutOnTakesEverything) {
  RouteHarness h;
  h.load(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <try>
        <to uri="mock:peer?fail=2&amp;fail-kind=timeout"/>
        <catch on="invalid"><to uri="mock:invalid"/></catch>
        <catch><to uri="mock:any"/><stop/></catch>
      </try>
      <to uri="mock:after"/></route>)"));
  auto exchange = h.sendBody("direct:in", "{}");
  ASSERT_TRUE(exchange);
  EXPECT_FALSE(exchange->failed());
  EXPECT_TRUE(exchange->stopped);  // <stop/> in a catch ends the route on purpose
  EXPECT_EQ(h.mock("invalid").count(), 0u);
  EXPECT_EQ(h.mock("any").headers("busway.failure.kind"), std::vector<std::string>{"timeout"});
  EXPECT_EQ(h.mock("after").count(), 0u);
}

TEST(TryCatchTest, AnAsynchronousFailureIsCaughtToo) {
  RouteHarness h;
  h.load(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <try>
        <to uri="mock:slow?fail=1&amp;fail-kind=permanent&amp;delay=20ms"/>
        <catch><to uri="mock:parked"/></catch>
      </try>
      <to uri="mock:after"/></route>)"));
  auto exchange = h.sendBody("direct:in", "{}");
  ASSERT_TRUE(exchange);
  EXPECT_FALSE(exchange->failed());
  EXPECT_EQ(h.mock("parked").count(), 1u);
  EXPECT_EQ(h.mock("after").count(), 1u);
}

TEST(TryCatchTest, LoadErrorsForAMissingCatchAndAnUnknownKind) {
  RouteHarness h;
  const auto diagnostics =
      h.loadWithErrors(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <try><to uri="mock:a"/></try>
      <try><to uri="mock:b"/><catch on="permanent sometimes"/><to uri="mock:c"/></try></route>)"));
  const std::string text = diagnostics.toString();
  EXPECT_NE(text.find("<try> needs at least one <catch>"), std::string::npos) << text;
  EXPECT_NE(text.find("not 'sometimes'"), std::string::npos) << text;
  EXPECT_NE(text.find("the steps of a <try> come before its <catch> elements"), std::string::npos)
      << text;
}

}  // namespace
}  // namespace busway::testing
