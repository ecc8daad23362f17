// Plugin manifests: a valid one survives toJson/fromJson unchanged, and each mistake a
// vendor can make is refused with a message naming the field and what to do.
#include "busway/plugin/manifest.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace busway {
namespace {

using Json = nlohmann::json;

const char* kValid = R"({
  "manifest_version": 1,
  "id": "acme-erp",
  "name": "ACME ERP",
  "version": "1.2.0",
  "vendor": "ACME",
  "license": "Apache-2.0",
  "description": "Orders and invoices from ACME ERP.",
  "status": "beta",
  "abi": {"major": 1, "minor": 0},
  "endpoints": [{
    "scheme": "acme-erp", "consumer": true, "producer": true, "doc": "Orders in, invoices out.",
    "options": [
      {"name": "host", "type": "string", "required": true, "doc": "ERP server."},
      {"name": "timeout", "type": "duration", "default": "5s", "doc": "Per call."},
      {"name": "batch", "type": "integer", "default": 100},
      {"name": "tls", "type": "boolean", "default": false},
      {"name": "max-body", "type": "size", "default": "10MB"},
      {"name": "mode", "type": "enum", "choices": ["fast", "safe"], "default": "safe", "doc": "Trade-off."}
    ]
  }, {"scheme": "acme-erp+events", "consumer": true, "inline_routes": true}],
  "formats": [{"name": "acme-idoc", "doc": "IDoc <-> JSON.", "options": [{"name": "strict", "type": "boolean"}]}],
  "transformers": [{"name": "acme.normalise"}],
  "config": [{"name": "license-key", "type": "string", "required": true, "doc": "From ACME support."}]
})";

bool sameOptions(const std::vector<OptionSpec>& a, const std::vector<OptionSpec>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].name != b[i].name || a[i].type != b[i].type ||
        a[i].default_value != b[i].default_value || a[i].required != b[i].required ||
        a[i].choices != b[i].choices || a[i].doc != b[i].doc) {
      return false;
    }
  }
  return true;
}

bool sameOffers(const std::vector<PluginManifest::Offer>& a,
                const std::vector<PluginManifest::Offer>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].name != b[i].name || a[i].doc != b[i].doc || a[i].consumer != b[i].consumer ||
        a[i].producer != b[i].producer || a[i].inline_routes != b[i].inline_routes ||
        !sameOptions(a[i].options, b[i].options)) {
      return false;
    }
  }
  return true;
}

TEST(PluginManifest, ParsesEveryField) {
  const auto r = PluginManifest::fromJson(kValid);
  ASSERT_TRUE(r.ok()) << r.error().message;
  const auto& m = *r;
  EXPECT_EQ(m.manifest_version, 1);
  EXPECT_EQ(m.id, "acme-erp");
  EXPECT_EQ(m.name, "ACME ERP");
  EXPECT_EQ(m.version, "1.2.0");
  EXPECT_EQ(m.vendor, "ACME");
  EXPECT_EQ(m.license, "Apache-2.0");
  EXPECT_EQ(m.status, "beta");
  EXPECT_EQ(m.abi_major, 1u);
  EXPECT_EQ(m.abi_minor, 0u);
  ASSERT_EQ(m.endpoints.size(), 2u);
  const auto& e = m.endpoints[0];
  EXPECT_EQ(e.name, "acme-erp");
  EXPECT_TRUE(e.consumer && e.producer);
  ASSERT_EQ(e.options.size(), 6u);
  EXPECT_EQ(e.options[0].name, "host");
  EXPECT_TRUE(e.options[0].required);
  EXPECT_EQ(e.options[1].type, OptionSpec::Type::duration);
  EXPECT_EQ(e.options[1].default_value, "5s");
  EXPECT_EQ(e.options[2].default_value, "100");  // numbers and booleans are stored as text
  EXPECT_EQ(e.options[3].default_value, "false");
  EXPECT_EQ(e.options[5].type, OptionSpec::Type::enumeration);
  EXPECT_EQ(e.options[5].choices, (std::vector<std::string>{"fast", "safe"}));
  EXPECT_FALSE(e.inline_routes);
  EXPECT_TRUE(m.endpoints[1].consumer);
  EXPECT_FALSE(m.endpoints[1].producer);
  EXPECT_TRUE(m.endpoints[1].inline_routes);
  ASSERT_EQ(m.formats.size(), 1u);
  EXPECT_EQ(m.formats[0].options[0].type, OptionSpec::Type::boolean);
  ASSERT_EQ(m.transformers.size(), 1u);
  EXPECT_EQ(m.transformers[0].name, "acme.normalise");
  ASSERT_EQ(m.config.size(), 1u);
  EXPECT_EQ(m.config[0].name, "license-key");
}

