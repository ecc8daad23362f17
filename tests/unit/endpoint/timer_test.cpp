// timer: count, period and delay of the messages a timer fires.
#include <gtest/gtest.h>

#include "route_harness.hpp"

namespace busway::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

TEST(TimerTest, FiresCountMessagesOnePeriodApart) {
  RouteHarness h;
  const auto start = Clock::now();
  h.load(RouteHarness::table(
      R"(<route id="r"><from uri="timer:tick?period=60ms&amp;count=3"/><to uri="mock:out"/></route>)"));
  auto& out = h.mock("out");
  ASSERT_TRUE(out.waitFor(3));
  EXPECT_EQ(out.headers("timer.count"), (std::vector<std::string>{"1", "2", "3"}));
  EXPECT_EQ(out.headers("timer.name"), (std::vector<std::string>{"tick", "tick", "tick"}));
  EXPECT_TRUE(out.messages()[0].bodyText().empty());
  const auto arrivals = out.arrivals();
  // Fixed rate: message n fires (n-1) periods after the first (never earlier; a late
  // first message may bring the next one closer).
  EXPECT_GE(arrivals[1] - start, 60ms);
  EXPECT_GE(arrivals[2] - start, 120ms);
  // count=3: no fourth message, even after several periods.
  EXPECT_FALSE(out.waitFor(4, 250ms));
}

TEST(TimerTest, DelayPostponesTheFirstMessage) {
  RouteHarness h;
  const auto start = Clock::now();
  h.load(RouteHarness::table(
      R"(<route id="r"><from uri="timer:late?delay=200ms&amp;period=10s&amp;count=1"/><to uri="mock:out"/></route>)"));
  ASSERT_TRUE(h.mock("out").waitFor(1, 3s));
  EXPECT_GE(h.mock("out").arrivals()[0] - start, 200ms);
}

TEST(TimerTest, WithoutDelayTheFirstMessageFiresAtOnce) {
  RouteHarness h;
  const auto start = Clock::now();
  h.load(RouteHarness::table(
      R"(<route id="r"><from uri="timer:now?period=10s"/><to uri="mock:out"/></route>)"));
  ASSERT_TRUE(h.mock("out").waitFor(1, 3s));
  EXPECT_LT(h.mock("out").arrivals()[0] - start, 2s);
  EXPECT_FALSE(h.mock("out").waitFor(2, 100ms));
}

TEST(TimerTest, StoppingTheBusStopsTheTimer) {
  RouteHarness h;
  h.load(RouteHarness::table(
      R"(<route id="r"><from uri="timer:t?period=20ms"/><to uri="mock:out"/></route>)"));
  ASSERT_TRUE(h.mock("out").waitFor(2));
  EXPECT_TRUE(h.bus().stop(2s));
  const auto stopped_at = h.mock("out").count();
  EXPECT_FALSE(h.mock("out").waitFor(stopped_at + 2, 150ms));
}

TEST(TimerTest, OnlyStartsRoutes) {
  RouteHarness h;
  auto d = h.loadWithErrors(
      RouteHarness::table(R"(<route id="r"><from uri="direct:in"/><to uri="timer:t"/></route>)"));
  EXPECT_TRUE(d.hasErrors());
  EXPECT_NE(d.toString().find("timer: can only start a route"), std::string::npos) << d.toString();
}

TEST(TimerTest, OptionValuesAreChecked) {
  RouteHarness h;
  auto zero = h.context().components().resolve("timer:t?period=0ms");
  ASSERT_FALSE(zero.ok());
  EXPECT_NE(zero.error().message.find("period"), std::string::npos);
  auto negative = h.context().components().resolve("timer:t?count=-1");
  ASSERT_FALSE(negative.ok());
  EXPECT_NE(negative.error().message.find("count"), std::string::npos);
}

}  // namespace
}  // namespace busway::testing
