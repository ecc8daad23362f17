// enrich (request-reply and merge) and wire-tap (fire and forget).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "route_harness.hpp"

namespace busway::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// A lookup route that answers request-reply with a fixed JSON document.
std::string lookup(const std::string& reply_json) {
  return R"(<route id="lookup"><from uri="direct:lookup"/><to uri="mock:lookup-seen"/>
      <set-body media-type="application/json">)" +
         reply_json + R"(</set-body></route>)";
}

TEST(EnrichTest, ReplaceTakesTheReplyBody) {
  RouteHarness h;
  h.load(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <enrich uri="mock:svc?reply=fresh&amp;delay=10ms"/><to uri="mock:after"/></route>)"));
  Message m(Body::make("stale", std::string(media::text)));
  m.headers().set("keep", std::string("me"));
  auto exchange = h.send("direct:in", m);
  ASSERT_TRUE(exchange);
  ASSERT_FALSE(exchange->failed());
  EXPECT_EQ(h.mock("svc").bodies(), std::vector<std::string>{"stale"});
  ASSERT_EQ(h.mock("after").count(), 1u);
  EXPECT_EQ(h.mock("after").messages()[0].bodyText(), "fresh");
  EXPECT_EQ(h.mock("after").messages()[0].headers().text("keep"), "me");
}

TEST(EnrichTest, MergeFieldAndHeaderStrategies) {
  RouteHarness h;
  h.load(RouteHarness::table(lookup(R"({"customer": {"id": "c-1"}, "tier": "gold"})") + R"(
      <route id="r"><from uri="direct:in"/>
      <enrich uri="direct:lookup" strategy="merge"/><to uri="mock:merged"/>
      <set-body constant="{&quot;id&quot;: 1}" media-type="application/json"/>
      <enrich uri="direct:lookup" strategy="field:extra"/><to uri="mock:field"/>
      <enrich uri="direct:lookup" strategy="header:raw"/><to uri="mock:header"/></route>)"));
  auto exchange = h.sendBody("direct:in", R"({"id": 1, "tier": "silver"})");
  ASSERT_TRUE(exchange);
  ASSERT_FALSE(exchange->failed()) << exchange->error->describe();
  EXPECT_EQ(h.mock("lookup-seen").count(), 3u);
  ASSERT_EQ(h.mock("merged").count(), 1u);
  EXPECT_EQ(nlohmann::json::parse(h.mock("merged").messages()[0].bodyText()),
            nlohmann::json::parse(R"({"id": 1, "tier": "gold", "customer": {"id": "c-1"}})"));
  ASSERT_EQ(h.mock("field").count(), 1u);
  EXPECT_EQ(
      nlohmann::json::parse(h.mock("field").messages()[0].bodyText()),
      nlohmann::json::parse(R"({"id": 1, "extra": {"customer": {"id": "c-1"}, "tier": "gold"}})"));
  ASSERT_EQ(h.mock("header").count(), 1u);
  EXPECT_EQ(nlohmann::json::parse(h.mock("header").messages()[0].headers().text("raw")),
            nlohmann::json::parse(R"({"customer": {"id": "c-1"}, "tier": "gold"})"));
  EXPECT_EQ(h.mock("header").messages()[0].bodyText(), h.mock("field").messages()[0].bodyText());
}

TEST(EnrichTest, MergeIntoANonJsonBodyFailsAsInvalid) {
  RouteHarness h;
  h.load(RouteHarness::table(lookup(R"({"a": 1})") + R"(
      <route id="r"><from uri="direct:in"/><enrich uri="direct:lookup" strategy="merge"/><to uri="mock:after"/></route>)"));
  auto exchange = h.sendBody("direct:in", "plain", std::string(media::text));
  ASSERT_TRUE(exchange);
  ASSERT_TRUE(exchange->failed());
  EXPECT_EQ(exchange->error->kind, ErrorKind::invalid);
  EXPECT_EQ(h.mock("after").count(), 0u);
}

TEST(EnrichTest, FailureOfTheLookupFailsTheRouteWithItsKind) {
  RouteHarness h;
  h.load(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <enrich uri="mock:svc?fail=1&amp;fail-kind=timeout&amp;delay=5ms"/><to uri="mock:after"/></route>)"));
  auto exchange = h.sendBody("direct:in", "{}");
  ASSERT_TRUE(exchange);
  ASSERT_TRUE(exchange->failed());
  EXPECT_EQ(exchange->error->kind, ErrorKind::timeout);
  EXPECT_NE(exchange->error->message.find("enrich from mock:svc"), std::string::npos)
      << exchange->error->message;
  EXPECT_EQ(h.mock("after").count(), 0u);
}

TEST(WireTapTest, SendsACopyWithoutWaiting) {
  RouteHarness h(2);
  h.load(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <wire-tap uri="mock:tap?delay=600ms"/><set-body constant="main"/><to uri="mock:after"/></route>)"));
  Message m(Body::make("original", std::string(media::text)));
  const std::string id = m.id();
  const auto start = Clock::now();
  auto exchange = h.send("direct:in", m);
  const auto took = Clock::now() - start;
  ASSERT_TRUE(exchange);
  ASSERT_FALSE(exchange->failed());
  EXPECT_LT(took, 450ms) << "the route waited for its wire tap";
  EXPECT_EQ(h.mock("after").bodies(), std::vector<std::string>{"main"});
  ASSERT_TRUE(h.mock("tap").waitFor(1));
  const Message copy = h.mock("tap").messages()[0];
  EXPECT_EQ(copy.bodyText(), "original");
  EXPECT_NE(copy.id(), id);
  EXPECT_EQ(copy.correlationId(), id);
}

TEST(WireTapTest, FailureOfTheTapNeverFailsTheRoute) {
  RouteHarness h;
  h.load(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <wire-tap uri="mock:tap?fail=1&amp;fail-kind=permanent"/><wire-tap uri="direct:nobody-listens"/>
      <to uri="mock:after"/></route>)"));
  auto exchange = h.sendBody("direct:in", "{}");
  ASSERT_TRUE(exchange);
  EXPECT_FALSE(exchange->failed());
  EXPECT_EQ(h.mock("after").count(), 1u);
}

TEST(WireTapTest, TapToAFullRejectingQueueNeverFailsTheRoute) {
  RouteHarness h;
  h.load(RouteHarness::table(
      R"(<endpoint id="audit" uri="queue:audit?capacity=1&amp;when-full=reject"/>
      <route id="r"><from uri="direct:in"/><wire-tap ref="audit"/><to uri="mock:after"/></route>)"));
  for (int i = 0; i < 3; ++i) {
    auto exchange = h.sendBody("direct:in", "{}");
    ASSERT_TRUE(exchange);
    EXPECT_FALSE(exchange->failed());
  }
  EXPECT_EQ(h.mock("after").count(), 3u);
}

}  // namespace
}  // namespace busway::testing
