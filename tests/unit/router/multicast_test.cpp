// multicast: branch order, combining strategies, real parallelism, timeouts and failures.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "route_harness.hpp"

namespace busway::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

TEST(MulticastTest, SequentialBranchesRunInOrderOneAfterAnother) {
  RouteHarness h;
  // The first branch is slow: a sequential multicast must still finish it first.
  h.load(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <multicast strategy="none">
        <pipeline><set-header name="b" constant="first"/><to uri="mock:seen?delay=60ms"/></pipeline>
        <pipeline><set-header name="b" constant="second"/><to uri="mock:seen"/></pipeline>
        <pipeline><set-header name="b" constant="third"/><to uri="mock:seen?delay=10ms"/></pipeline>
      </multicast>
      <to uri="mock:after"/></route>)"));
  auto exchange = h.sendBody("direct:in", R"({"n":1})");
  ASSERT_TRUE(exchange);
  ASSERT_FALSE(exchange->failed());
  EXPECT_EQ(h.mock("seen").headers("b"), (std::vector<std::string>{"first", "second", "third"}));
  EXPECT_EQ(h.mock("seen").maxActive(), 1);
  // strategy none: the original message continues, without the branches' changes.
  ASSERT_EQ(h.mock("after").count(), 1u);
  EXPECT_EQ(h.mock("after").messages()[0].bodyText(), R"({"n":1})");
  EXPECT_FALSE(h.mock("after").messages()[0].headers().contains("b"));
}

TEST(MulticastTest, EachBranchGetsItsOwnCopy) {
  RouteHarness h;
  h.load(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <multicast strategy="none">
        <pipeline><set-body constant="changed by branch 0"/><to uri="mock:b0"/></pipeline>
        <pipeline><to uri="mock:b1"/></pipeline>
      </multicast></route>)"));
  Message original(Body::make("original", std::string(media::text)));
  const std::string original_id = original.id();
  auto exchange = h.send("direct:in", original);
  ASSERT_TRUE(exchange);
  ASSERT_FALSE(exchange->failed());
  ASSERT_EQ(h.mock("b1").count(), 1u);
  const Message copy = h.mock("b1").messages()[0];
  EXPECT_EQ(copy.bodyText(), "original");
  EXPECT_NE(copy.id(), original_id);
  EXPECT_EQ(copy.correlationId(), original_id);
  EXPECT_EQ(copy.headers().text("busway.branch"), "1");
  EXPECT_EQ(h.mock("b0").messages()[0].headers().text("busway.branch"), "0");
}

TEST(MulticastTest, StrategiesCombineBranchResultsInBranchOrder) {
  RouteHarness h;
  // In parallel the first branch finishes last; results still come back in branch order.
  h.load(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <multicast parallel="true" strategy="json-array">
        <pipeline><delay duration="80ms"/><set-body constant="{&quot;a&quot;:1}"/></pipeline>
        <to uri="mock:svc?reply=plain" pattern="in-out"/>
        <pipeline><set-body constant="[3]"/></pipeline>
      </multicast>
      <to uri="mock:array"/>
      <multicast strategy="concat" separator="|">
        <pipeline><set-body constant="x"/></pipeline>
        <pipeline><set-body constant="y"/></pipeline>
      </multicast>
      <to uri="mock:concat"/>
      <multicast>
        <pipeline><set-body constant="first"/></pipeline>
        <pipeline><set-body constant="last"/></pipeline>
      </multicast>
      <to uri="mock:last"/>
      <multicast strategy="first">
        <pipeline><set-body constant="first"/></pipeline>
        <pipeline><set-body constant="last"/></pipeline>
      </multicast>
      <to uri="mock:first"/></route>)"));
  auto exchange = h.sendBody("direct:in", "{}");
  ASSERT_TRUE(exchange);
  ASSERT_FALSE(exchange->failed()) << exchange->error->describe();
  ASSERT_EQ(h.mock("array").count(), 1u);
  EXPECT_EQ(nlohmann::json::parse(h.mock("array").messages()[0].bodyText()),
            nlohmann::json::parse(R"([{"a":1},"plain",[3]])"));
  EXPECT_EQ(h.mock("array").messages()[0].body().mediaType(), "application/json");
  EXPECT_EQ(h.mock("concat").bodies(), std::vector<std::string>{"x|y"});
  EXPECT_EQ(h.mock("last").bodies(), std::vector<std::string>{"last"});
  EXPECT_EQ(h.mock("first").bodies(), std::vector<std::string>{"first"});
}

TEST(MulticastTest, ParallelBranchesReallyRunAtTheSameTime) {
  RouteHarness h(2);
  h.load(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <multicast parallel="true" strategy="none">
        <to uri="mock:slow?delay=100ms"/><to uri="mock:slow?delay=100ms"/>
        <to uri="mock:slow?delay=100ms"/><to uri="mock:slow?delay=100ms"/>
      </multicast></route>)"));
  const auto start = Clock::now();
  auto exchange = h.sendBody("direct:in", "{}");
  const auto took = Clock::now() - start;
  ASSERT_TRUE(exchange);
  ASSERT_FALSE(exchange->failed());
  EXPECT_EQ(h.mock("slow").count(), 4u);
  EXPECT_GE(took, 100ms);
  EXPECT_LT(took, 350ms) << "4 x 100ms in parallel took "
                         << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                         << "ms";
  EXPECT_GE(h.mock("slow").maxActive(), 2);
}

