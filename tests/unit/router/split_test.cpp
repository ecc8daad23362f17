// split: how bodies are cut, part order, combining strategies, parallel parts with a
// limit, and what a failed part does.
#include <functional>
#include <future>

#include <pthread.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "route_harness.hpp"

namespace busway::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

TEST(SplitTest, LinesAreCutInOrderSkippingBlankLines) {
  RouteHarness h;
  h.load(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <split lines="true"><to uri="mock:line"/></split><to uri="mock:after"/></route>)"));
  auto exchange = h.sendBody("direct:in", "alpha\nbeta\r\n\ngamma\n", std::string(media::csv));
  ASSERT_TRUE(exchange);
  ASSERT_FALSE(exchange->failed());
  EXPECT_EQ(h.mock("line").bodies(), (std::vector<std::string>{"alpha", "beta", "gamma"}));
  EXPECT_EQ(h.mock("line").headers("split.index"), (std::vector<std::string>{"0", "1", "2"}));
  EXPECT_EQ(h.mock("line").messages()[0].body().mediaType(), std::string(media::csv));
  // strategy none: the original message continues, with the number of parts.
  ASSERT_EQ(h.mock("after").count(), 1u);
  EXPECT_EQ(h.mock("after").messages()[0].bodyText(), "alpha\nbeta\r\n\ngamma\n");
  EXPECT_EQ(h.mock("after").headers("split.count"), std::vector<std::string>{"3"});
}

TEST(SplitTest, PartsKeepTheHeadersAndCorrelateToTheWhole) {
  RouteHarness h;
  h.load(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <split tokenize=";"><to uri="mock:token"/></split></route>)"));
  Message m(Body::make("a;b;;c;", std::string(media::octets)));
  m.headers().set("file", std::string("x.txt"));
  const std::string id = m.id();
  auto exchange = h.send("direct:in", m);
  ASSERT_TRUE(exchange);
  ASSERT_FALSE(exchange->failed());
  EXPECT_EQ(h.mock("token").bodies(), (std::vector<std::string>{"a", "b", "c"}));
  for (const auto& part : h.mock("token").messages()) {
    EXPECT_EQ(part.headers().text("file"), "x.txt");
    EXPECT_EQ(part.correlationId(), id);
    EXPECT_NE(part.id(), id);
    EXPECT_EQ(part.body().mediaType(), std::string(media::text));
  }
}

TEST(SplitTest, JsonPathPartsAreJsonWithSizeAndLast) {
  RouteHarness h;
  h.load(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <split jsonpath="$.items[*]"><to uri="mock:item"/></split></route>)"));
  auto exchange = h.sendBody("direct:in", R"({"items":[{"sku":"a"},"text",7,null,true,[1]]})");
  ASSERT_TRUE(exchange);
  ASSERT_FALSE(exchange->failed());
  EXPECT_EQ(h.mock("item").bodies(),
            (std::vector<std::string>{R"({"sku":"a"})", R"("text")", "7", "null", "true", "[1]"}));
  EXPECT_EQ(h.mock("item").headers("split.size"), (std::vector<std::string>(6, "6")));
  EXPECT_EQ(h.mock("item").headers("split.last"),
            (std::vector<std::string>{"false", "false", "false", "false", "false", "true"}));
  for (const auto& part : h.mock("item").messages()) {
    EXPECT_EQ(part.body().mediaType(), std::string(media::json));
    EXPECT_NE(part.body().json(), nullptr) << "part '" << part.bodyText() << "' is not JSON";
  }
}