TEST(PluginManifest, RoundTripsThroughCanonicalJson) {
  const auto first = PluginManifest::fromJson(kValid);
  ASSERT_TRUE(first.ok()) << first.error().message;
  const std::string canonical = first->toJson();
  const auto second = PluginManifest::fromJson(canonical);
  ASSERT_TRUE(second.ok()) << second.error().message << "\n" << canonical;
  EXPECT_EQ(second->toJson(), canonical);
  EXPECT_EQ(second->id, first->id);
  EXPECT_EQ(second->description, first->description);
  EXPECT_EQ(second->abi_major, first->abi_major);
  EXPECT_TRUE(sameOffers(second->endpoints, first->endpoints));
  EXPECT_TRUE(sameOffers(second->formats, first->formats));
  EXPECT_TRUE(sameOffers(second->transformers, first->transformers));
  EXPECT_TRUE(sameOptions(second->config, first->config));
  // Keys in reading order, and typed defaults where the type allows.
  EXPECT_LT(canonical.find("\"manifest_version\""), canonical.find("\"id\""));
  EXPECT_NE(canonical.find("\"default\": 100"), std::string::npos) << canonical;
  EXPECT_NE(canonical.find("\"default\": false"), std::string::npos) << canonical;
}

TEST(PluginManifest, OptionalFieldsMayBeLeftOut) {
  const auto r = PluginManifest::fromJson(
      R"({"manifest_version":1,"id":"x1","name":"X","version":"0.1","status":"stable","abi":{"major":1,"minor":2},
          "transformers":[{"name":"t"}]})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->vendor, "");
  EXPECT_EQ(r->abi_minor, 2u);
  EXPECT_TRUE(r->endpoints.empty());
}

// One broken field at a time: (where, new value or null to remove it, expected message part).
struct Mistake {
  std::string pointer;
  Json value;  // discarded: remove the field
  std::string expected;
};

Json removed() { return Json(Json::value_t::discarded); }

class ManifestMistakes : public ::testing::TestWithParam<Mistake> {};

