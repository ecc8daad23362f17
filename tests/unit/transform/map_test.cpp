// <map>: declarative field mapping JSON/XML -> JSON/XML, with conversions, lookups,
// concatenation, constants, headers, expressions, repetition, and errors with positions.
#include <gmock/gmock.h>
#include <nlohmann/json.hpp>

#include "transform_test_support.hpp"

namespace busway::testing {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

const char* kShopOrder = R"~({
  "id": 42, "created": "01.03.2026 11:15", "currency": "eur",
  "buyer": {"first": "Anna", "last": "Berg", "mail": "anna@example.com", "vip": "yes"},
  "ship": {"country": "Deutschland", "cost": "1.234,50"},
  "items": [{"sku": "A-1", "qty": "2", "price": "8.50"}, {"sku": "B-2", "qty": 1, "price": 6.2}]
})~";

const char* kJsonMap = R"~(<map>
  <lookup name="countries" default="ZZ"><entry key="Deutschland" value="DE"/></lookup>
  <lookup name="currencies"><entry key="eur" value="EUR"/></lookup>
  <field target="orderNumber" source="$.id" type="string"/>
  <field target="createdAt" source="$.created" type="datetime" format="%d.%m.%Y %H:%M"/>
  <field target="day" source="$.created" type="date" format="%d.%m.%Y %H:%M" output-format="%d/%m/%Y"/>
  <field target="currency" source="$.currency" lookup="currencies"/>
  <field target="customer.name" concat="$.buyer.first, $.buyer.last" separator=" "/>
  <field target="customer.email" source="$['buyer']['mail']"/>
  <field target="customer.vip" source="$.buyer.vip" type="bool"/>
  <field target="customer.phone" source="$.buyer.phone"/>
  <field target="channel" header="x-channel" default="web"/>
  <field target="status" constant="new"/>
  <field target="big" simple="$.id > 40" type="bool"/>
  <field target="shipping.country" source="$.ship.country" lookup="countries"/>
  <field target="shipping.cost" source="$.ship.cost" type="decimal" format="decimal-comma"/>
  <each source="$.items" target="lines">
    <field target="sku" source="$.sku"/>
    <field target="quantity" source="$.qty" type="int"/>
    <field target="unitPrice" source="$.price" type="decimal"/>
  </each>
  <field target="firstSku" source="$.items[0].sku"/>
  <field target="lastSku" source="$.items[-1].sku"/>
</map>)~";

TEST(MapStep, JsonToJsonWithConversionsLookupsConcatDefaultsAndRepetition) {
  RouteHarness h;
  h.load(routeWith(kJsonMap));
  auto exchange = h.sendBody("direct:in", kShopOrder);
  ASSERT_FALSE(exchange->failed()) << exchange->error->describe();
  const json out = json::parse(h.mock("out").bodies()[0]);
  EXPECT_EQ(out["orderNumber"], "42");
  EXPECT_EQ(out["createdAt"], "2026-03-01T11:15:00Z");
  EXPECT_EQ(out["day"], "01/03/2026");
  EXPECT_EQ(out["currency"], "EUR");
  EXPECT_EQ(out["customer"]["name"], "Anna Berg");
  EXPECT_EQ(out["customer"]["email"], "anna@example.com");
  EXPECT_EQ(out["customer"]["vip"], true);
  EXPECT_FALSE(out["customer"].contains("phone"));  // optional and absent: left out
  EXPECT_EQ(out["channel"], "web");
  EXPECT_EQ(out["status"], "new");
  EXPECT_EQ(out["big"], true);
  EXPECT_EQ(out["shipping"]["country"], "DE");
  EXPECT_DOUBLE_EQ(out["shipping"]["cost"].get<double>(), 1234.5);
  ASSERT_EQ(out["lines"].size(), 2u);
  EXPECT_EQ(out["lines"][0], json::parse(R"~({"sku": "A-1", "quantity": 2, "unitPrice": 8.5})~"));
  EXPECT_EQ(out["lines"][1]["quantity"], 1);
  EXPECT_EQ(out["firstSku"], "A-1");
  EXPECT_EQ(out["lastSku"], "B-2");
  EXPECT_EQ(h.mock("out").messages()[0].body().mediaType(), "application/json");
}