TEST(SplitTest, XPathPartsAreXml) {
  RouteHarness h;
  h.load(RouteHarness::table(R"x(<route id="r"><from uri="direct:in"/>
      <split xpath="/batch/order"><set-header name="id" xpath="string(/order/@id)"/><to uri="mock:order"/></split></route>)x"));
  auto exchange =
      h.sendBody("direct:in", R"(<batch><order id="1"/><order id="2"><x/></order></batch>)",
                 std::string(media::xml));
  ASSERT_TRUE(exchange);
  ASSERT_FALSE(exchange->failed()) << exchange->error->describe();
  EXPECT_EQ(h.mock("order").headers("id"), (std::vector<std::string>{"1", "2"}));
  for (const auto& part : h.mock("order").messages())
    EXPECT_EQ(part.body().mediaType(), std::string(media::xml));
}

TEST(SplitTest, JsonPathOnANonJsonBodyFailsAsInvalid) {
  RouteHarness h;
  h.load(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <split jsonpath="$.items[*]"><to uri="mock:item"/></split></route>)"));
  auto exchange = h.sendBody("direct:in", "a,b,c", std::string(media::csv));
  ASSERT_TRUE(exchange);
  ASSERT_TRUE(exchange->failed());
  EXPECT_EQ(exchange->error->kind, ErrorKind::invalid);
  EXPECT_EQ(h.mock("item").count(), 0u);
}

TEST(SplitTest, StrategyCombinesPartResultsInPartOrderEvenInParallel) {
  RouteHarness h(2);
  // Earlier parts wait longer, so in parallel they finish last.
  h.load(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <split jsonpath="$.items[*]" parallel="true" strategy="json-array">
        <delay jsonpath="$.wait"/>
        <set-body media-type="application/json">{"sku": "${$.sku}", "checked": true}</set-body>
        <to uri="mock:done"/>
      </split><to uri="mock:after"/></route>)"));
  auto exchange = h.sendBody(
      "direct:in",
      R"({"items":[{"sku":"a","wait":200},{"sku":"b","wait":100},{"sku":"c","wait":0}]})");
  ASSERT_TRUE(exchange);
  ASSERT_FALSE(exchange->failed()) << exchange->error->describe();
  ASSERT_EQ(h.mock("after").count(), 1u);
  EXPECT_EQ(
      nlohmann::json::parse(h.mock("after").messages()[0].bodyText()),
      nlohmann::json::parse(
          R"([{"sku":"a","checked":true},{"sku":"b","checked":true},{"sku":"c","checked":true}])"));
  // They really did finish out of order.
  std::vector<std::string> finished;
  for (const auto& m : h.mock("done").messages())
    finished.push_back(m.body().json()->at("sku").get<std::string>());
  EXPECT_EQ(finished.front(), "c");
}

TEST(SplitTest, FilteredPartsAreLeftOutOfTheCombinedResult) {
  RouteHarness h;
  h.load(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <split jsonpath="$[*]" strategy="json-array"><filter jsonpath="$.keep == true"/><set-body jsonpath="$.n"/></split>
      <to uri="mock:after"/></route>)"));
  auto exchange =
      h.sendBody("direct:in", R"([{"n":1,"keep":true},{"n":2,"keep":false},{"n":3,"keep":true}])");
  ASSERT_TRUE(exchange);
  ASSERT_FALSE(exchange->failed());
  EXPECT_FALSE(exchange->stopped);
  EXPECT_EQ(h.mock("after").bodies(), std::vector<std::string>{"[1,3]"});
}

TEST(SplitTest, ConcatAndXmlStrategies) {
  RouteHarness h;
  h.load(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <split tokenize=";" strategy="concat" separator=","><set-body media-type="text/plain">[${body}]</set-body></split>
      <to uri="mock:concat"/>
      <set-body media-type="application/xml">&lt;batch&gt;&lt;o id="1"/&gt;&lt;o id="2"/&gt;&lt;/batch&gt;</set-body>
      <split xpath="/batch/o" strategy="xml" root="orders"><to uri="mock:o"/></split>
      <to uri="mock:xml"/></route>)"));
  auto exchange = h.sendBody("direct:in", "x;y;z", std::string(media::text));
  ASSERT_TRUE(exchange);
  ASSERT_FALSE(exchange->failed()) << exchange->error->describe();
  EXPECT_EQ(h.mock("concat").bodies(), std::vector<std::string>{"[x],[y],[z]"});
  ASSERT_EQ(h.mock("xml").count(), 1u);
  const std::string xml(h.mock("xml").messages()[0].bodyText());
  EXPECT_EQ(xml.rfind("<orders>", 0), 0u) << xml;
  EXPECT_NE(xml.find("id=\"1\""), std::string::npos) << xml;
  EXPECT_LT(xml.find("id=\"1\""), xml.find("id=\"2\"")) << xml;
  EXPECT_NE(xml.find("</orders>"), std::string::npos) << xml;
}

TEST(SplitTest, ParallelPartsRunAtTheSameTime) {
  RouteHarness h(2);
  h.load(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <split lines="true" parallel="true"><to uri="mock:slow?delay=100ms"/></split></route>)"));
  const auto start = Clock::now();
  auto exchange = h.sendBody("direct:in", "1\n2\n3\n4\n", std::string(media::text));
  const auto took = Clock::now() - start;
  ASSERT_TRUE(exchange);
  ASSERT_FALSE(exchange->failed());
  EXPECT_EQ(h.mock("slow").count(), 4u);
  EXPECT_GE(took, 100ms);
  EXPECT_LT(took, 350ms) << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                         << "ms";
}

TEST(SplitTest, SequentialPartsRunOneAtATime) {
  RouteHarness h(2);
  h.load(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <split lines="true"><to uri="mock:slow?delay=30ms"/></split></route>)"));
  const auto start = Clock::now();
  auto exchange = h.sendBody("direct:in", "1\n2\n3\n4\n", std::string(media::text));
  ASSERT_TRUE(exchange);
  EXPECT_GE(Clock::now() - start, 120ms);
  EXPECT_EQ(h.mock("slow").maxActive(), 1);
  EXPECT_EQ(h.mock("slow").bodies(), (std::vector<std::string>{"1", "2", "3", "4"}));
}

TEST(SplitTest, MaxInFlightLimitsPartsAtOnce) {
  RouteHarness h(4);
  h.load(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <split lines="true" parallel="true" max-in-flight="3"><to uri="mock:held?gate=true"/></split></route>)"));
  auto sent = std::async(std::launch::async, [&] {
    return h.sendBody("direct:in", "1\n2\n3\n4\n5\n6\n7\n8\n", std::string(media::text));
  });
  auto& held = h.mock("held");
  ASSERT_TRUE(held.waitFor(3));
  // With three parts held, no fourth may start.
  EXPECT_FALSE(held.waitFor(4, 150ms));
  EXPECT_EQ(held.maxActive(), 3);
  held.openGate();
  auto exchange = sent.get();
  ASSERT_TRUE(exchange);
  EXPECT_FALSE(exchange->failed());
  EXPECT_EQ(held.count(), 8u);
  EXPECT_LE(held.maxActive(), 3);
}

TEST(SplitTest, MaxInFlightIsRespectedWithAsynchronousParts) {
  RouteHarness h(4);
  h.load(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <split lines="true" parallel="true" max-in-flight="2"><to uri="mock:slow?delay=20ms"/></split></route>)"));
  auto exchange =
      h.sendBody("direct:in", "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n", std::string(media::text));
  ASSERT_TRUE(exchange);
  ASSERT_FALSE(exchange->failed());
  EXPECT_EQ(h.mock("slow").count(), 10u);
  EXPECT_LE(h.mock("slow").maxActive(), 2);
}

const char* kFailingPart =
    R"(<choice><when jsonpath="$.bad == true"><to uri="mock:bad?fail=100&amp;fail-kind=permanent"/></when></choice>
    <to uri="mock:ok"/>)";

