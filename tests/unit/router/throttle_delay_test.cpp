// throttle and delay: timing with generous bounds (timers never fire early, but a loaded
// machine may fire them late), and that neither holds a thread while waiting.
#include <gtest/gtest.h>

#include "route_harness.hpp"

namespace busway::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string lines(int n) {
  std::string out;
  for (int i = 1; i <= n; ++i) out += std::to_string(i) + "\n";
  return out;
}

long long ms(Clock::duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

TEST(DelayTest, FixedDurationWaits) {
  RouteHarness h;
  h.load(RouteHarness::table(
      R"(<route id="r"><from uri="direct:in"/><delay duration="150ms"/><to uri="mock:out"/></route>)"));
  const auto start = Clock::now();
  auto exchange = h.sendBody("direct:in", "{}");
  const auto took = Clock::now() - start;
  ASSERT_TRUE(exchange);
  ASSERT_FALSE(exchange->failed());
  EXPECT_GE(took, 150ms);
  EXPECT_LT(took, 2s);
  EXPECT_EQ(h.mock("out").count(), 1u);
}

TEST(DelayTest, ExpressionGivesMilliseconds) {
  RouteHarness h;
  h.load(RouteHarness::table(
      R"(<route id="r"><from uri="direct:in"/><delay header="retry-after-ms"/><to uri="mock:out"/></route>)"));
  Message m;
  m.headers().set("retry-after-ms", std::int64_t{120});
  auto start = Clock::now();
  auto exchange = h.send("direct:in", m);
  ASSERT_TRUE(exchange);
  ASSERT_FALSE(exchange->failed());
  EXPECT_GE(Clock::now() - start, 120ms);

  Message text_value;
  text_value.headers().set("retry-after-ms", std::string("80"));
  start = Clock::now();
  exchange = h.send("direct:in", text_value);
  ASSERT_TRUE(exchange);
  ASSERT_FALSE(exchange->failed());
  EXPECT_GE(Clock::now() - start, 80ms);
  EXPECT_EQ(h.mock("out").count(), 2u);
}

TEST(DelayTest, ExpressionThatIsNoDurationFailsAsInvalid) {
  RouteHarness h;
  h.load(RouteHarness::table(
      R"(<route id="r"><from uri="direct:in"/><delay jsonpath="$.wait"/><to uri="mock:out"/></route>)"));
  auto exchange = h.sendBody("direct:in", R"({"wait": "soon"})");
  ASSERT_TRUE(exchange);
  ASSERT_TRUE(exchange->failed());
  EXPECT_EQ(exchange->error->kind, ErrorKind::invalid);
  EXPECT_NE(exchange->error->message.find("soon"), std::string::npos);
  EXPECT_EQ(h.mock("out").count(), 0u);
}

TEST(DelayTest, ZeroOrMissingWaitPassesAtOnce) {
  RouteHarness h;
  h.load(RouteHarness::table(
      R"(<route id="r"><from uri="direct:in"/><delay jsonpath="$.wait"/><to uri="mock:out"/></route>)"));
  auto exchange = h.sendBody("direct:in", R"({"wait": 0})");
  ASSERT_TRUE(exchange);
  EXPECT_FALSE(exchange->failed());
  EXPECT_EQ(h.mock("out").count(), 1u);
}

TEST(DelayTest, WaitingHoldsNoThread) {
  // One pool thread, four parts each waiting 200ms: if a wait held the thread they would
  // take 800ms one after another.
  RouteHarness h(1);
  h.load(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <split lines="true" parallel="true"><delay duration="200ms"/><to uri="mock:out"/></split></route>)"));
  const auto start = Clock::now();
  auto exchange = h.sendBody("direct:in", lines(4), std::string(media::text));
  const auto took = Clock::now() - start;
  ASSERT_TRUE(exchange);
  ASSERT_FALSE(exchange->failed());
  EXPECT_EQ(h.mock("out").count(), 4u);
  EXPECT_GE(took, 200ms);
  EXPECT_LT(took, 600ms) << ms(took) << "ms";
}

TEST(ThrottleTest, NeverMoreThanRateMessagesPerPeriod) {
  // rate 2 per 300ms, six messages offered at once: message k (from 0) may not pass before
  // floor(k / 2) periods have gone by, so no period sees more than two. (Measured from the
  // start, not between arrivals: a late timer may bring two arrivals closer than a period.)
  RouteHarness h(2);
  h.load(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <split lines="true" parallel="true"><throttle rate="2" per="300ms"/><to uri="mock:out"/></split></route>)"));
  const auto start = Clock::now();
  auto exchange = h.sendBody("direct:in", lines(6), std::string(media::text));
  const auto took = Clock::now() - start;
  ASSERT_TRUE(exchange);
  ASSERT_FALSE(exchange->failed());
  auto arrivals = h.mock("out").arrivals();
  ASSERT_EQ(arrivals.size(), 6u);
  std::sort(arrivals.begin(), arrivals.end());
  for (std::size_t k = 0; k < arrivals.size(); ++k) {
    EXPECT_GE(arrivals[k] - start, (k / 2) * 300ms)
        << "message " << k + 1 << " passed after " << ms(arrivals[k] - start) << "ms";
  }
  EXPECT_LT(took, 3s);
}

TEST(ThrottleTest, BurstUpToTheRatePassesAtOnce) {
  RouteHarness h(2);
  h.load(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <split lines="true" parallel="true"><throttle rate="5" per="10s"/><to uri="mock:out"/></split></route>)"));
  const auto start = Clock::now();
  auto exchange = h.sendBody("direct:in", lines(5), std::string(media::text));
  ASSERT_TRUE(exchange);
  ASSERT_FALSE(exchange->failed());
  EXPECT_EQ(h.mock("out").count(), 5u);
  EXPECT_LT(Clock::now() - start, 2s);
}

TEST(ThrottleTest, RejectFailsWithRejectedOverTheRate) {
  RouteHarness h;
  h.load(RouteHarness::table(
      R"(<route id="r"><from uri="direct:in"/><throttle rate="2" per="10s" reject="true"/><to uri="mock:out"/></route>)"));
  std::vector<ExchangePtr> results;
  for (int i = 0; i < 4; ++i) results.push_back(h.sendBody("direct:in", "{}"));
  for (const auto& e : results) ASSERT_TRUE(e);
  EXPECT_FALSE(results[0]->failed());
  EXPECT_FALSE(results[1]->failed());
  for (int i : {2, 3}) {
    ASSERT_TRUE(results[static_cast<std::size_t>(i)]->failed());
    EXPECT_EQ(results[static_cast<std::size_t>(i)]->error->kind, ErrorKind::rejected);
  }
  EXPECT_EQ(h.mock("out").count(), 2u);
}

TEST(ThrottleTest, RejectedMessagesDoNotUseUpTheRate) {
  RouteHarness h;
  h.load(RouteHarness::table(
      R"(<route id="r"><from uri="direct:in"/><throttle rate="1" per="200ms" reject="true"/><to uri="mock:out"/></route>)"));
  ASSERT_FALSE(h.sendBody("direct:in", "{}")->failed());
  ASSERT_TRUE(h.sendBody("direct:in", "{}")->failed());
  ASSERT_TRUE(h.sendBody("direct:in", "{}")->failed());
  // Once the period has passed, the next message passes again.
  const auto deadline = Clock::now() + 2s;
  bool passed = false;
  while (!passed && Clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);  // polling for the period to pass
    passed = !h.sendBody("direct:in", "{}")->failed();
  }
  EXPECT_TRUE(passed);
  EXPECT_EQ(h.mock("out").count(), 2u);
}

TEST(ThrottleTest, WaitingHoldsNoThread) {
  // One pool thread: a throttled message waiting must not keep an unthrottled route from running.
  RouteHarness h(1);
  h.load(RouteHarness::table(
      R"(<route id="slow"><from uri="queue:slow"/><throttle rate="1" per="1s"/><to uri="mock:slow"/></route>
      <route id="fast"><from uri="queue:fast"/><to uri="mock:fast"/></route>)"));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(h.sendBody("queue:slow", "{}"));
  ASSERT_TRUE(h.mock("slow").waitFor(1));
  const auto start = Clock::now();
  ASSERT_TRUE(h.sendBody("queue:fast", "{}"));
  ASSERT_TRUE(h.mock("fast").waitFor(1, 2s));
  EXPECT_LT(h.mock("fast").arrivals()[0] - start, 500ms);
  EXPECT_LT(h.mock("slow").count(), 3u);
}

}  // namespace
}  // namespace busway::testing
