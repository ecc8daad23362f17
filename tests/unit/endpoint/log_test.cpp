// log: the endpoint that writes whole messages to the bus log, and the <log> step.
#include <gtest/gtest.h>

#include "route_harness.hpp"

namespace busway::testing {
namespace {

// What a route wrote to the log (stderr) while handling one message.
std::string logOf(RouteHarness& h, const std::string& uri, Message message) {
  ::testing::internal::CaptureStderr();
  auto exchange = h.send(uri, std::move(message));
  std::string out = ::testing::internal::GetCapturedStderr();
  EXPECT_TRUE(exchange && !exchange->failed());
  return out;
}

TEST(LogEndpointTest, WritesIdHeadersAndACutBody) {
  RouteHarness h;
  h.load(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <to uri="log:orders.dump?level=warn&amp;show-headers=true&amp;max-body=4"/></route>)"));
  Message m(Body::make("0123456789", std::string(media::text)));
  m.headers().set("k", std::string("v"));
  const std::string out = logOf(h, "direct:in", m);
  EXPECT_NE(out.find("WARN  [orders.dump] id=" + m.id()), std::string::npos) << out;
  EXPECT_NE(out.find("headers={k=v}"), std::string::npos) << out;
  EXPECT_NE(out.find("body=0123... (10 bytes)"), std::string::npos) << out;
}

TEST(LogEndpointTest, LevelsBelowTheThresholdWriteNothing) {
  RouteHarness h;
  h.load(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <to uri="log:quiet?level=debug"/><to uri="log:bodyless?show-body=false"/><to uri="mock:after"/></route>)"));
  const std::string out =
      logOf(h, "direct:in", Message(Body::make("secret", std::string(media::text))));
  EXPECT_EQ(out.find("[quiet]"), std::string::npos) << out;
  EXPECT_NE(out.find("[bodyless] id="), std::string::npos) << out;
  EXPECT_EQ(out.find("secret"), std::string::npos) << out;
  EXPECT_EQ(h.mock("after").count(), 1u);
}

TEST(LogEndpointTest, OnlyReceives) {
  RouteHarness h;
  auto d = h.loadWithErrors(
      RouteHarness::table(R"(<route id="r"><from uri="log:x"/><to uri="mock:a"/></route>)"));
  EXPECT_TRUE(d.hasErrors());
  EXPECT_NE(d.toString().find("log: can only receive messages"), std::string::npos) << d.toString();
}

TEST(LogStepTest, WritesTheRenderedTemplateAtItsLevelAndCategory) {
  RouteHarness h;
  h.load(RouteHarness::table(R"(<route id="orders"><from uri="direct:in"/>
      <log message="order ${$.id} for ${header.customer}" level="warn" category="orders.trace"/>
      <log/>
      <log message="not shown" level="debug"/></route>)"));
  Message m(Body::make(R"({"id": 7})", std::string(media::json)));
  m.headers().set("customer", std::string("c-1"));
  const std::string out = logOf(h, "direct:in", m);
  EXPECT_NE(out.find("WARN  [orders.trace] order 7 for c-1"), std::string::npos) << out;
  // Defaults: the body, at info, in the route's category.
  EXPECT_NE(out.find(R"(INFO  [orders] {"id": 7})"), std::string::npos) << out;
  EXPECT_EQ(out.find("not shown"), std::string::npos) << out;
}

}  // namespace
}  // namespace busway::testing