TEST(SplitTest, StopOnErrorEndsTheSplitAtTheFirstFailedPart) {
  RouteHarness h;
  h.load(RouteHarness::table(
      std::string(R"(<route id="r"><from uri="direct:in"/><split jsonpath="$[*]">)") +
      kFailingPart + R"(</split><to uri="mock:after"/></route>)"));
  auto exchange = h.sendBody("direct:in", R"([{"n":1},{"n":2,"bad":true},{"n":3},{"n":4}])");
  ASSERT_TRUE(exchange);
  ASSERT_TRUE(exchange->failed());
  EXPECT_EQ(exchange->error->kind, ErrorKind::permanent);
  EXPECT_NE(exchange->error->message.find("split part 2"), std::string::npos)
      << exchange->error->message;
  EXPECT_EQ(h.mock("ok").bodies(), std::vector<std::string>{R"({"n":1})"});
  EXPECT_EQ(h.mock("after").count(), 0u);
}

TEST(SplitTest, WithoutStopOnErrorTheOtherPartsCarryOnButTheFailureIsReported) {
  RouteHarness h;
  h.load(RouteHarness::table(
      std::string(
          R"(<route id="r"><from uri="direct:in"/><split jsonpath="$[*]" stop-on-error="false">)") +
      kFailingPart + R"(</split><to uri="mock:after"/></route>)"));
  auto exchange = h.sendBody("direct:in", R"([{"n":1},{"n":2,"bad":true},{"n":3},{"n":4}])");
  ASSERT_TRUE(exchange);
  EXPECT_EQ(h.mock("ok").bodies(),
            (std::vector<std::string>{R"({"n":1})", R"({"n":3})", R"({"n":4})"}));
  // A failed part is never dropped silently: the split reports it.
  ASSERT_TRUE(exchange->failed());
  EXPECT_EQ(exchange->error->kind, ErrorKind::permanent);
}

