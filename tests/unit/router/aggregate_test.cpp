// aggregate: grouping by correlation value, completion by size / timeout / predicate /
// flush, the order of the combined bodies, and what the incoming messages see.
#include <algorithm>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "route_harness.hpp"

namespace busway::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

Message withHeader(const std::string& body, const std::string& name, HeaderValue value,
                   const std::string& media_type = std::string(media::json)) {
  Message m(Body::make(body, media_type));
  m.headers().set(name, std::move(value));
  return m;
}

TEST(AggregateTest, SizeCompletesEachGroupWithBodiesInArrivalOrder) {
  RouteHarness h;
  h.load(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <aggregate correlation-header="order" size="3"><to uri="mock:packed"/></aggregate>
      <to uri="mock:never"/></route>)"));
  const std::vector<std::pair<std::string, std::string>> input = {
      {"A", R"({"line":1})"}, {"B", R"("b1")"}, {"A", R"({"line":2})"},
      {"B", "b2 as text"},    {"A", "3"},       {"B", "[4]"}};
  for (const auto& [key, body] : input) {
    auto exchange = h.send("direct:in", withHeader(body, "order", key));
    ASSERT_TRUE(exchange);
    EXPECT_FALSE(exchange->failed());
    // The incoming message stops at the aggregate.
    EXPECT_TRUE(exchange->stopped);
  }
  auto& packed = h.mock("packed");
  ASSERT_TRUE(packed.waitFor(2));
  auto messages = packed.messages();
  ASSERT_EQ(messages.size(), 2u);
  // Completed groups run concurrently, so A's and B's may arrive in either order; within a
  // group the bodies keep their arrival order.
  std::sort(messages.begin(), messages.end(), [](const Message& a, const Message& b) {
    return a.headers().text("aggregate.key") < b.headers().text("aggregate.key");
  });
  EXPECT_EQ(nlohmann::json::parse(messages[0].bodyText()),
            nlohmann::json::parse(R"([{"line":1},{"line":2},3])"));
  EXPECT_EQ(nlohmann::json::parse(messages[1].bodyText()),
            nlohmann::json::parse(R"(["b1","b2 as text",[4]])"));
  EXPECT_EQ(messages[0].body().mediaType(), std::string(media::json));
  EXPECT_EQ(messages[0].headers().text("aggregate.key"), "A");
  EXPECT_EQ(messages[0].headers().text("aggregate.size"), "3");
  EXPECT_EQ(messages[0].headers().text("aggregate.completed-by"), "size");
  EXPECT_EQ(messages[0].correlationId(), "A");
  EXPECT_EQ(h.mock("never").count(), 0u);
}

TEST(AggregateTest, JsonArrayTakesJsonBodiesAsValuesAndTextBodiesAsStrings) {
  RouteHarness h;
  h.load(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <aggregate correlation-header="k" size="5"><to uri="mock:packed"/></aggregate></route>)"));
  const std::vector<std::pair<std::string, std::string>> input = {
      {"42", "application/json"},
      {"42", "text/plain"},
      {"true", "text/plain; charset=utf-8"},
      {R"({"a":1})", "application/vnd.order+json"},
      {"<a/>", "application/xml"}};
  for (const auto& [body, media_type] : input)
    ASSERT_TRUE(h.send("direct:in", withHeader(body, "k", std::string("g"), media_type)));
  ASSERT_TRUE(h.mock("packed").waitFor(1));
  EXPECT_EQ(nlohmann::json::parse(h.mock("packed").messages()[0].bodyText()),
            nlohmann::json::parse(R"([42, "42", "true", {"a":1}, "<a/>"])"));
}

