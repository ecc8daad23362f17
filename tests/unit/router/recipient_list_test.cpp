// recipient-list: static and computed recipients, parallel sends, failures.
#include <future>

#include <gtest/gtest.h>

#include "route_harness.hpp"

namespace busway::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

TEST(RecipientListTest, StaticRecipientsEachGetACopyInOrder) {
  RouteHarness h;
  h.load(RouteHarness::table(R"(<endpoint id="archive" uri="mock:archive"/>
      <route id="r"><from uri="direct:in"/>
      <recipient-list><recipient ref="archive"/><recipient uri="mock:audit?delay=20ms"/><recipient uri="mock:mail"/></recipient-list>
      <to uri="mock:after"/></route>)"));
  Message m(Body::make(R"({"n":1})", std::string(media::json)));
  const std::string id = m.id();
  auto exchange = h.send("direct:in", m);
  ASSERT_TRUE(exchange);
  ASSERT_FALSE(exchange->failed());
  for (const char* name : {"archive", "audit", "mail"}) {
    ASSERT_EQ(h.mock(name).count(), 1u) << name;
    EXPECT_EQ(h.mock(name).messages()[0].bodyText(), R"({"n":1})");
    EXPECT_EQ(h.mock(name).messages()[0].correlationId(), id);
  }
  // Sequential: each recipient gets its copy after the one before has finished.
  EXPECT_LE(h.mock("archive").arrivals()[0], h.mock("audit").arrivals()[0]);
  EXPECT_LE(h.mock("audit").arrivals()[0], h.mock("mail").arrivals()[0]);
  // The message itself continues unchanged.
  EXPECT_EQ(h.mock("after").bodies(), std::vector<std::string>{R"({"n":1})"});
}

TEST(RecipientListTest, ComputedRecipientsWithDelimiterIdsAndUris) {
  RouteHarness h;
  h.load(RouteHarness::table(R"(<endpoint id="archive" uri="mock:archive"/>
      <route id="r"><from uri="direct:in"/>
      <recipient-list header="recipients" delimiter=";"/><to uri="mock:after"/></route>)"));
  Message m;
  m.headers().set("recipients", std::string("archive; mock:mail ;mock:mail"));
  auto exchange = h.send("direct:in", m);
  ASSERT_TRUE(exchange);
  ASSERT_FALSE(exchange->failed()) << exchange->error->describe();
  EXPECT_EQ(h.mock("archive").count(), 1u);
  EXPECT_EQ(h.mock("mail").count(), 2u);
  EXPECT_EQ(h.mock("after").count(), 1u);

  // No recipients at all: nothing is sent and the message goes on.
  auto none = h.send("direct:in", Message());
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->failed());
  EXPECT_EQ(h.mock("after").count(), 2u);
}

TEST(RecipientListTest, UnknownComputedRecipientFailsPermanently) {
  RouteHarness h;
  h.load(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <recipient-list header="recipients"/><to uri="mock:after"/></route>)"));
  Message m;
  m.headers().set("recipients", std::string("mock:ok,nonsense"));
  auto exchange = h.send("direct:in", m);
  ASSERT_TRUE(exchange);
  ASSERT_TRUE(exchange->failed());
  EXPECT_EQ(exchange->error->kind, ErrorKind::permanent);
  EXPECT_NE(exchange->error->message.find("nonsense"), std::string::npos);
  EXPECT_EQ(exchange->error->where, "recipient-list");
  EXPECT_EQ(h.mock("ok").count(), 0u) << "nothing is sent when the list cannot be resolved";

  Message bad_option;
  bad_option.headers().set("recipients", std::string("mock:ok?dealy=5ms"));
  auto typo = h.send("direct:in", bad_option);
  ASSERT_TRUE(typo);
  ASSERT_TRUE(typo->failed());
  EXPECT_NE(typo->error->message.find("did you mean 'delay'"), std::string::npos)
      << typo->error->message;
}

TEST(RecipientListTest, ParallelRecipientsRunAtTheSameTime) {
  RouteHarness h(2);
  h.load(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <recipient-list parallel="true">
        <recipient uri="mock:slow?delay=100ms"/><recipient uri="mock:slow?delay=100ms"/>
        <recipient uri="mock:slow?delay=100ms"/><recipient uri="mock:slow?delay=100ms"/>
      </recipient-list></route>)"));
  const auto start = Clock::now();
  auto exchange = h.sendBody("direct:in", "{}");
  const auto took = Clock::now() - start;
  ASSERT_TRUE(exchange);
  ASSERT_FALSE(exchange->failed());
  EXPECT_EQ(h.mock("slow").count(), 4u);
  EXPECT_LT(took, 350ms) << "4 x 100ms in parallel";
}

TEST(RecipientListTest, FailedRecipientFailsTheStepWithItsKind) {
  RouteHarness h;
  h.load(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <recipient-list><recipient uri="mock:a"/><recipient uri="mock:b?fail=1&amp;fail-kind=timeout"/><recipient uri="mock:c"/></recipient-list>
      <to uri="mock:after"/></route>)"));
  auto exchange = h.sendBody("direct:in", "{}");
  ASSERT_TRUE(exchange);
  ASSERT_TRUE(exchange->failed());
  EXPECT_EQ(exchange->error->kind, ErrorKind::timeout);
  EXPECT_NE(exchange->error->message.find("recipient 2 of 3"), std::string::npos)
      << exchange->error->message;
  EXPECT_EQ(h.mock("after").count(), 0u);
}

TEST(RecipientListTest, CopiesAreHandedOverEvenWhenTheCallerWaitsForAReply) {
  // A route called request-reply hands copies to its recipients; it must not wait for a
  // queue's reader (here: none) as if each copy were a request.
  RouteHarness h;
  h.load(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <recipient-list><recipient uri="queue:audit-nobody-reads"/><recipient uri="mock:svc?reply=reply-of-recipient"/></recipient-list>
      <set-body constant="route result"/></route>)"));
  auto exchange = h.send("direct:in", Message(Body::make("request", std::string(media::text))),
                         ExchangePattern::in_out, 2s);
  ASSERT_TRUE(exchange);
  EXPECT_FALSE(exchange->failed());
  EXPECT_EQ(h.mock("svc").bodies(), std::vector<std::string>{"request"});
  EXPECT_EQ(exchange->replyMessage().bodyText(), "route result");
}

}  // namespace
}  // namespace busway::testing
