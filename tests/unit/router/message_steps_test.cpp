// Steps that change the message in place or end it: set-header, remove-header, set-body,
// log, stop, reply, and <to> in-only / in-out. Also the message history the steps write.
#include <gtest/gtest.h>

#include "route_harness.hpp"

namespace busway::testing {
namespace {

std::vector<std::string> historyOf(const Message& message) {
  std::vector<std::string> out;
  for (const auto& entry : message.history()) {
    out.push_back((entry.route ? *entry.route : "?") + "/" + (entry.step ? *entry.step : "?") +
                  (entry.failed ? "!" : ""));
  }
  return out;
}

TEST(SetHeaderTest, SetsTypedValuesFromEachLanguage) {
  RouteHarness h;
  h.load(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <set-header name="source" constant="web-shop"/>
      <set-header name="orderId" jsonpath="$.id"/>
      <set-header name="big" simple="$.total > 1000"/>
      <set-header name="copy" header="x-customer"/>
      <to uri="mock:out"/></route>)"));
  Message m(Body::make(R"({"id": 42, "total": 1500})", std::string(media::json)));
  m.headers().set("x-customer", std::string("c-7"));
  auto exchange = h.send("direct:in", m);
  ASSERT_TRUE(exchange);
  ASSERT_FALSE(exchange->failed()) << exchange->error->describe();
  ASSERT_EQ(h.mock("out").count(), 1u);
  const Headers headers = h.mock("out").messages()[0].headers();
  EXPECT_EQ(headers.text("source"), "web-shop");
  ASSERT_NE(headers.find("orderId"), nullptr);
  EXPECT_EQ(*headers.find("orderId"), HeaderValue(std::int64_t{42}));
  ASSERT_NE(headers.find("big"), nullptr);
  EXPECT_EQ(*headers.find("big"), HeaderValue(true));
  EXPECT_EQ(headers.text("copy"), "c-7");
}

TEST(SetHeaderTest, JsonPathOnTextBodyFailsAsInvalid) {
  RouteHarness h;
  h.load(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <set-header name="orderId" jsonpath="$.id"/><to uri="mock:out"/></route>)"));
  auto exchange = h.sendBody("direct:in", "plain text", std::string(media::text));
  ASSERT_TRUE(exchange);
  ASSERT_TRUE(exchange->failed());
  EXPECT_EQ(exchange->error->kind, ErrorKind::invalid);
  EXPECT_EQ(h.mock("out").count(), 0u);
}

TEST(RemoveHeaderTest, RemovesCaseInsensitivelyAndIgnoresAbsentHeaders) {
  RouteHarness h;
  h.load(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <remove-header name="X-Customer-Id"/><remove-header name="never-set"/><to uri="mock:out"/></route>)"));
  Message m;
  m.headers().set("x-customer-id", std::string("c-1"));
  m.headers().set("keep", std::string("k"));
  auto exchange = h.send("direct:in", m);
  ASSERT_TRUE(exchange);
  EXPECT_FALSE(exchange->failed());
  ASSERT_EQ(h.mock("out").count(), 1u);
  const Headers headers = h.mock("out").messages()[0].headers();
  EXPECT_FALSE(headers.contains("x-customer-id"));
  EXPECT_EQ(headers.text("keep"), "k");
}

TEST(SetBodyTest, TemplateExpressionAndMediaType) {
  RouteHarness h;
  h.load(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <set-header name="orderId" jsonpath="$.id"/>
      <set-body media-type="application/json">{"order": "${header.orderId}", "total": ${$.total}}</set-body>
      <to uri="mock:templated"/>
      <set-body jsonpath="$.total"/>
      <to uri="mock:expression"/>
      <set-body constant="42.00" media-type="text/plain"/>
      <to uri="mock:constant"/></route>)"));
  auto exchange = h.sendBody("direct:in", R"({"id": "o-1", "total": 99})", "application/json");
  ASSERT_TRUE(exchange);
  ASSERT_FALSE(exchange->failed()) << exchange->error->describe();
  ASSERT_EQ(h.mock("templated").count(), 1u);
  const Message templated = h.mock("templated").messages()[0];
  EXPECT_EQ(templated.bodyText(), R"({"order": "o-1", "total": 99})");
  EXPECT_EQ(templated.body().mediaType(), "application/json");
  EXPECT_EQ(h.mock("expression").bodies(), std::vector<std::string>{"99"});
  EXPECT_EQ(h.mock("expression").messages()[0].body().mediaType(), "application/json");
  EXPECT_EQ(h.mock("constant").bodies(), std::vector<std::string>{"42.00"});
  EXPECT_EQ(h.mock("constant").messages()[0].body().mediaType(), "text/plain");
  EXPECT_EQ(exchange->message.bodyText(), "42.00");
}

TEST(SetBodyTest, SelectedObjectBecomesJson) {
  RouteHarness h;
  h.load(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <set-body jsonpath="$.payload"/><to uri="mock:out"/></route>)"));
  auto exchange = h.sendBody("direct:in", R"({"payload": {"a": [1, 2]}})", "text/plain");
  ASSERT_TRUE(exchange);
  ASSERT_FALSE(exchange->failed());
  ASSERT_EQ(h.mock("out").count(), 1u);
  EXPECT_EQ(h.mock("out").messages()[0].bodyText(), R"({"a":[1,2]})");
  EXPECT_EQ(h.mock("out").messages()[0].body().mediaType(), "application/json");
}

TEST(LogStepTest, LeavesTheMessageAloneAndNeverFailsIt) {
  RouteHarness h;
  // ${$.id} cannot be rendered for a text body: the log line says so, the message goes on.
  h.load(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <log message="order ${$.id}" level="error" category="test.log"/>
      <log/><to uri="mock:out"/></route>)"));
  auto exchange = h.sendBody("direct:in", "not json", std::string(media::text));
  ASSERT_TRUE(exchange);
  EXPECT_FALSE(exchange->failed());
  EXPECT_EQ(h.mock("out").bodies(), std::vector<std::string>{"not json"});
}

TEST(StopTest, EndsProcessingSuccessfully) {
  RouteHarness h;
  h.load(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <to uri="mock:before"/><stop/><to uri="mock:after"/></route>)"));
  auto exchange = h.sendBody("direct:in", "{}");
  ASSERT_TRUE(exchange);
  EXPECT_FALSE(exchange->failed());
  EXPECT_TRUE(exchange->stopped);
  EXPECT_EQ(h.mock("before").count(), 1u);
  EXPECT_EQ(h.mock("after").count(), 0u);
  const auto stats = h.bus().status();
  ASSERT_EQ(stats.size(), 1u);
  EXPECT_EQ(stats[0].stats.completed, 1u);
  EXPECT_EQ(stats[0].stats.failed, 0u);
}

TEST(StopTest, StopInACalledRouteDoesNotStopTheCaller) {
  RouteHarness h;
  h.load(RouteHarness::table(
      R"(<route id="caller"><from uri="direct:in"/><to uri="direct:callee"/><to uri="mock:after"/></route>
      <route id="callee"><from uri="direct:callee"/><stop/><to uri="mock:never"/></route>)"));
  auto exchange = h.sendBody("direct:in", "{}");
  ASSERT_TRUE(exchange);
  EXPECT_FALSE(exchange->failed());
  EXPECT_FALSE(exchange->stopped);
  EXPECT_EQ(h.mock("after").count(), 1u);
  EXPECT_EQ(h.mock("never").count(), 0u);
}

TEST(ToTest, InOnlyKeepsTheMessageAndInOutReplacesIt) {
  RouteHarness h;
  h.load(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <to uri="mock:svc?reply=ignored"/>
      <to uri="mock:after-in-only"/>
      <to uri="mock:svc?reply=pong" pattern="in-out"/>
      <to uri="mock:after-in-out"/></route>)"));
  auto exchange = h.sendBody("direct:in", "ping", std::string(media::text));
  ASSERT_TRUE(exchange);
  ASSERT_FALSE(exchange->failed());
  EXPECT_EQ(h.mock("svc").bodies(), (std::vector<std::string>{"ping", "ping"}));
  EXPECT_EQ(h.mock("after-in-only").bodies(), std::vector<std::string>{"ping"});
  EXPECT_EQ(h.mock("after-in-out").bodies(), std::vector<std::string>{"pong"});
  EXPECT_EQ(exchange->message.bodyText(), "pong");
}

TEST(ToTest, InOutThroughDirectGetsTheCalledRoutesFinalMessage) {
  RouteHarness h;
  h.load(RouteHarness::table(R"(<route id="caller"><from uri="direct:in"/>
      <to uri="direct:svc" pattern="in-out"/><to uri="mock:after"/></route>
      <route id="svc"><from uri="direct:svc"/><set-body simple="body"/><set-header name="served" constant="yes"/>
      <set-body media-type="text/plain">served ${body}</set-body></route>)"));
  auto exchange = h.sendBody("direct:in", "order-1", std::string(media::text));
  ASSERT_TRUE(exchange);
  ASSERT_FALSE(exchange->failed()) << exchange->error->describe();
  ASSERT_EQ(h.mock("after").count(), 1u);
  EXPECT_EQ(h.mock("after").bodies(), std::vector<std::string>{"served order-1"});
  EXPECT_EQ(h.mock("after").headers("served"), std::vector<std::string>{"yes"});
}

TEST(ToTest, FailureOfTheTargetFailsTheRouteWithItsKind) {
  RouteHarness h;
  h.load(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <to uri="mock:down?fail=1&amp;fail-kind=permanent"/><to uri="mock:after"/></route>)"));
  auto exchange = h.sendBody("direct:in", "{}");
  ASSERT_TRUE(exchange);
  ASSERT_TRUE(exchange->failed());
  EXPECT_EQ(exchange->error->kind, ErrorKind::permanent);
  EXPECT_EQ(exchange->error->where, "mock:down");
  EXPECT_EQ(h.mock("after").count(), 0u);
}

TEST(ReplyTest, SetsTheReplyAndLaterStepsStillRun) {
  RouteHarness h;
  h.load(RouteHarness::table(R"(<route id="caller"><from uri="direct:in"/>
      <to uri="direct:svc" pattern="in-out"/><to uri="mock:caller-after"/></route>
      <route id="svc"><from uri="direct:svc"/>
      <set-header name="orderId" jsonpath="$.id"/>
      <reply status="202" media-type="application/json">{"accepted": "${header.orderId}"}</reply>
      <set-body constant="changed later"/><to uri="mock:svc-after"/></route>)"));
  auto exchange = h.sendBody("direct:in", R"({"id":"o-9"})");
  ASSERT_TRUE(exchange);
  ASSERT_FALSE(exchange->failed()) << exchange->error->describe();
  // The steps after <reply> ran on the message...
  EXPECT_EQ(h.mock("svc-after").bodies(), std::vector<std::string>{"changed later"});
  // ...but the caller got the reply.
  ASSERT_EQ(h.mock("caller-after").count(), 1u);
  const Message reply = h.mock("caller-after").messages()[0];
  EXPECT_EQ(reply.bodyText(), R"({"accepted": "o-9"})");
  EXPECT_EQ(reply.body().mediaType(), "application/json");
  ASSERT_NE(reply.headers().find("status"), nullptr);
  EXPECT_EQ(*reply.headers().find("status"), HeaderValue(std::int64_t{202}));
}

TEST(ReplyTest, RequesterOfTheRouteSeesTheReply) {
  RouteHarness h;
  h.load(RouteHarness::table(R"(<route id="svc"><from uri="direct:svc"/>
      <reply/><set-body constant="after reply"/></route>)"));
  auto exchange = h.send("direct:svc", Message(Body::make("original", std::string(media::text))),
                         ExchangePattern::in_out);
  ASSERT_TRUE(exchange);
  ASSERT_FALSE(exchange->failed());
  // Without text, the reply is the body as it was at <reply>.
  EXPECT_EQ(exchange->replyMessage().bodyText(), "original");
  EXPECT_EQ(exchange->message.bodyText(), "after reply");
}

TEST(HistoryTest, RecordsRouteAndStepNamesInOrder) {
  RouteHarness h;
  h.load(RouteHarness::table(R"(<route id="hist"><from uri="direct:in"/>
      <set-header name="a" constant="1"/>
      <log id="note" level="trace"/>
      <to uri="mock:x?delay=5ms"/>
      <remove-header name="a"/></route>)"));
  auto exchange = h.sendBody("direct:in", "{}");
  ASSERT_TRUE(exchange);
  ASSERT_FALSE(exchange->failed());
  EXPECT_EQ(historyOf(exchange->message),
            (std::vector<std::string>{"hist/set-header", "hist/log:note", "hist/to:mock:x",
                                      "hist/remove-header"}));
  // The mock saw the history as it was when the message reached it.
  ASSERT_EQ(h.mock("x").count(), 1u);
  EXPECT_EQ(historyOf(h.mock("x").messages()[0]),
            (std::vector<std::string>{"hist/set-header", "hist/log:note"}));
  for (std::size_t i = 1; i < exchange->message.history().size(); ++i) {
    EXPECT_LE(exchange->message.history()[i - 1].at, exchange->message.history()[i].at);
  }
}

TEST(HistoryTest, SpansCalledRoutesAndMarksTheFailedStep) {
  RouteHarness h;
  h.load(RouteHarness::table(R"(<route id="a"><from uri="direct:in"/>
      <set-header name="x" constant="1"/><to uri="direct:b" pattern="in-out"/><to uri="mock:end"/></route>
      <route id="b"><from uri="direct:b"/><set-body constant="from b"/></route>)"));
  auto ok = h.sendBody("direct:in", "{}");
  ASSERT_TRUE(ok);
  ASSERT_FALSE(ok->failed());
  EXPECT_EQ(historyOf(ok->message), (std::vector<std::string>{"a/set-header", "b/set-body",
                                                              "a/to:direct:b", "a/to:mock:end"}));

  RouteHarness f;
  f.load(RouteHarness::table(R"(<route id="f"><from uri="direct:in"/>
      <set-header name="x" constant="1"/><to uri="mock:down?fail=1"/><to uri="mock:never"/></route>)"));
  auto failed = f.sendBody("direct:in", "{}");
  ASSERT_TRUE(failed);
  ASSERT_TRUE(failed->failed());
  EXPECT_EQ(historyOf(failed->message),
            (std::vector<std::string>{"f/set-header", "f/to:mock:down!"}));
}

TEST(HistoryTest, CredentialsInAUriNeverReachTheHistory) {
  RouteHarness h;
  h.load(RouteHarness::table(R"(<route id="c"><from uri="direct:in"/>
      <to uri="mock:db?reply=s3cret"/><to uri="mock://ann:hunter2@broker/x"/></route>)"));
  auto exchange = h.sendBody("direct:in", "{}");
  ASSERT_TRUE(exchange);
  const auto history = historyOf(exchange->message);
  EXPECT_EQ(history, (std::vector<std::string>{"c/to:mock:db", "c/to:mock://ann:***@broker/x"}));
}

TEST(HistoryTest, FilterIsRecordedOnceAfterItsChildren) {
  RouteHarness h;
  h.load(RouteHarness::table(R"(<route id="h"><from uri="direct:in"/>
      <filter jsonpath="$.ok == true"><set-header name="in" constant="1"/></filter>
      <to uri="mock:end"/></route>)"));
  auto exchange = h.sendBody("direct:in", R"({"ok":true})");
  ASSERT_TRUE(exchange);
  ASSERT_FALSE(exchange->failed());
  EXPECT_EQ(historyOf(exchange->message),
            (std::vector<std::string>{"h/set-header", "h/filter", "h/to:mock:end"}));

  auto invalid = h.sendBody("direct:in", "text", std::string(media::text));
  ASSERT_TRUE(invalid);
  ASSERT_TRUE(invalid->failed());
  EXPECT_EQ(historyOf(invalid->message), std::vector<std::string>{"h/filter!"});
}

}  // namespace
}  // namespace busway::testing

namespace busway::testing {
namespace {

TEST(SetBodyMediaType, AStringPickedOutOfJsonIsTextAndAConstantKeepsTheMediaType) {
  RouteHarness h;
  h.load(RouteHarness::table(R"(
    <route id="pick"><from uri="direct:pick"/><set-body jsonpath="$.name"/><to uri="mock:picked"/></route>
    <route id="keep"><from uri="direct:keep"/><set-body constant='{"a":1}'/><to uri="mock:kept"/></route>)"));
  h.sendBody("direct:pick", R"({"name":"Alice"})");
  h.sendBody("direct:keep", R"({"b":2})");
  ASSERT_EQ(h.mock("picked").count(), 1u);
  EXPECT_EQ(h.mock("picked").messages()[0].bodyText(), "Alice");
  EXPECT_EQ(h.mock("picked").messages()[0].body().mediaType(), "text/plain");
  ASSERT_EQ(h.mock("kept").count(), 1u);
  EXPECT_EQ(h.mock("kept").messages()[0].body().mediaType(), "application/json");
}

}  // namespace
}  // namespace busway::testing
