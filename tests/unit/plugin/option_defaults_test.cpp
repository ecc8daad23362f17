// Option defaults on their way to a plugin: a manifest's `"default": ""` is a declared
// default like any other, so the plugin receives the option (empty) instead of missing it
// (the sdk's Options::text(name) throws for a missing option).
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "../../../core/src/plugin/plugin_internal.hpp"
#include "busway/plugin/manifest.hpp"

namespace busway {
namespace {

const char* kManifest = R"({
  "manifest_version": 1, "id": "defaults", "name": "Defaults", "version": "0.1.0", "status": "beta",
  "abi": {"major": 1, "minor": 0},
  "endpoints": [{
    "scheme": "defaults", "consumer": true, "producer": true,
    "options": [
      {"name": "prefix", "type": "string", "default": "", "doc": "Empty by default."},
      {"name": "label", "type": "string", "doc": "No default at all."},
      {"name": "poll", "type": "duration", "default": "1s"}
    ]
  }]
})";

std::vector<std::pair<std::string, std::string>> passed(const OptionArray& array) {
  std::vector<std::pair<std::string, std::string>> out;
  for (std::size_t i = 0; i < array.size(); ++i) {
    const bw_option& o = array.data()[i];
    out.emplace_back(std::string(o.name.data, o.name.size),
                     std::string(o.value.data, o.value.size));
  }
  return out;
}

using Pairs = std::vector<std::pair<std::string, std::string>>;

TEST(OptionDefaults, AnEmptyDefaultIsADeclaredDefault) {
  const auto m = PluginManifest::fromJson(kManifest);
  ASSERT_TRUE(m.ok()) << m.error().message;
  const auto& options = m->endpoints.at(0).options;
  ASSERT_EQ(options.size(), 3u);
  EXPECT_TRUE(options[0].has_default);
  EXPECT_EQ(options[0].default_value, "");
  EXPECT_FALSE(options[1].has_default);
  EXPECT_TRUE(options[2].has_default);
}

TEST(OptionDefaults, AnEmptyDefaultReachesThePluginAsAnEmptyValue) {
  const auto m = PluginManifest::fromJson(kManifest);
  ASSERT_TRUE(m.ok()) << m.error().message;
  const OptionArray array({}, m->endpoints.at(0).options);
  EXPECT_EQ(passed(array),
            (Pairs{{"prefix", ""}, {"poll", "1s"}}));  // label has no default: left out
}

TEST(OptionDefaults, AGivenValueWinsOverAnEmptyDefault) {
  const auto m = PluginManifest::fromJson(kManifest);
  ASSERT_TRUE(m.ok()) << m.error().message;
  const OptionArray array({{"prefix", "in-"}, {"label", "x"}}, m->endpoints.at(0).options);
  EXPECT_EQ(passed(array), (Pairs{{"prefix", "in-"}, {"label", "x"}, {"poll", "1s"}}));
}

TEST(OptionDefaults, TheCanonicalJsonKeepsAnEmptyDefault) {
  const auto m = PluginManifest::fromJson(kManifest);
  ASSERT_TRUE(m.ok()) << m.error().message;
  const auto again = PluginManifest::fromJson(m->toJson());
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_TRUE(again->endpoints.at(0).options[0].has_default);
  EXPECT_FALSE(again->endpoints.at(0).options[1].has_default);
}

}  // namespace
}  // namespace busway
