// The bus as a whole: what a refused table may not change, and what a stop must finish.
#include <gtest/gtest.h>

#include "route_harness.hpp"

namespace busway::testing {
namespace {

using namespace std::chrono_literals;

TEST(Bus, ARefusedTableDoesNotChangeTheLimitsOfARunningQueue) {
  RouteHarness h;
  h.load(
      RouteHarness::table(R"(<route id="r"><from uri="queue:q?capacity=1&amp;when-full=reject"/>)"
                          R"(<to uri="mock:out?gate=true"/></route>)"));
  // A table that would make the queue roomy and blocking, but has an error elsewhere.
  const auto d = h.loadWithErrors(RouteHarness::table(
      R"(<route id="r"><from uri="queue:q?capacity=1000&amp;when-full=block"/>)"
      R"(<to uri="mock:out"/></route><route id="bad"><from uri="nope:x"/></route>)"));
  ASSERT_TRUE(d.hasErrors());
  // Still capacity 1 and reject: one held by the gated mock, one queued, the third refused.
  EXPECT_FALSE(h.sendBody("queue:q", "1", "text/plain")->failed());
  ASSERT_TRUE(h.mock("out").waitFor(1));
  EXPECT_FALSE(h.sendBody("queue:q", "2", "text/plain")->failed());
  auto third = h.sendBody("queue:q", "3", "text/plain");
  ASSERT_TRUE(third->failed());
  EXPECT_EQ(third->error->kind, ErrorKind::rejected);
  h.mock("out").openGate();
}

TEST(Bus, AGracefulStopProcessesWhatIsStillQueued) {
  RouteHarness h;
  h.load(RouteHarness::table(
      R"(<route id="slow"><from uri="queue:work?consumers=1"/><to uri="mock:done?delay=20ms"/></route>)"));
  for (int i = 0; i < 20; ++i)
    EXPECT_FALSE(h.sendBody("queue:work", std::to_string(i), "text/plain")->failed());
  EXPECT_TRUE(h.bus().stop(10s));
  EXPECT_EQ(h.mock("done").count(), 20u) << "messages still in the queue at stop were dropped";
}

TEST(Bus, ARequesterGetsAFailureWhenItsRequestWasDeadLettered) {
  RouteHarness h;
  h.load(RouteHarness::table(R"(
    <route id="service">
      <error-handler max-attempts="1" dead-letter-uri="mock:dead"/>
      <from uri="direct:service"/>
      <to uri="mock:backend?fail=2&amp;fail-kind=permanent"/></route>)"));
  auto exchange =
      h.send("direct:service", Message(Body::make("ask", "text/plain")), ExchangePattern::in_out);
  ASSERT_TRUE(exchange->failed());
  EXPECT_NE(exchange->error->message.find("dead-lettered to mock:dead"), std::string::npos)
      << exchange->error->message;
  EXPECT_EQ(h.mock("dead").count(), 1u);
  // In-only: safe in the dead-letter channel counts as handled.
  auto one_way = h.sendBody("direct:service", "tell", "text/plain");
  EXPECT_FALSE(one_way->failed());
  EXPECT_EQ(h.mock("dead").count(), 2u);
}

}  // namespace
}  // namespace busway::testing