TEST(MapStep, HeadersFeedFieldsAndLookupDefaultsApply) {
  RouteHarness h;
  h.load(routeWith(kJsonMap));
  Message m(Body::make(
      R"~({"id": 7, "created": "02.01.2026 00:00", "currency": "eur", "ship": {"country": "Mars"}})~",
      "application/json"));
  m.headers().set("x-channel", std::string("pos"));
  auto exchange = h.send("direct:in", m);
  ASSERT_FALSE(exchange->failed()) << exchange->error->describe();
  const json out = json::parse(h.mock("out").bodies()[0]);
  EXPECT_EQ(out["channel"], "pos");
  EXPECT_EQ(out["shipping"]["country"], "ZZ");
  EXPECT_EQ(out["big"], false);
  EXPECT_EQ(out["lines"], json::array());
}

TEST(MapStep, JsonToXmlWithAttributesAndItems) {
  RouteHarness h;
  h.load(routeWith(R"~(<map output="xml" root="Order" namespace="urn:busway:canonical:1">
      <field target="orderNumber" source="$.id"/>
      <field target="@source" constant="shop"/>
      <field target="customer.name" concat="$.buyer.first, $.buyer.last" separator=" "/>
      <each source="$.items[*]" target="lines" item="line">
        <field target="@sku" source="$.sku"/>
        <field target="quantity" source="$.qty" type="int"/>
      </each>
    </map>)~"));
  auto exchange = h.sendBody("direct:in", kShopOrder);
  ASSERT_FALSE(exchange->failed()) << exchange->error->describe();
  EXPECT_EQ(h.mock("out").bodies()[0],
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Order xmlns=\"urn:busway:canonical:1\" "
            "source=\"shop\">"
            "<orderNumber>42</orderNumber><customer><name>Anna Berg</name></customer>"
            "<lines><line sku=\"A-1\"><quantity>2</quantity></line><line "
            "sku=\"B-2\"><quantity>1</quantity></line></lines></Order>");
  EXPECT_EQ(h.mock("out").messages()[0].body().mediaType(), "application/xml");
}

const char* kXmlOrder = R"~(<order id="9"><buyer><name>Bo</name><mail>bo@example.com</mail></buyer>
  <item sku="X-1"><qty>3</qty><price>1.25</price></item><item sku="Y-2"><qty>4</qty><price>2</price></item></order>)~";

