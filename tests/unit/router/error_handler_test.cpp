// The route's error handler: redelivery with backoff, which kinds are retried, dead
// letters, and reporting the failure to the source when there is no dead letter.
#include <gtest/gtest.h>

#include "route_harness.hpp"

namespace busway::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

long long ms(Clock::duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

RouteStats statsOf(RouteHarness& h, const std::string& route) {
  for (const auto& status : h.bus().status()) {
    if (status.id == route) return status.stats;
  }
  ADD_FAILURE() << "no route " << route;
  return {};
}

TEST(ErrorHandlerTest, WithoutHandlerOneAttemptAndTheFailureGoesToTheSource) {
  RouteHarness h;
  h.load(RouteHarness::table(
      R"(<route id="r"><from uri="direct:in"/><to uri="mock:down?fail=5"/></route>)"));
  auto exchange = h.sendBody("direct:in", "{}");
  ASSERT_TRUE(exchange);
  ASSERT_TRUE(exchange->failed());
  EXPECT_EQ(exchange->error->kind, ErrorKind::transient);
  EXPECT_EQ(h.mock("down").attemptTimes().size(), 1u);
  const auto stats = statsOf(h, "r");
  EXPECT_EQ(stats.failed, 1u);
  EXPECT_EQ(stats.redeliveries, 0u);
  EXPECT_EQ(stats.in_flight, 0u);
}

TEST(ErrorHandlerTest, RedeliversTransientFailuresWithBackoff) {
  RouteHarness h;
  h.load(RouteHarness::table(
      R"(<route id="r"><error-handler max-attempts="4" delay="60ms" backoff="2.0" jitter="0"/>
      <from uri="direct:in"/><to uri="mock:flaky?fail=3"/></route>)"));
  const auto start = Clock::now();
  auto exchange = h.sendBody("direct:in", "{}");
  ASSERT_TRUE(exchange);
  ASSERT_FALSE(exchange->failed()) << exchange->error->describe();
  const auto attempts = h.mock("flaky").attemptTimes();
  ASSERT_EQ(attempts.size(), 4u);
  // Waits of about 60, 120 and 240ms: never shorter, and not wildly longer.
  const std::vector<std::chrono::milliseconds> expected = {60ms, 120ms, 240ms};
  for (std::size_t i = 1; i < attempts.size(); ++i) {
    const auto gap = attempts[i] - attempts[i - 1];
    EXPECT_GE(gap, expected[i - 1]) << "wait before attempt " << i + 1 << ": " << ms(gap) << "ms";
    EXPECT_LT(gap, expected[i - 1] + 400ms)
        << "wait before attempt " << i + 1 << ": " << ms(gap) << "ms";
  }
  EXPECT_LT(Clock::now() - start, 3s);
  ASSERT_EQ(h.mock("flaky").count(), 1u);
  EXPECT_EQ(h.mock("flaky").messages()[0].headers().text("busway.attempt"), "4");
  const auto stats = statsOf(h, "r");
  EXPECT_EQ(stats.redeliveries, 3u);
  EXPECT_EQ(stats.completed, 1u);
  EXPECT_EQ(stats.failed, 0u);
}

TEST(ErrorHandlerTest, MaxDelayCapsTheWait) {
  RouteHarness h;
  h.load(RouteHarness::table(
      R"(<route id="r"><error-handler max-attempts="3" delay="50ms" backoff="20" max-delay="80ms" jitter="0"/>
      <from uri="direct:in"/><to uri="mock:flaky?fail=2"/></route>)"));
  auto exchange = h.sendBody("direct:in", "{}");
  ASSERT_TRUE(exchange);
  ASSERT_FALSE(exchange->failed());
  const auto attempts = h.mock("flaky").attemptTimes();
  ASSERT_EQ(attempts.size(), 3u);
  EXPECT_GE(attempts[2] - attempts[1], 80ms);
  EXPECT_LT(attempts[2] - attempts[1], 800ms) << "backoff 20 would be 1000ms without the cap";
}

TEST(ErrorHandlerTest, RedeliveryStartsAgainFromTheMessageAsItArrived) {
  RouteHarness h;
  h.load(
      RouteHarness::table(R"(<route id="r"><error-handler max-attempts="3" delay="1ms" jitter="0"/>
      <from uri="direct:in"/>
      <set-body media-type="text/plain">${body}+step</set-body>
      <set-header name="touched" constant="yes"/>
      <to uri="mock:flaky?fail=2"/></route>)"));
  Message m(Body::make("in", std::string(media::text)));
  auto exchange = h.send("direct:in", m);
  ASSERT_TRUE(exchange);
  ASSERT_FALSE(exchange->failed());
  EXPECT_EQ(h.mock("flaky").bodies(), std::vector<std::string>{"in+step"});
}

TEST(ErrorHandlerTest, PermanentAndInvalidGoStraightToTheDeadLetter) {
  for (const char* kind : {"permanent", "invalid"}) {
    RouteHarness h;
    h.load(RouteHarness::table(std::string(R"(<endpoint id="dlq" uri="mock:dead"/>
        <route id="r"><error-handler max-attempts="5" delay="1ms" dead-letter="dlq"/>
        <from uri="direct:in"/><set-header name="seen" constant="1"/><to uri="mock:down?fail=9&amp;fail-kind=)") +
                               kind + R"("/></route>)"));
    Message m(Body::make("payload", std::string(media::text)));
    auto exchange = h.send("direct:in", m);
    ASSERT_TRUE(exchange);
    // Safe in the dead letter: the source may consider it handled.
    EXPECT_FALSE(exchange->failed()) << kind;
    EXPECT_EQ(h.mock("down").attemptTimes().size(), 1u) << kind << " must not be redelivered";
    ASSERT_EQ(h.mock("dead").count(), 1u);
    const Message letter = h.mock("dead").messages()[0];
    // The dead letter carries the message as it arrived, and why it failed.
    EXPECT_EQ(letter.bodyText(), "payload");
    EXPECT_FALSE(letter.headers().contains("seen"));
    EXPECT_EQ(letter.headers().text("busway.failure.kind"), kind);
    EXPECT_EQ(letter.headers().text("busway.failure.route"), "r");
    EXPECT_EQ(letter.headers().text("busway.failure.where"), "mock:down");
    EXPECT_EQ(letter.headers().text("busway.failure.attempts"), "1");
    EXPECT_NE(letter.headers().text("busway.failure.reason").find("fails attempt 1"),
              std::string::npos);
    // Steps are named by the endpoint without its options: they may hold credentials.
    EXPECT_EQ(letter.headers().text("busway.failure.history"), "r/set-header > r/to:mock:down!");
    const auto stats = statsOf(h, "r");
    EXPECT_EQ(stats.dead_lettered, 1u);
    EXPECT_EQ(stats.failed, 0u);
  }
}

TEST(ErrorHandlerTest, TransientFailuresAreDeadLetteredWhenAttemptsAreUsedUp) {
  RouteHarness h;
  h.load(RouteHarness::table(
      R"(<route id="r"><error-handler max-attempts="3" delay="5ms" jitter="0" dead-letter-uri="mock:dead"/>
      <from uri="direct:in"/><to uri="mock:down?fail=9&amp;fail-kind=rejected"/></route>)"));
  auto exchange = h.sendBody("direct:in", "{}");
  ASSERT_TRUE(exchange);
  EXPECT_FALSE(exchange->failed());
  EXPECT_EQ(h.mock("down").attemptTimes().size(), 3u);
  ASSERT_EQ(h.mock("dead").count(), 1u);
  EXPECT_EQ(h.mock("dead").messages()[0].headers().text("busway.failure.attempts"), "3");
  EXPECT_EQ(h.mock("dead").messages()[0].headers().text("busway.failure.kind"), "rejected");
  EXPECT_EQ(statsOf(h, "r").redeliveries, 2u);
}

TEST(ErrorHandlerTest, RetryOnAllRedeliversPermanentFailures) {
  RouteHarness h;
  h.load(RouteHarness::table(
      R"(<route id="r"><error-handler max-attempts="3" delay="1ms" retry-on="all"/>
      <from uri="direct:in"/><to uri="mock:down?fail=2&amp;fail-kind=permanent"/></route>)"));
  auto exchange = h.sendBody("direct:in", "{}");
  ASSERT_TRUE(exchange);
  EXPECT_FALSE(exchange->failed());
  EXPECT_EQ(h.mock("down").attemptTimes().size(), 3u);
  EXPECT_EQ(h.mock("down").count(), 1u);
}

TEST(ErrorHandlerTest, WithoutDeadLetterTheLastFailureIsReported) {
  RouteHarness h;
  h.load(RouteHarness::table(R"(<route id="r"><error-handler max-attempts="2" delay="1ms"/>
      <from uri="direct:in"/><to uri="mock:down?fail=9&amp;fail-kind=timeout"/></route>)"));
  auto exchange = h.sendBody("direct:in", "{}");
  ASSERT_TRUE(exchange);
  ASSERT_TRUE(exchange->failed());
  EXPECT_EQ(exchange->error->kind, ErrorKind::timeout);
  EXPECT_NE(exchange->error->message.find("fails attempt 2"), std::string::npos);
  EXPECT_EQ(exchange->attempt, 2);
  EXPECT_EQ(statsOf(h, "r").failed, 1u);
}

TEST(ErrorHandlerTest, RefusingDeadLetterReportsBothFailures) {
  RouteHarness h;
  h.load(RouteHarness::table(
      R"(<route id="r"><error-handler dead-letter-uri="mock:dead?fail=1&amp;delay=5ms"/>
      <from uri="direct:in"/><to uri="mock:down?fail=1&amp;fail-kind=permanent"/></route>)"));
  auto exchange = h.sendBody("direct:in", "{}");
  ASSERT_TRUE(exchange);
  ASSERT_TRUE(exchange->failed());
  EXPECT_EQ(exchange->error->kind, ErrorKind::permanent);
  EXPECT_NE(exchange->error->message.find("refused it too"), std::string::npos)
      << exchange->error->message;
  const auto stats = statsOf(h, "r");
  EXPECT_EQ(stats.failed, 1u);
  EXPECT_EQ(stats.dead_lettered, 0u);
  EXPECT_EQ(stats.in_flight, 0u);
}

TEST(ErrorHandlerTest, TopLevelHandlerByReferenceAndInlineOverride) {
  RouteHarness h;
  h.load(RouteHarness::table(
      R"(<error-handler id="standard" max-attempts="2" delay="1ms" dead-letter-uri="mock:dead-standard"/>
      <route id="by-ref" error-handler="standard"><from uri="direct:a"/><to uri="mock:a?fail=9"/></route>
      <route id="inline" error-handler="standard"><error-handler max-attempts="3" delay="1ms" dead-letter-uri="mock:dead-inline"/>
        <from uri="direct:b"/><to uri="mock:b?fail=9"/></route>)"));
  ASSERT_TRUE(h.sendBody("direct:a", "{}"));
  ASSERT_TRUE(h.sendBody("direct:b", "{}"));
  EXPECT_EQ(h.mock("a").attemptTimes().size(), 2u);
  EXPECT_EQ(h.mock("b").attemptTimes().size(), 3u);
  EXPECT_EQ(h.mock("dead-standard").count(), 1u);
  EXPECT_EQ(h.mock("dead-inline").count(), 1u);
}

TEST(ErrorHandlerTest, RedeliveryOfAnAsynchronousFailureInAQueueRoute) {
  RouteHarness h;
  h.load(RouteHarness::table(
      R"(<route id="r"><error-handler max-attempts="3" delay="10ms" dead-letter-uri="mock:dead"/>
      <from uri="queue:work"/><to uri="mock:flaky?fail=2&amp;delay=5ms"/></route>)"));
  ASSERT_TRUE(h.sendBody("queue:work", "job"));
  ASSERT_TRUE(h.mock("flaky").waitFor(1));
  EXPECT_EQ(h.mock("flaky").attemptTimes().size(), 3u);
  EXPECT_EQ(h.mock("dead").count(), 0u);
}

}  // namespace
}  // namespace busway::testing
