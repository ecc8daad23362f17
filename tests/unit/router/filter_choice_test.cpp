// filter, choice/when/otherwise: which messages go where, and what a predicate that cannot
// be evaluated does.
#include <gtest/gtest.h>

#include "route_harness.hpp"

namespace busway::testing {
namespace {

TEST(FilterTest, MatchingMessagesRunTheChildrenAndContinue) {
  RouteHarness h;
  h.load(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <filter jsonpath="$.status == 'paid'"><to uri="mock:inside"/></filter>
      <to uri="mock:after"/></route>)"));
  auto paid = h.sendBody("direct:in", R"({"status":"paid","id":1})");
  auto open = h.sendBody("direct:in", R"({"status":"open","id":2})");
  ASSERT_TRUE(paid && open);
  EXPECT_FALSE(paid->failed());
  EXPECT_FALSE(paid->stopped);
  // A message the filter drops is done, not failed.
  EXPECT_FALSE(open->failed());
  EXPECT_TRUE(open->stopped);
  EXPECT_EQ(h.mock("inside").bodies(), std::vector<std::string>{R"({"status":"paid","id":1})"});
  EXPECT_EQ(h.mock("after").bodies(), std::vector<std::string>{R"({"status":"paid","id":1})"});
}

TEST(FilterTest, EmptyFilterDropsTheRest) {
  RouteHarness h;
  h.load(RouteHarness::table(R"x(<route id="r"><from uri="direct:in"/>
      <filter header="not exists(x-test)"/><to uri="mock:out"/></route>)x"));
  Message test_message(Body::make("t", std::string(media::text)));
  test_message.headers().set("x-test", true);
  auto dropped = h.send("direct:in", test_message);
  auto kept = h.sendBody("direct:in", "real", std::string(media::text));
  ASSERT_TRUE(dropped && kept);
  EXPECT_FALSE(dropped->failed());
  EXPECT_TRUE(dropped->stopped);
  EXPECT_FALSE(kept->failed());
  EXPECT_EQ(h.mock("out").bodies(), std::vector<std::string>{"real"});
}

TEST(FilterTest, JsonPathOnANonJsonBodyFailsAsInvalid) {
  RouteHarness h;
  h.load(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <filter jsonpath="$.status == 'paid'"><to uri="mock:inside"/></filter>
      <to uri="mock:after"/></route>)"));
  auto exchange = h.sendBody("direct:in", "this is not json", std::string(media::text));
  ASSERT_TRUE(exchange);
  ASSERT_TRUE(exchange->failed());
  EXPECT_EQ(exchange->error->kind, ErrorKind::invalid) << exchange->error->describe();
  EXPECT_EQ(h.mock("inside").count(), 0u);
  EXPECT_EQ(h.mock("after").count(), 0u);
}

TEST(FilterTest, FilterInsideASplitDropsOnlyThatPart) {
  RouteHarness h;
  h.load(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <split jsonpath="$.items[*]"><filter jsonpath="$.keep == true"/><to uri="mock:kept"/></split>
      <to uri="mock:after"/></route>)"));
  auto exchange = h.sendBody(
      "direct:in", R"({"items":[{"n":1,"keep":true},{"n":2,"keep":false},{"n":3,"keep":true}]})");
  ASSERT_TRUE(exchange);
  EXPECT_FALSE(exchange->failed());
  EXPECT_FALSE(exchange->stopped);
  EXPECT_EQ(h.mock("kept").bodies(),
            (std::vector<std::string>{R"({"keep":true,"n":1})", R"({"keep":true,"n":3})"}));
  EXPECT_EQ(h.mock("after").count(), 1u);
}

const char* kChoiceTable = R"(<route id="r"><from uri="direct:in"/>
    <choice>
      <when jsonpath="$.country == 'DE'"><set-header name="lane" constant="de"/><to uri="mock:de"/></when>
      <when jsonpath="$.total > 100"><set-header name="lane" constant="big"/><to uri="mock:big"/></when>
      <otherwise><set-header name="lane" constant="other"/><to uri="mock:other"/></otherwise>
    </choice>
    <to uri="mock:after"/></route>)";

TEST(ChoiceTest, FirstMatchingWhenWinsAndTheMessageContinues) {
  RouteHarness h;
  h.load(RouteHarness::table(kChoiceTable));
  // Matches both whens: only the first runs.
  auto both = h.sendBody("direct:in", R"({"country":"DE","total":500})");
  auto big = h.sendBody("direct:in", R"({"country":"FR","total":500})");
  auto none = h.sendBody("direct:in", R"({"country":"FR","total":5})");
  ASSERT_TRUE(both && big && none);
  for (const auto& e : {both, big, none}) {
    EXPECT_FALSE(e->failed());
    EXPECT_FALSE(e->stopped);
  }
  EXPECT_EQ(h.mock("de").count(), 1u);
  EXPECT_EQ(h.mock("big").count(), 1u);
  EXPECT_EQ(h.mock("other").count(), 1u);
  EXPECT_EQ(h.mock("after").headers("lane"), (std::vector<std::string>{"de", "big", "other"}));
}

TEST(ChoiceTest, WithoutOtherwiseUnmatchedMessagesContinue) {
  RouteHarness h;
  h.load(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <choice><when header="type == 'heartbeat'"><stop/></when></choice>
      <to uri="mock:after"/></route>)"));
  Message heartbeat;
  heartbeat.headers().set("type", std::string("heartbeat"));
  Message event;
  event.headers().set("type", std::string("event"));
  auto a = h.send("direct:in", heartbeat);
  auto b = h.send("direct:in", event);
  ASSERT_TRUE(a && b);
  EXPECT_TRUE(a->stopped);
  EXPECT_FALSE(a->failed());
  EXPECT_FALSE(b->stopped);
  EXPECT_EQ(h.mock("after").headers("type"), std::vector<std::string>{"event"});
}

TEST(ChoiceTest, UnreadableBodyFailsAsInvalidAndRunsNoBranch) {
  RouteHarness h;
  h.load(RouteHarness::table(kChoiceTable));
  auto exchange = h.sendBody("direct:in", "<order/>", std::string(media::xml));
  ASSERT_TRUE(exchange);
  ASSERT_TRUE(exchange->failed());
  EXPECT_EQ(exchange->error->kind, ErrorKind::invalid);
  EXPECT_EQ(h.mock("de").count() + h.mock("big").count() + h.mock("other").count() +
                h.mock("after").count(),
            0u);
}

TEST(ChoiceTest, AsynchronousBranchResumesTheRoute) {
  RouteHarness h;
  h.load(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <choice><when header="slow"><to uri="mock:slow?delay=30ms"/></when></choice>
      <set-header name="after-choice" constant="yes"/><to uri="mock:after"/></route>)"));
  Message slow;
  slow.headers().set("slow", true);
  auto exchange = h.send("direct:in", slow);
  ASSERT_TRUE(exchange);
  EXPECT_FALSE(exchange->failed());
  EXPECT_EQ(h.mock("slow").count(), 1u);
  EXPECT_EQ(h.mock("after").headers("after-choice"), std::vector<std::string>{"yes"});
}

TEST(ChoiceTest, LoadErrorsForMisplacedOtherwise) {
  RouteHarness h;
  auto d = h.loadWithErrors(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
      <choice><otherwise><stop/></otherwise><when header="x"><stop/></when></choice></route>)"));
  EXPECT_TRUE(d.hasErrors());
  EXPECT_NE(d.toString().find("before <otherwise>"), std::string::npos) << d.toString();
}

}  // namespace
}  // namespace busway::testing
