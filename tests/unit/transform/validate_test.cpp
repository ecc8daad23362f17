// <validate schema=...> (JSON Schema subset, json_schema.hpp) and <validate xsd=...>
// (libxml2), plus the JSON Schema validator on its own and the canonical model's schemas.
#include <fstream>
#include <sstream>

#include <gmock/gmock.h>
#include <nlohmann/json.hpp>

#include "busway/transform/json_schema.hpp"
#include "transform_test_support.hpp"

namespace busway::testing {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::string kCanonical = std::string(BUSWAY_SOURCE_DIR) + "/schemas/canonical/";

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> violations(const JsonSchema& schema, const json& document) {
  std::vector<std::string> out;
  for (const auto& v : schema.validate(document)) out.push_back(v.toString());
  return out;
}

TEST(JsonSchema, ChecksEveryKeywordOfTheSubsetAndReportsEveryViolationWithItsPath) {
  auto schema = JsonSchema::fromJson(json::parse(R"~({
    "type": "object",
    "required": ["id", "lines"],
    "additionalProperties": false,
    "properties": {
      "id": {"type": "string", "pattern": "^O-[0-9]+$", "minLength": 3, "maxLength": 8},
      "kind": {"enum": ["web", "pos"]},
      "version": {"const": 1},
      "placed": {"type": "string", "format": "date-time"},
      "day": {"type": "string", "format": "date"},
      "mail": {"type": "string", "format": "email"},
      "lines": {"type": "array", "minItems": 1, "maxItems": 2, "items": {"$ref": "#/$defs/line"}},
      "tags": {"type": "array", "uniqueItems": true},
      "note": {"type": ["string", "null"]},
      "code": {"anyOf": [{"type": "integer"}, {"type": "string", "maxLength": 2}]},
      "exact": {"oneOf": [{"type": "integer"}, {"type": "number", "minimum": 5}]},
      "not5": {"not": {"const": 5}}
    },
    "$defs": {
      "line": {"type": "object", "required": ["qty"], "properties": {
        "qty": {"type": "integer", "minimum": 1, "maximum": 99},
        "price": {"type": "number", "exclusiveMinimum": 0, "multipleOf": 0.01}}}
    }
  })~"));
  ASSERT_TRUE(schema) << schema.error().message;
  EXPECT_TRUE((*schema)
                  ->validate(json::parse(
                      R"~({"id": "O-12", "lines": [{"qty": 2, "price": 19.99}], "note": null,
      "placed": "2026-03-01T10:15:00+01:00", "day": "2024-02-29", "mail": "a@b.de", "code": "ab", "exact": 2, "not5": 4})~"))
                  .empty());
  EXPECT_THAT(
      violations(
          **schema,
          json::parse(R"~({"id": "X", "kind": "fax", "version": 2, "placed": "2026-03-01 10:15",
      "day": "2023-02-29", "mail": "nope", "lines": [{"qty": 0, "price": 1.005}, {"price": -1}, {"qty": 1}],
      "tags": [1, 1], "note": 5, "code": "abc", "exact": 7, "not5": 5, "extra": true})~")),
      ElementsAre(
          "/code: must match one of the anyOf schemas (the first says: /code: must be integer, not "
          "string)",
          "/day: must be a valid date, not \"2023-02-29\"",
          "/exact: must match exactly one of the oneOf schemas, matches 2",
          "/extra: property 'extra' is not allowed (additionalProperties is false)",
          "/id: must be at least 3 characters long, not 1",
          "/id: must match the pattern ^O-[0-9]+$, not \"X\"",
          "/kind: must be one of \"web\", \"pos\", not \"fax\"",
          "/lines: must have at most 2 item(s), not 3",
          "/lines/0/price: must be a multiple of 0.01, not 1.005",
          "/lines/0/qty: must be >= 1.0, not 0", "/lines/1: required property 'qty' is missing",
          "/lines/1/price: must be > 0.0, not -1", "/mail: must be a valid email, not \"nope\"",
          "/not5: must not match the schema under 'not'",
          "/note: must be null or string, not integer",
          "/placed: must be a valid date-time, not \"2026-03-01 10:15\"",
          "/tags: items 0 and 1 are equal; items must be unique", "/version: must be 1"));
  EXPECT_THAT(violations(**schema, json::parse("[]")), ElementsAre("/: must be object, not array"));
}

TEST(JsonSchema, UnsupportedKeywordsAndBrokenReferencesAreRefusedAtLoad) {
  auto unsupported =
      JsonSchema::fromJson(json::parse(R"~({"properties": {"a": {"patternProperties": {}}}})~"));
  ASSERT_FALSE(unsupported);
  EXPECT_THAT(
      unsupported.error().message,
      HasSubstr("/properties/a/patternProperties: keyword 'patternProperties' is not supported"));
  auto dangling = JsonSchema::fromJson(json::parse(R"~({"$ref": "#/$defs/nope"})~"));
  ASSERT_FALSE(dangling);
  EXPECT_THAT(dangling.error().message, HasSubstr("points at nothing"));
  auto remote = JsonSchema::fromJson(json::parse(R"~({"$ref": "https://example.com/s.json"})~"));
  ASSERT_FALSE(remote);
  EXPECT_THAT(remote.error().message, HasSubstr("only local files"));
  auto regex = JsonSchema::fromJson(json::parse(R"~({"pattern": "(["})~"));
  ASSERT_FALSE(regex);
  EXPECT_THAT(regex.error().message, HasSubstr("not a valid regular expression"));
}

TEST(JsonSchema, TheCanonicalOrderSchemaAcceptsItsExampleAndRejectsABrokenOrder) {
  auto schema = JsonSchema::load(kCanonical + "order-1.schema.json");
  ASSERT_TRUE(schema) << schema.error().message;
  const json example = json::parse(slurp(kCanonical + "examples/order-1.json"));
  EXPECT_THAT(violations(**schema, example), ElementsAre());
  json broken = example;
  broken["currency"] = "euro";
  broken["lines"][0]["quantity"] = 0;
  broken["customer"].erase("email");
  broken["shippingAddress"]["country"] = "Germany";
  broken["createdAt"] = "yesterday";
  EXPECT_THAT(
      violations(**schema, broken),
      ElementsAre("/createdAt: must be a valid date-time, not \"yesterday\"",
                  "/currency: must match the pattern ^[A-Z]{3}$, not \"euro\"",
                  "/customer: required property 'email' is missing",
                  "/lines/0/quantity: must be >= 1.0, not 0",
                  "/shippingAddress/country: must match the pattern ^[A-Z]{2}$, not \"Germany\""));
  for (const char* name :
       {"customer", "product", "order-line", "invoice", "shipment", "payment", "common"}) {
    auto other = JsonSchema::load(kCanonical + name + "-1.schema.json");
    EXPECT_TRUE(other) << name << ": " << other.error().message;
  }
}

TEST(ValidateStep, AnInvalidJsonMessageIsDeadLetteredWithEveryViolationAndNotRetried) {
  RouteHarness h;
  h.load(routeWith("<validate schema=\"" + kCanonical + "order-1.schema.json\"/>", 3));
  ASSERT_FALSE(h.sendBody("direct:in", slurp(kCanonical + "examples/order-1.json"))->failed());
  EXPECT_EQ(h.mock("out").count(), 1u);
  h.sendBody("direct:in", R"~({"orderNumber": "", "lines": [], "extra": 1})~");
  ASSERT_TRUE(h.mock("dlq").waitFor(1));
  const auto dead = h.mock("dlq").messages()[0];
  const std::string reason = dead.headers().text("busway.failure.reason");
  EXPECT_THAT(reason, HasSubstr("violation(s)"));
  for (const char* expected :
       {"/: required property 'createdAt' is missing", "/: required property 'totals' is missing",
        "/extra: property 'extra' is not allowed", "/lines: must have at least 1 item(s), not 0",
        "/orderNumber: must be at least 1 characters long"}) {
    EXPECT_THAT(reason, HasSubstr(expected));
  }
  EXPECT_EQ(dead.headers().text("busway.failure.kind"), "invalid");
  EXPECT_EQ(dead.headers().text("busway.failure.attempts"), "1");
  EXPECT_EQ(h.mock("out").count(), 1u);
}

TEST(ValidateStep, XsdValidationReportsEveryViolationWithItsPlace) {
  RouteHarness h;
  h.load(routeWith("<validate xsd=\"" + kCanonical + "order-1.xsd\"/>"));
  ASSERT_FALSE(
      h.sendBody("direct:in", slurp(kCanonical + "examples/order-1.xml"), "application/xml")
          ->failed());
  std::string broken = slurp(kCanonical + "examples/order-1.xml");
  broken.replace(broken.find("<currency>EUR</currency>"), 24, "<currency>euro</currency>");
  broken.replace(broken.find("<quantity>2</quantity>"), 22, "<quantity>0</quantity>");
  h.sendBody("direct:in", broken, "application/xml");
  h.sendBody("direct:in", "<Order xmlns=\"urn:busway:canonical:1\">", "application/xml");
  ASSERT_TRUE(h.mock("dlq").waitFor(2));
  const auto reasons = h.mock("dlq").headers("busway.failure.reason");
  EXPECT_THAT(reasons[0], HasSubstr("2 violation(s)"));
  EXPECT_THAT(reasons[0], HasSubstr("/*/*[5] (line 7)"));
  EXPECT_THAT(reasons[0], HasSubstr("'euro' is not accepted by the pattern '[A-Z]{3}'"));
  EXPECT_THAT(reasons[0], HasSubstr("line 11"));
  EXPECT_THAT(reasons[1], HasSubstr("not well-formed XML"));
}

TEST(ValidateStep, SchemasAreCheckedAtLoad) {
  TempDir dir;
  put(dir, "bad.xsd",
      "<xs:schema xmlns:xs=\"http://www.w3.org/2001/XMLSchema\"><xs:element name=\"a\" "
      "type=\"nope\"/></xs:schema>");
  put(dir, "bad.schema.json", R"~({"type": "object", "properties": {"a": {"type": "strin"}}})~");
  RouteHarness h;
  auto xsd = h.loadWithErrors(routeWith("<validate xsd=\"" + dir.file("bad.xsd") + "\"/>"));
  EXPECT_THAT(firstError(xsd), HasSubstr("does not compile"));
  auto json_schema =
      h.loadWithErrors(routeWith("<validate schema=\"" + dir.file("bad.schema.json") + "\"/>"));
  EXPECT_THAT(firstError(json_schema), HasSubstr("/properties/a/type: unknown type \"strin\""));
  auto missing =
      h.loadWithErrors(routeWith("<validate schema=\"" + dir.file("none.json") + "\"/>"));
  EXPECT_THAT(firstError(missing), HasSubstr("cannot read schema"));
  auto neither = h.loadWithErrors(routeWith("<validate/>"));
  EXPECT_TRUE(neither.hasErrors());
}

}  // namespace
}  // namespace busway::testing
