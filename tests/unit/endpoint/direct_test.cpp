// direct: synchronous in-process calls between routes.
#include <gtest/gtest.h>

#include "route_harness.hpp"

namespace busway::testing {
namespace {

TEST(DirectTest, NoConsumerIsATransientError) {
  RouteHarness h;
  h.load(RouteHarness::table(
      R"(<route id="r"><from uri="direct:in"/><to uri="direct:nobody"/><to uri="mock:after"/></route>)"));
  auto exchange = h.sendBody("direct:in", "{}");
  ASSERT_TRUE(exchange);
  ASSERT_TRUE(exchange->failed());
  EXPECT_EQ(exchange->error->kind, ErrorKind::transient);
  EXPECT_NE(exchange->error->message.find("direct:nobody"), std::string::npos)
      << exchange->error->message;
  EXPECT_EQ(h.mock("after").count(), 0u);

  // Sending straight to a name no route reads fails the same way.
  auto direct = h.sendBody("direct:nobody", "{}");
  ASSERT_TRUE(direct);
  ASSERT_TRUE(direct->failed());
  EXPECT_EQ(direct->error->kind, ErrorKind::transient);
}

TEST(DirectTest, StoppedRouteIsNotAConsumer) {
  RouteHarness h;
  h.load(RouteHarness::table(
      R"(<route id="off" autostart="false"><from uri="direct:off"/><to uri="mock:never"/></route>)"));
  auto exchange = h.sendBody("direct:off", "{}");
  ASSERT_TRUE(exchange);
  ASSERT_TRUE(exchange->failed());
  EXPECT_EQ(exchange->error->kind, ErrorKind::transient);
  EXPECT_EQ(h.mock("never").count(), 0u);
}

TEST(DirectTest, RunsTheCalledRouteOnTheCallersThread) {
  RouteHarness h;
  h.load(RouteHarness::table(R"(<route id="a"><from uri="direct:a"/><to uri="direct:b"/></route>
      <route id="b"><from uri="direct:b"/><to uri="mock:out"/></route>)"));
  auto exchange = h.sendBody("direct:a", "{}");
  ASSERT_TRUE(exchange);
  ASSERT_FALSE(exchange->failed());
  ASSERT_EQ(h.mock("out").threads().size(), 1u);
  EXPECT_EQ(h.mock("out").threads()[0], std::this_thread::get_id());
}

TEST(DirectTest, FailureInTheCalledRouteFailsTheCaller) {
  RouteHarness h;
  h.load(RouteHarness::table(
      R"(<route id="a"><from uri="direct:a"/><to uri="direct:b"/><to uri="mock:after"/></route>
      <route id="b"><from uri="direct:b"/><to uri="mock:down?fail=1&amp;fail-kind=permanent&amp;delay=5ms"/></route>)"));
  auto exchange = h.sendBody("direct:a", "{}");
  ASSERT_TRUE(exchange);
  ASSERT_TRUE(exchange->failed());
  EXPECT_EQ(exchange->error->kind, ErrorKind::permanent);
  EXPECT_EQ(h.mock("after").count(), 0u);
}

TEST(DirectTest, OneRoutePerName) {
  RouteHarness h;
  auto d = h.loadWithErrors(
      RouteHarness::table(R"(<route id="a"><from uri="direct:x"/><to uri="mock:a"/></route>
      <route id="b"><from uri="direct:x"/><to uri="mock:b"/></route>)"));
  EXPECT_TRUE(d.hasErrors());
  EXPECT_NE(d.toString().find("already consumed by route 'a'"), std::string::npos) << d.toString();
}

TEST(DirectTest, NeedsAName) {
  RouteHarness h;
  auto endpoint = h.context().components().resolve("direct:");
  ASSERT_FALSE(endpoint.ok());
  EXPECT_NE(endpoint.error().message.find("needs a name"), std::string::npos);
  auto option = h.context().components().resolve("direct:x?timeout=5s");
  ASSERT_FALSE(option.ok());
  EXPECT_NE(option.error().message.find("unknown option 'timeout'"), std::string::npos)
      << option.error().message;
}

}  // namespace
}  // namespace busway::testing