TEST_P(ManifestMistakes, AreRefusedNamingTheField) {
  const auto& mistake = GetParam();
  Json doc = Json::parse(kValid);
  const Json::json_pointer at(mistake.pointer);
  if (mistake.value.is_discarded()) {
    doc[at.parent_pointer()].erase(at.back());
  } else {
    doc[at] = mistake.value;
  }
  const auto r = PluginManifest::fromJson(doc.dump());
  ASSERT_FALSE(r.ok()) << "accepted with " << mistake.pointer << " = " << mistake.value.dump();
  EXPECT_NE(r.error().message.find(mistake.expected), std::string::npos) << r.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Fields, ManifestMistakes,
    ::testing::Values(
        Mistake{"/manifest_version", removed(), "field 'manifest_version': is required"},
        Mistake{"/manifest_version", 2,
                "field 'manifest_version': is 2 but this busway reads manifest version 1"},
        Mistake{"/manifest_version", "1",
                "field 'manifest_version': expected the integer 1, found a string"},
        Mistake{"/id", removed(), "field 'id': is required"},
        Mistake{"/id", "ACME ERP",
                "field 'id': 'ACME ERP' is not valid: a plugin id is lower case"},
        Mistake{"/id", "-acme", "field 'id': '-acme' is not valid"},
        Mistake{"/id", 7, "field 'id': expected a string, found an integer"},
        Mistake{"/id", std::string(65, 'a'), "is longer than 64 characters"},
        Mistake{"/name", "", "field 'name': must not be empty"},
        Mistake{"/version", removed(), "field 'version': is required"},
        Mistake{"/version", "", "field 'version': must not be empty"},
        Mistake{"/vendor", true, "field 'vendor': expected a string, found a boolean"},
        Mistake{"/status", "stabel",
                "field 'status': 'stabel' is not a status (did you mean 'stable'?); use stable, "
                "beta or experimental"},
        Mistake{"/status", removed(), "field 'status': is required"},
        Mistake{"/abi", removed(), "field 'abi': is required"},
        Mistake{"/abi", "1.0", "field 'abi': expected an object, found a string"},
        Mistake{"/abi/major", "1",
                "field 'abi.major': expected a non-negative integer, found a string"},
        Mistake{"/abi/minor", -1, "field 'abi.minor': expected a non-negative integer, found -1"},
        Mistake{"/abi/minor", 1.5, "field 'abi.minor': expected a non-negative integer, found 1.5"},
        Mistake{"/abi/major", 0, "field 'abi.major': must be at least 1"},
        Mistake{"/abi/patch", 1, "field 'abi.patch': unknown field"},
        Mistake{"/licence", "MIT", "field 'licence': unknown field (did you mean 'license'?)"},
        Mistake{"/endpoints", Json::object(),
                "field 'endpoints': expected an array, found an object"},
        Mistake{"/endpoints/0/scheme", "Acme_ERP",
                "field 'endpoints[0].scheme': 'Acme_ERP' is not valid: a URI scheme"},
        Mistake{"/endpoints/0/scheme", "1erp", "field 'endpoints[0].scheme'"},
        Mistake{"/endpoints/0/scheme", removed(), "field 'endpoints[0].scheme': is required"},
        Mistake{"/endpoints/1/scheme", "acme-erp",
                "field 'endpoints[1].scheme': 'acme-erp' is offered twice"},
        Mistake{"/endpoints/0/consumer", "yes",
                "field 'endpoints[0].consumer': expected true or false, found a string"},
        Mistake{"/endpoints/1/consumer", false,
                "field 'endpoints[1]': endpoint 'acme-erp+events' is neither a "
                "consumer nor a producer"},
        Mistake{"/endpoints/1/inline_routes", "yes",
                "field 'endpoints[1].inline_routes': expected true or false, found a string"},
        Mistake{"/endpoints/0/name", "x", "field 'endpoints[0].name': unknown field"},
        Mistake{"/endpoints/0/options/0/name", removed(),
                "field 'endpoints[0].options[0].name': is required"},
        Mistake{"/endpoints/0/options/0/name", "9lives",
                "field 'endpoints[0].options[0].name': '9lives' is not valid"},
        Mistake{"/endpoints/0/options/1/name", "host",
                "field 'endpoints[0].options[1].name': option 'host' is "
                "declared twice"},
        Mistake{"/endpoints/0/options/0/type", "strng",
                "field 'endpoints[0].options[0].type': 'strng' is not an "
                "option type (did you mean 'string'?)"},
        Mistake{"/endpoints/0/options/0/type", removed(),
                "field 'endpoints[0].options[0].type': is required"},
        Mistake{"/endpoints/0/options/0/required", 1,
                "field 'endpoints[0].options[0].required': expected true or "
                "false"},
        Mistake{"/endpoints/0/options/0/default", "x",
                "field 'endpoints[0].options[0].required': a required option "
                "cannot have a default"},
        Mistake{"/endpoints/0/options/1/default", "soon",
                "field 'endpoints[0].options[1].default': 'soon' is not a "
                "valid duration"},
        Mistake{"/endpoints/0/options/2/default", "many",
                "field 'endpoints[0].options[2].default': 'many' is not a "
                "valid integer: expected an integer"},
        Mistake{"/endpoints/0/options/3/default", "maybe", "'maybe' is not a valid boolean"},
        Mistake{"/endpoints/0/options/4/default", "big", "'big' is not a valid size"},
        Mistake{"/endpoints/0/options/5/default", "quick",
                "'quick' is not a valid enum: expected one of fast or safe"},
        Mistake{"/endpoints/0/options/1/default", Json::array(),
                "field 'endpoints[0].options[1].default': expected a "
                "string, number or boolean, found an array"},
        Mistake{"/endpoints/0/options/5/choices", removed(),
                "field 'endpoints[0].options[5].choices': an option of "
                "type enum needs a non-empty list of choices"},
        Mistake{"/endpoints/0/options/5/choices", Json::array(),
                "needs a non-empty list of choices"},
        Mistake{"/endpoints/0/options/5/choices/1", 3,
                "field 'endpoints[0].options[5].choices[1]': expected a "
                "non-empty string"},
        Mistake{"/endpoints/0/options/5/choices/1", "fast", "'fast' is listed twice"},
        Mistake{"/endpoints/0/options/0/choices", Json::array({"a"}),
                "only options of type enum have choices"},
        Mistake{"/endpoints/0/options/0/doc", 5,
                "field 'endpoints[0].options[0].doc': expected a string"},
        Mistake{"/endpoints/0/options/0/defualt", "x", "unknown field (did you mean 'default'?)"},
        Mistake{"/formats/0/name", "IDoc", "field 'formats[0].name': 'IDoc' is not valid"},
        Mistake{"/formats/0/scheme", "x", "field 'formats[0].scheme': unknown field"},
        Mistake{"/formats/0/options/0/type", "bool",
                "field 'formats[0].options[0].type': 'bool' is not an option "
                "type"},
        Mistake{"/transformers/0", "acme.normalise",
                "field 'transformers[0]': expected an object, found a string"},
        Mistake{"/config/0/type", "secret",
                "field 'config[0].type': 'secret' is not an option type"},
        Mistake{"/config",
                Json::array({Json::object({{"name", "a"}, {"type", "string"}}),
                             Json::object({{"name", "a"}, {"type", "integer"}})}),
                "field 'config[1].name': option 'a' is declared twice"}));