TEST(MulticastTest, ParallelTimeoutFailsWithTimeoutWithoutWaitingForSlowBranches) {
  RouteHarness h(2);
  h.load(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <multicast parallel="true" timeout="100ms" strategy="json-array">
        <to uri="mock:fast" pattern="in-out"/>
        <to uri="mock:slow?delay=1500ms" pattern="in-out"/>
      </multicast><to uri="mock:after"/></route>)"));
  const auto start = Clock::now();
  auto exchange = h.sendBody("direct:in", "{}");
  const auto took = Clock::now() - start;
  ASSERT_TRUE(exchange);
  ASSERT_TRUE(exchange->failed());
  EXPECT_EQ(exchange->error->kind, ErrorKind::timeout);
  EXPECT_GE(took, 100ms);
  EXPECT_LT(took, 1000ms);
  EXPECT_EQ(h.mock("after").count(), 0u);
}

TEST(MulticastTest, ParallelBranchesWithinTheTimeoutSucceed) {
  RouteHarness h(2);
  h.load(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <multicast parallel="true" timeout="2s" strategy="concat" separator=",">
        <to uri="mock:a?delay=20ms&amp;reply=A" pattern="in-out"/>
        <to uri="mock:b?reply=B" pattern="in-out"/>
      </multicast><to uri="mock:after"/></route>)"));
  const auto start = Clock::now();
  auto exchange = h.sendBody("direct:in", "{}");
  ASSERT_TRUE(exchange);
  ASSERT_FALSE(exchange->failed());
  EXPECT_LT(Clock::now() - start, 1500ms);
  EXPECT_EQ(h.mock("after").bodies(), std::vector<std::string>{"A,B"});
}

TEST(MulticastTest, AFailedBranchFailsTheMulticast) {
  RouteHarness h;
  h.load(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <multicast><to uri="mock:ok"/><to uri="mock:bad?fail=1&amp;fail-kind=rejected"/><to uri="mock:ok"/></multicast>
      <to uri="mock:after"/></route>)"));
  auto exchange = h.sendBody("direct:in", "{}");
  ASSERT_TRUE(exchange);
  ASSERT_TRUE(exchange->failed());
  EXPECT_EQ(exchange->error->kind, ErrorKind::rejected);
  EXPECT_NE(exchange->error->message.find("2 of 3"), std::string::npos) << exchange->error->message;
  EXPECT_EQ(h.mock("after").count(), 0u);
}

TEST(MulticastTest, AnyFailureWinsWithTheErrorOfTheFirstFailedBranch) {
  // docs/architecture.md, "Fan-out: the worst outcome wins": one failed branch fails the
  // whole, a stopped branch does not, and the error is that of the first failed branch in
  // branch order, also when a later branch failed earlier in time.
  for (const bool parallel : {false, true}) {
    RouteHarness h(2);
    h.load(RouteHarness::table(
        std::string(R"(<route id="r"><from uri="direct:in"/><multicast parallel=")") +
        (parallel ? "true" : "false") + R"(">
        <pipeline><stop/></pipeline>
        <to uri="mock:ok"/>
        <to uri="mock:late?fail=1&amp;fail-kind=permanent&amp;delay=80ms"/>
        <to uri="mock:early?fail=1&amp;fail-kind=rejected"/>
      </multicast><to uri="mock:after"/></route>)"));
    auto exchange = h.sendBody("direct:in", "{}");
    ASSERT_TRUE(exchange);
    ASSERT_TRUE(exchange->failed());
    EXPECT_EQ(exchange->error->kind, ErrorKind::permanent)
        << "parallel=" << parallel << ": " << exchange->error->describe();
    EXPECT_NE(exchange->error->message.find("branch 3 of 4"), std::string::npos)
        << exchange->error->message;
    EXPECT_EQ(h.mock("ok").count(), 1u);
    EXPECT_EQ(h.mock("after").count(), 0u);
  }
}

TEST(MulticastTest, StoppedBranchesAreNoFailure) {
  RouteHarness h;
  h.load(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <multicast parallel="true" strategy="none"><pipeline><stop/></pipeline><pipeline><filter header="nope"/></pipeline></multicast>
      <to uri="mock:after"/></route>)"));
  auto exchange = h.sendBody("direct:in", "{}");
  ASSERT_TRUE(exchange);
  EXPECT_FALSE(exchange->failed());
  EXPECT_FALSE(exchange->stopped);
  EXPECT_EQ(h.mock("after").count(), 1u);
}

TEST(MulticastTest, TimeoutOnASequentialMulticastIsAWarning) {
  RouteHarness h;
  auto d = h.loadWithErrors(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <multicast timeout="1s"><to uri="mock:a"/></multicast></route>)"));
  EXPECT_FALSE(d.hasErrors()) << d.toString();
  EXPECT_NE(d.toString().find("only applies to parallel"), std::string::npos) << d.toString();
}

}  // namespace
}  // namespace busway::testing