TEST(AggregateTest, ManyMessagesKeepTheirOrder) {
  RouteHarness h;
  h.load(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <aggregate correlation-jsonpath="$.k" size="50"><to uri="mock:packed"/></aggregate></route>)"));
  for (int i = 0; i < 50; ++i) {
    auto e = h.sendBody("direct:in", R"({"k":"x","i":)" + std::to_string(i) + "}");
    ASSERT_TRUE(e);
    ASSERT_FALSE(e->failed());
  }
  ASSERT_TRUE(h.mock("packed").waitFor(1));
  const auto array = nlohmann::json::parse(h.mock("packed").messages()[0].bodyText());
  ASSERT_EQ(array.size(), 50u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(array[static_cast<std::size_t>(i)]["i"], i);
}

TEST(AggregateTest, TimeoutCompletesWithWhatTheGroupHas) {
  RouteHarness h;
  h.load(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <aggregate correlation-header="k" size="10" timeout="150ms" strategy="concat" separator="+">
        <to uri="mock:packed"/></aggregate></route>)"));
  const auto start = Clock::now();
  ASSERT_TRUE(
      h.send("direct:in", withHeader("a", "k", std::string("g"), std::string(media::text))));
  ASSERT_TRUE(
      h.send("direct:in", withHeader("b", "k", std::string("g"), std::string(media::text))));
  auto& packed = h.mock("packed");
  ASSERT_TRUE(packed.waitFor(1, 3s));
  EXPECT_GE(packed.arrivals()[0] - start, 150ms);
  const Message m = packed.messages()[0];
  EXPECT_EQ(m.bodyText(), "a+b");
  EXPECT_EQ(m.headers().text("aggregate.completed-by"), "timeout");
  EXPECT_EQ(m.headers().text("aggregate.size"), "2");

  // A later message with the same key starts a new group with its own timeout.
  ASSERT_TRUE(
      h.send("direct:in", withHeader("c", "k", std::string("g"), std::string(media::text))));
  ASSERT_TRUE(packed.waitFor(2, 3s));
  EXPECT_EQ(packed.bodies(), (std::vector<std::string>{"a+b", "c"}));
}

TEST(AggregateTest, SizeBeforeTimeoutCompletesOnceOnly) {
  RouteHarness h;
  h.load(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <aggregate correlation-header="k" size="2" timeout="100ms"><to uri="mock:packed"/></aggregate></route>)"));
  ASSERT_TRUE(h.send("direct:in", withHeader("1", "k", std::string("g"))));
  ASSERT_TRUE(h.send("direct:in", withHeader("2", "k", std::string("g"))));
  ASSERT_TRUE(h.mock("packed").waitFor(1));
  // The group's timer must not complete the (already completed) group a second time.
  EXPECT_FALSE(h.mock("packed").waitFor(2, 300ms));
  EXPECT_EQ(h.mock("packed").messages()[0].headers().text("aggregate.completed-by"), "size");
}

TEST(AggregateTest, CompleteWhenChecksEachJoiningMessage) {
  RouteHarness h;
  h.load(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <aggregate correlation-header="file" complete-when="header.eof == 'true'" strategy="concat" separator="&#10;">
        <to uri="mock:files"/></aggregate></route>)"));
  auto line = [](const std::string& body, bool eof) {
    Message m = withHeader(body, "file", std::string("f.csv"), std::string(media::text));
    if (eof) m.headers().set("eof", std::string("true"));
    return m;
  };
  ASSERT_TRUE(h.send("direct:in", line("l1", false)));
  ASSERT_TRUE(h.send("direct:in", line("l2", false)));
  EXPECT_EQ(h.mock("files").count(), 0u);
  ASSERT_TRUE(h.send("direct:in", line("l3", true)));
  ASSERT_TRUE(h.mock("files").waitFor(1));
  EXPECT_EQ(h.mock("files").bodies(), std::vector<std::string>{"l1\nl2\nl3"});
  EXPECT_EQ(h.mock("files").messages()[0].headers().text("aggregate.completed-by"), "predicate");
}

TEST(AggregateTest, MissingCorrelationValueFailsAsInvalid) {
  RouteHarness h;
  h.load(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <aggregate correlation-header="order" size="2"><to uri="mock:packed"/></aggregate></route>)"));
  auto exchange = h.sendBody("direct:in", "{}");
  ASSERT_TRUE(exchange);
  ASSERT_TRUE(exchange->failed());
  EXPECT_EQ(exchange->error->kind, ErrorKind::invalid);
}

TEST(AggregateTest, StoppingTheBusCompletesHeldGroups) {
  RouteHarness h;
  h.load(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <aggregate correlation-header="k" size="100" timeout="1h"><to uri="mock:packed"/></aggregate></route>)"));
  ASSERT_TRUE(h.send("direct:in", withHeader(R"("x")", "k", std::string("g"))));
  EXPECT_EQ(h.mock("packed").count(), 0u);
  EXPECT_TRUE(h.bus().stop(2s));
  ASSERT_EQ(h.mock("packed").count(), 1u);
  EXPECT_EQ(h.mock("packed").messages()[0].headers().text("aggregate.completed-by"), "flush");
  EXPECT_EQ(h.mock("packed").bodies(), std::vector<std::string>{R"(["x"])"});
}

TEST(AggregateTest, SplitThenAggregateRepacksTheParts) {
  RouteHarness h(2);
  h.load(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <set-header name="orderId" jsonpath="$.id"/>
      <split jsonpath="$.lines[*]" parallel="true">
        <aggregate correlation-header="orderId" size="3"><to uri="mock:packed"/></aggregate>
      </split></route>)"));
  auto exchange = h.sendBody("direct:in", R"({"id":"o-1","lines":[1,2,3]})");
  ASSERT_TRUE(exchange);
  ASSERT_FALSE(exchange->failed());
  ASSERT_TRUE(h.mock("packed").waitFor(1));
  auto array = nlohmann::json::parse(h.mock("packed").messages()[0].bodyText());
  ASSERT_TRUE(array.is_array());
  std::sort(array.begin(), array.end());
  EXPECT_EQ(array, nlohmann::json::parse("[1,2,3]"));
  EXPECT_EQ(h.mock("packed").messages()[0].headers().text("orderId"), "o-1");
}

TEST(AggregateTest, NeedsACompletion) {
  RouteHarness h;
  auto d = h.loadWithErrors(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <aggregate correlation-header="k"><to uri="mock:x"/></aggregate></route>)"));
  EXPECT_TRUE(d.hasErrors());
  EXPECT_NE(d.toString().find("needs a completion"), std::string::npos) << d.toString();
}

}  // namespace
}  // namespace busway::testing