// Only a consumer calls deliver, so only a consumer can lend its thread to routes.
TEST(PluginManifest, RefusesInlineRoutesOnAnEndpointThatOnlySends) {
  auto doc = Json::parse(kValid);
  doc["endpoints"][0]["consumer"] = false;
  doc["endpoints"][0]["inline_routes"] = true;
  const auto r = PluginManifest::fromJson(doc.dump());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find(
                "field 'endpoints[0].inline_routes': endpoint 'acme-erp' runs routes inline but "
                "is not a consumer"),
            std::string::npos)
      << r.error().message;
}

TEST(PluginManifest, RefusesManifestsThatOfferNothingOrAreNotJson) {
  auto doc = Json::parse(kValid);
  doc.erase("endpoints");
  doc.erase("formats");
  doc.erase("transformers");
  const auto empty = PluginManifest::fromJson(doc.dump());
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.error().message.find("the plugin offers nothing"), std::string::npos);

  const auto broken = PluginManifest::fromJson("{\"id\": ");
  ASSERT_FALSE(broken.ok());
  EXPECT_EQ(broken.error().message.rfind("not valid JSON: ", 0), 0u) << broken.error().message;
  EXPECT_EQ(broken.error().message.find("[json.exception"), std::string::npos)
      << broken.error().message;

  const auto array = PluginManifest::fromJson("[]");
  ASSERT_FALSE(array.ok());
  EXPECT_NE(array.error().message.find("expected an object, found an array"), std::string::npos);
}

}  // namespace
}  // namespace busway