TEST(MapStep, XmlToJsonWithXPath) {
  RouteHarness h;
  h.load(routeWith(R"~(<map input="xml">
      <field target="orderNumber" source="/order/@id" type="int"/>
      <field target="customer" source="string(/order/buyer/name)"/>
      <field target="count" source="count(//item)"/>
      <field target="total" source="sum(//item/qty)"/>
      <each source="//item" target="lines">
        <field target="sku" source="@sku"/>
        <field target="quantity" source="qty" type="int"/>
        <field target="unitPrice" source="price" type="decimal"/>
      </each>
    </map>)~"));
  auto exchange = h.sendBody("direct:in", kXmlOrder, "application/xml");
  ASSERT_FALSE(exchange->failed()) << exchange->error->describe();
  const json out = json::parse(h.mock("out").bodies()[0]);
  EXPECT_EQ(out["orderNumber"], 9);
  EXPECT_EQ(out["customer"], "Bo");
  EXPECT_EQ(out["count"], 2);
  EXPECT_EQ(out["total"], 7);
  EXPECT_EQ(out["lines"][1], json::parse(R"~({"sku": "Y-2", "quantity": 4, "unitPrice": 2.0})~"));
}

TEST(MapStep, XmlToXml) {
  RouteHarness h;
  h.load(routeWith(R"~(<map input="xml" output="xml" root="Customer">
      <field target="email" source="/order/buyer/mail"/>
      <each source="//item" target="sku"><field target="@code" source="@sku"/></each>
    </map>)~"));
  auto exchange = h.sendBody("direct:in", kXmlOrder, "application/xml");
  ASSERT_FALSE(exchange->failed()) << exchange->error->describe();
  EXPECT_EQ(h.mock("out").bodies()[0],
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Customer><email>bo@example.com</email><sku "
            "code=\"X-1\"/><sku code=\"Y-2\"/></Customer>");
}

TEST(MapStep, EveryProblemOfAMessageIsReportedAndTheMessageIsDeadLetteredUnretried) {
  RouteHarness h;
  h.load(routeWith(R"~(<map>
      <field target="orderNumber" source="$.id" required="true"/>
      <field target="createdAt" source="$.created" type="date"/>
      <each source="$.items" target="lines"><field target="quantity" source="$.qty" type="int"/></each>
      <field target="country" source="$.country" lookup="countries"/>
      <lookup name="countries"><entry key="Deutschland" value="DE"/></lookup>
    </map>)~",
                   3));
  auto exchange = h.sendBody(
      "direct:in",
      R"~({"created": "2026-02-30", "items": [{"qty": "2"}, {"qty": "two"}], "country": "Narnia"})~");
  ASSERT_TRUE(h.mock("dlq").waitFor(1));
  const auto dead = h.mock("dlq").messages()[0];
  const std::string reason = dead.headers().text("busway.failure.reason");
  EXPECT_THAT(reason, HasSubstr("4 problem(s)"));
  EXPECT_THAT(reason, HasSubstr("orderNumber: required value is missing (source $.id)"));
  EXPECT_THAT(reason, HasSubstr("createdAt: '2026-02-30' is not a date"));
  EXPECT_THAT(reason, HasSubstr("lines[1]: quantity: 'two' is not an int"));
  EXPECT_THAT(reason, HasSubstr("country: 'Narnia' is not in lookup 'countries'"));
  EXPECT_EQ(dead.headers().text("busway.failure.kind"), "invalid");
  EXPECT_EQ(dead.headers().text("busway.failure.attempts"), "1");
  EXPECT_EQ(h.mock("out").count(), 0u);
}

TEST(MapStep, ABodyThatIsNotJsonFailsAsInvalid) {
  RouteHarness h;
  h.load(routeWith(R"~(<map><field target="a" source="$.a"/></map>)~"));
  auto exchange = h.sendBody("direct:in", "<not-json/>", "application/xml");
  EXPECT_TRUE(h.mock("dlq").waitFor(1));
  EXPECT_THAT(h.mock("dlq").messages()[0].headers().text("busway.failure.reason"),
              HasSubstr("not JSON"));
}

TEST(MapStep, MistakesInTheMappingAreLoadErrorsWithPositions) {
  RouteHarness h;
  auto bad_path =
      h.loadWithErrors(routeWith("<map>\n<field target=\"a\" source=\"$.a[x]\"/></map>"));
  EXPECT_THAT(firstError(bad_path), HasSubstr("test.xml:2:"));
  EXPECT_THAT(firstError(bad_path), HasSubstr("invalid JSON path '$.a[x]'"));
  auto bad_xpath = h.loadWithErrors(
      routeWith("<map input=\"xml\">\n<field target=\"a\" source=\"//a[\"/></map>"));
  EXPECT_THAT(firstError(bad_xpath), HasSubstr("test.xml:2:"));
  EXPECT_THAT(firstError(bad_xpath), HasSubstr("invalid XPath"));
  auto bad_type = h.loadWithErrors(
      routeWith("<map><field target=\"a\" source=\"$.a\" type=\"integer\"/></map>"));
  EXPECT_THAT(firstError(bad_type), HasSubstr("unknown type 'integer'"));
  auto bad_lookup = h.loadWithErrors(
      routeWith("<map><lookup name=\"countries\"><entry key=\"a\" value=\"b\"/></lookup><field "
                "target=\"a\" source=\"$.a\" lookup=\"countrys\"/></map>"));
  EXPECT_THAT(firstError(bad_lookup), HasSubstr("did you mean 'countries'"));
  auto no_source = h.loadWithErrors(routeWith("<map><field target=\"a\"/></map>"));
  EXPECT_TRUE(no_source.hasErrors());
  auto two_sources =
      h.loadWithErrors(routeWith("<map><field target=\"a\" source=\"$.a\" constant=\"x\"/></map>"));
  EXPECT_TRUE(two_sources.hasErrors());
  auto bad_target =
      h.loadWithErrors(routeWith("<map><field target=\"a..b\" source=\"$.a\"/></map>"));
  EXPECT_THAT(firstError(bad_target), HasSubstr("target 'a..b'"));
  auto attribute_in_json =
      h.loadWithErrors(routeWith("<map><field target=\"@a\" source=\"$.a\"/></map>"));
  EXPECT_THAT(firstError(attribute_in_json),
              HasSubstr("only possible as the last part of an XML output path"));
  auto no_root =
      h.loadWithErrors(routeWith("<map output=\"xml\"><field target=\"a\" source=\"$.a\"/></map>"));
  EXPECT_THAT(firstError(no_root), HasSubstr("needs root="));
  auto bad_simple =
      h.loadWithErrors(routeWith("<map><field target=\"a\" simple=\"$.a &gt;\"/></map>"));
  EXPECT_THAT(firstError(bad_simple), HasSubstr("invalid simple expression"));
}

}  // namespace
}  // namespace busway::testing
