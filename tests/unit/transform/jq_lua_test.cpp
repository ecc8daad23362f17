// <jq> (libjq 1.6) and <lua> (Lua 5.4, sandboxed): results, headers, errors at load with
// their line, failures at run time as exchange errors, and the Lua limits.
#include <thread>

#include <gmock/gmock.h>
#include <nlohmann/json.hpp>

#include "transform_test_support.hpp"

namespace busway::testing {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

TEST(JqStep, RunsTheProgramWithHeadersAsAVariable) {
  RouteHarness h;
  h.load(routeWith(
      R"~(<jq program="{id: .order.id, who: $headers.customer, n: (.order.items | length)}"/>)~"));
  Message m(Body::make(R"~({"order": {"id": 7, "items": [1, 2, 3]}})~", "application/json"));
  m.headers().set("customer", std::string("c-9"));
  auto exchange = h.send("direct:in", m);
  ASSERT_FALSE(exchange->failed()) << exchange->error->describe();
  EXPECT_EQ(json::parse(h.mock("out").bodies()[0]),
            json::parse(R"~({"id": 7, "who": "c-9", "n": 3})~"));
  EXPECT_EQ(h.mock("out").messages()[0].body().mediaType(), "application/json");
}

TEST(JqStep, SeveralOutputsMakeAnArrayAndRawOutputGivesText) {
  RouteHarness h;
  h.load(RouteHarness::table(R"~(<route id="many"><from uri="direct:many"/><jq>
      .items[]
      | select(.qty > 1)   # only the multiples
      | .sku
    </jq><to uri="mock:many"/></route>
    <route id="raw"><from uri="direct:raw"/><jq program='[.items[].sku] | join(";")' raw-output="true"/><to uri="mock:raw"/></route>)~"));
  const std::string body =
      R"~({"items": [{"sku": "A", "qty": 2}, {"sku": "B", "qty": 1}, {"sku": "C", "qty": 5}]})~";
  ASSERT_FALSE(h.sendBody("direct:many", body)->failed());
  EXPECT_EQ(json::parse(h.mock("many").bodies()[0]), json::parse(R"~(["A", "C"])~"));
  ASSERT_FALSE(h.sendBody("direct:raw", body)->failed());
  EXPECT_EQ(h.mock("raw").bodies()[0], "A;B;C");
  EXPECT_EQ(h.mock("raw").messages()[0].body().mediaType(), "text/plain");
}

TEST(JqStep, TheEnvironmentIsHidden) {
  setenv("BUSWAY_JQ_SECRET", "s3cr3t", 1);
  RouteHarness h;
  h.load(routeWith(R"~(<jq program="[$ENV.BUSWAY_JQ_SECRET, env.BUSWAY_JQ_SECRET]"/>)~"));
  ASSERT_FALSE(h.sendBody("direct:in", "{}")->failed());
  EXPECT_EQ(h.mock("out").bodies()[0], "[null,null]");
}

TEST(JqStep, ASyntaxErrorIsALoadErrorAtItsLine) {
  RouteHarness h;
  auto attribute = h.loadWithErrors(routeWith(R"~(<jq program=".a | | .b"/>)~"));
  EXPECT_THAT(firstError(attribute), HasSubstr("jq program does not compile: syntax error"));
  EXPECT_THAT(firstError(attribute), HasSubstr("test.xml:1:"));
  auto text = h.loadWithErrors(RouteHarness::table(
      "<route id=\"r\"><from uri=\"direct:in\"/>\n<jq>\n  .a\n  | .b\n  | ]\n</jq></route>"));
  EXPECT_THAT(firstError(text), HasSubstr("test.xml:5:")) << firstError(text);
  auto unknown = h.loadWithErrors(routeWith(R"~(<jq program="nosuchfunction(1)"/>)~"));
  EXPECT_THAT(firstError(unknown), HasSubstr("nosuchfunction/1 is not defined"));
  auto empty = h.loadWithErrors(routeWith(R"~(<jq/>)~"));
  EXPECT_THAT(firstError(empty), HasSubstr("<jq> needs a program"));
}

TEST(JqStep, RuntimeErrorsAndNonJsonBodiesAreInvalidExchanges) {
  RouteHarness h;
  h.load(routeWith(R"~(<jq program=".items[] | .sku"/>)~", 3));
  h.sendBody("direct:in", R"~({"items": 5})~");
  h.sendBody("direct:in", "not json", "text/plain");
  h.sendBody("direct:in", R"~({"items": []})~");
  ASSERT_TRUE(h.mock("dlq").waitFor(3));
  const auto reasons = h.mock("dlq").headers("busway.failure.reason");
  EXPECT_THAT(reasons[0], HasSubstr("Cannot iterate over number"));
  EXPECT_THAT(reasons[1], HasSubstr("not JSON"));
  EXPECT_THAT(reasons[2], HasSubstr("no output"));
  EXPECT_EQ(h.mock("dlq").headers("busway.failure.attempts"),
            (std::vector<std::string>{"1", "1", "1"}));
}

TEST(JqStep, ManyThreadsShareOneCompiledStep) {
  RouteHarness h(4);
  h.load(routeWith(R"~(<jq program=".n * 2"/>)~"));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&h, t] {
      for (int i = 0; i < 50; ++i)
        h.sendBody("direct:in", "{\"n\": " + std::to_string(t * 100 + i) + "}");
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(h.mock("out").count(), 200u);
  long sum = 0;
  for (const auto& b : h.mock("out").bodies()) sum += std::stol(b);
  long expected = 0;
  for (int t = 0; t < 4; ++t) {
    for (int i = 0; i < 50; ++i) expected += 2 * (t * 100 + i);
  }
  EXPECT_EQ(sum, expected);
}

TEST(LuaStep, ReadsBodyJsonAndHeadersAndReturnsANewBody) {
  RouteHarness h;
  h.load(routeWith(R"~(<lua><![CDATA[
    local order = message.json
    local total = 0
    for _, line in ipairs(order.lines) do total = total + line.qty * line.price end
    message.headers["order-total"] = total
    message.headers["x-remove"] = nil
    order.total = total
    order.customer = string.upper(message.headers.customer)
    return order
  ]]></lua>)~"));
  Message m(
      Body::make(R"~({"lines": [{"qty": 2, "price": 1.5}, {"qty": 1, "price": 4}], "note": null})~",
                 "application/json"));
  m.headers().set("customer", std::string("anna"));
  m.headers().set("x-remove", std::string("gone"));
  auto exchange = h.send("direct:in", m);
  ASSERT_FALSE(exchange->failed()) << exchange->error->describe();
  const auto out = h.mock("out").messages()[0];
  const json body = json::parse(out.bodyText());
  EXPECT_DOUBLE_EQ(body["total"].get<double>(), 7.0);
  EXPECT_EQ(body["customer"], "ANNA");
  EXPECT_TRUE(body["note"].is_null());
  EXPECT_TRUE(body["lines"].is_array());
  ASSERT_NE(out.headers().find("order-total"), nullptr);
  EXPECT_EQ(*out.headers().find("order-total"), HeaderValue(7.0));
  EXPECT_FALSE(out.headers().contains("x-remove"));
  EXPECT_EQ(out.headers().text("customer"), "anna");
}

TEST(LuaStep, AStringResultOrAChangedBodyBecomesTheBody) {
  RouteHarness h;
  h.load(RouteHarness::table(R"~(<route id="a"><from uri="direct:a"/><lua>
      message.media_type = "text/csv"
      return "sku;qty\n" .. message.json.sku .. ";" .. math.tointeger(message.json.qty)
    </lua><to uri="mock:a"/></route>
    <route id="b"><from uri="direct:b"/><lua>message.body = message.body:reverse()</lua><to uri="mock:b"/></route>)~"));
  ASSERT_FALSE(h.sendBody("direct:a", R"~({"sku": "A-1", "qty": 3})~")->failed());
  EXPECT_EQ(h.mock("a").bodies()[0], "sku;qty\nA-1;3");
  EXPECT_EQ(h.mock("a").messages()[0].body().mediaType(), "text/csv");
  ASSERT_FALSE(h.sendBody("direct:b", "abc", "text/plain")->failed());
  EXPECT_EQ(h.mock("b").bodies()[0], "cba");
}

TEST(LuaStep, TheSandboxHasNoIoOsPackageDebugOrLoad) {
  RouteHarness h;
  h.load(routeWith(R"~(<lua>
      local seen = {}
      for _, name in ipairs({"io", "package", "debug", "load", "loadfile", "dofile", "require", "collectgarbage"}) do
        if _ENV[name] ~= nil then seen[#seen + 1] = name end
      end
      if os.execute or os.getenv or os.remove or os.exit then seen[#seen + 1] = "os" end
      if string.dump then seen[#seen + 1] = "string.dump" end
      leaked = (leaked or 0) + 1
      return {seen = table.concat(seen, ","), leaked = leaked, time = type(os.time())}
    </lua>)~"));
  ASSERT_FALSE(h.sendBody("direct:in", "{}")->failed());
  ASSERT_FALSE(h.sendBody("direct:in", "{}")->failed());
  for (const auto& body : h.mock("out").bodies()) {
    EXPECT_EQ(json::parse(body),
              json::parse(
                  R"~({"seen": "", "leaked": 1, "time": "number"})~"));  // fresh globals each time
  }
}

TEST(LuaStep, TheInstructionLimitStopsAnEndlessLoop) {
  RouteHarness h;
  h.load(routeWith(R"~(<lua max-instructions="100000">while true do end</lua>)~", 3));
  auto exchange = h.sendBody("direct:in", "{}");
  ASSERT_TRUE(h.mock("dlq").waitFor(1));
  const auto dead = h.mock("dlq").messages()[0];
  EXPECT_THAT(dead.headers().text("busway.failure.reason"),
              HasSubstr("instruction limit of 100000 exceeded"));
  EXPECT_EQ(dead.headers().text("busway.failure.attempts"), "1");
  // The state is still usable: the next message hits the limit again rather than crashing.
  h.sendBody("direct:in", "{}");
  EXPECT_TRUE(h.mock("dlq").waitFor(2));
}

TEST(LuaStep, TheMemoryLimitStopsAGreedyScript) {
  RouteHarness h;
  h.load(routeWith(
      R"~(<lua max-memory="1MB">local t = {} for i = 1, 1e7 do t[i] = string.rep("x", 100) .. i end</lua>)~"));
  h.sendBody("direct:in", "{}");
  ASSERT_TRUE(h.mock("dlq").waitFor(1));
  EXPECT_THAT(h.mock("dlq").messages()[0].headers().text("busway.failure.reason"),
              HasSubstr("memory limit of 1048576 bytes exceeded"));
}

TEST(LuaStep, ScriptErrorsAreInvalidExchangesAndSyntaxErrorsAreLoadErrorsAtTheirLine) {
  RouteHarness h;
  h.load(routeWith(
      R"~(<lua>if message.json.qty &lt; 1 then error("qty must be positive") end</lua>)~"));
  h.sendBody("direct:in", R"~({"qty": 0})~");
  ASSERT_TRUE(h.mock("dlq").waitFor(1));
  EXPECT_THAT(h.mock("dlq").messages()[0].headers().text("busway.failure.reason"),
              HasSubstr("qty must be positive"));
  EXPECT_EQ(h.mock("dlq").messages()[0].headers().text("busway.failure.kind"), "invalid");

  auto syntax =
      h.loadWithErrors(RouteHarness::table("<route id=\"r\"><from uri=\"direct:x\"/>\n<lua>\n  "
                                           "local a = 1\n  local b = = 2\n</lua></route>"));
  EXPECT_THAT(firstError(syntax), HasSubstr("test.xml:4:"));
  EXPECT_THAT(firstError(syntax), HasSubstr("Lua script does not compile"));
  TempDir dir;
  put(dir, "bad.lua", "return {\n");
  auto file = h.loadWithErrors(routeWith("<lua script=\"" + dir.file("bad.lua") + "\"/>"));
  EXPECT_THAT(firstError(file), HasSubstr("bad.lua:2:"));
  auto limits = h.loadWithErrors(routeWith("<lua max-memory=\"12\">return nil</lua>"));
  EXPECT_THAT(firstError(limits), HasSubstr("max-memory must be a size of at least 256KB"));
}

}  // namespace
}  // namespace busway::testing