TEST(SplitTest, ParallelStopOnErrorLaunchesNoFurtherParts) {
  RouteHarness h(2);
  h.load(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <split lines="true" parallel="true" max-in-flight="1">
        <to uri="mock:work?fail=2&amp;fail-kind=invalid"/></split></route>)"));
  auto exchange = h.sendBody("direct:in", "1\n2\n3\n4\n5\n", std::string(media::text));
  ASSERT_TRUE(exchange);
  ASSERT_TRUE(exchange->failed());
  EXPECT_EQ(exchange->error->kind, ErrorKind::invalid);
  EXPECT_EQ(h.mock("work").attemptTimes().size(), 1u)
      << "after the first failure no part may start";
}

// Runs `fn` on a thread with a 1MB stack, so that recursion per part shows in any build.
void onSmallStack(std::function<void()> fn) {
  pthread_attr_t attr;
  ASSERT_EQ(pthread_attr_init(&attr), 0);
  ASSERT_EQ(pthread_attr_setstacksize(&attr, std::size_t{1} << 20), 0);
  pthread_t thread;
  auto run = [](void* arg) -> void* {
    (*static_cast<std::function<void()>*>(arg))();
    return nullptr;
  };
  ASSERT_EQ(pthread_create(&thread, &attr, run, &fn), 0);
  pthread_join(thread, nullptr);
  pthread_attr_destroy(&attr);
}

TEST(SplitTest, ManyPartsWhoseStepsFinishOnTheCallersStackDoNotGrowTheStack) {
  // A multicast (like a nested split or a recipient list) may report "asynchronous" and
  // still finish before it returns. A long sequential split of such parts must not turn
  // into one deep recursion (it overflowed the stack).
  RouteHarness h;
  h.load(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <split lines="true"><multicast strategy="none"><pipeline><set-header name="p" constant="1"/></pipeline></multicast></split>
      <to uri="mock:after"/></route>)"));
  std::string body;
  for (int i = 0; i < 10000; ++i) body += "x\n";
  ExchangePtr exchange;
  onSmallStack([&] {
    exchange = h.send("direct:in", Message(Body::make(body, std::string(media::text))),
                      ExchangePattern::in_only, 20s);
  });
  ASSERT_TRUE(exchange);
  ASSERT_FALSE(exchange->failed());
  EXPECT_EQ(h.mock("after").headers("split.count"), std::vector<std::string>{"10000"});
}

TEST(SplitTest, EmptyBodyMakesNoParts) {
  for (const bool parallel : {false, true}) {
    RouteHarness h;
    h.load(RouteHarness::table(
        std::string(R"(<route id="r"><from uri="direct:in"/><split lines="true" parallel=")") +
        (parallel ? "true" : "false") +
        R"("><to uri="mock:line"/></split><to uri="mock:after"/></route>)"));
    auto exchange = h.sendBody("direct:in", "", std::string(media::text));
    ASSERT_TRUE(exchange);
    EXPECT_FALSE(exchange->failed());
    EXPECT_EQ(h.mock("line").count(), 0u);
    EXPECT_EQ(h.mock("after").headers("split.count"), std::vector<std::string>{"0"});
  }
}

}  // namespace
}  // namespace busway::testing
