// format-json: validation with positions, keep/compact/pretty, depth guard, random mutations,
// and the plugin through the SDK's test host.

#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "busway/sdk/testing.hpp"
#include "busway_formats/test_support.hpp"
#include "json_codec.hpp"

namespace {

namespace js = busway::formats::json;
namespace sdk = busway::sdk;

constexpr std::string_view kSample =
    "{\n  \"order\": 4711,\n  \"zeta\": true,\n  \"alpha\": [1.5, -2e3, \"M\\u00fcller\", null],\n"
    "  \"nested\": {\"b\": {}, \"a\": []}\n}\n";

std::string errorOf(std::string_view text, const js::Options& options = {}) {
  try {
    js::convert(text, options, "the body");
  } catch (const sdk::InvalidError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(JsonCodec, KeepReturnsTheBytesUnchanged) { EXPECT_EQ(js::convert(kSample, {}, "x"), kSample); }

TEST(JsonCodec, CompactAndPrettyKeepKeyOrder) {
  js::Options compact;
  compact.output = js::Output::compact;
  const std::string small = js::convert(kSample, compact, "x");
  EXPECT_EQ(
      small,
      R"({"order":4711,"zeta":true,"alpha":[1.5,-2000.0,"Müller",null],"nested":{"b":{},"a":[]}})");
  js::Options pretty;
  pretty.output = js::Output::pretty;
  const std::string indented = js::convert(small, pretty, "x");
  EXPECT_EQ(indented.substr(0, 20), "{\n  \"order\": 4711,\n ");
  // compact(pretty(x)) == compact(x): the round trip is stable.
  EXPECT_EQ(js::convert(indented, compact, "x"), small);
}

TEST(JsonCodec, MalformedJsonNamesLineAndColumn) {
  std::string error = errorOf("{\n  \"a\": 1,\n  \"b\": tru\n}");
  EXPECT_NE(error.find("the body is not valid JSON at line 3, column"), std::string::npos) << error;
  EXPECT_NE(error.find("invalid literal"), std::string::npos) << error;
  error = errorOf("");
  EXPECT_NE(error.find("not valid JSON at line 1, column 1"), std::string::npos) << error;
  error = errorOf("[1, 2] 3");
  EXPECT_NE(error.find("line 1, column 8"), std::string::npos) << error;
  error = errorOf("\"\xFF\"");
  EXPECT_NE(error.find("not valid JSON"), std::string::npos) << error;
}

TEST(JsonCodec, DeepNestingIsRefusedNotACrash) {
  const std::string deep(100000, '[');
  const std::string error = errorOf(deep);
  EXPECT_NE(error.find("nests deeper than 512 levels at line 1, column 513"), std::string::npos)
      << error;
  EXPECT_EQ(errorOf("[\"[[[[\"]", {js::Output::keep, 2, 2}), "(no error)");  // brackets in strings
}

TEST(JsonCodec, RandomMutationsGiveAResultOrAnInvalidError) {
  js::Options compact;
  compact.output = js::Output::compact;
  std::size_t ok = 0;
  std::size_t invalid = 0;
  busway::formats::testing::forEachMutation(
      std::string(kSample), 20000, 8259, "{}[]\",:\\", [&](const std::string& input) {
        try {
          const std::string out = js::convert(input, compact, "x");
          EXPECT_EQ(js::convert(out, compact, "x"), out);
          ++ok;
        } catch (const sdk::InvalidError&) {
          ++invalid;
        }
      });
  EXPECT_EQ(ok + invalid, 20000U);
  EXPECT_GT(ok, 0U);
  EXPECT_GT(invalid, 0U);
}

TEST(JsonPlugin, ValidatesAndFormatsThroughTheSdkHost) {
  sdk::testing::TestHost host;
  host.load(BUSWAY_FORMAT_PLUGIN);
  sdk::testing::Message message(std::string(kSample), "text/plain");
  ASSERT_TRUE(host.unmarshal("json", message).ok());
  EXPECT_EQ(message.media_type, "application/json");
  EXPECT_EQ(message.body, kSample);
  ASSERT_TRUE(host.marshal("json", message, {{"output", "compact"}}).ok());
  EXPECT_EQ(message.body.front(), '{');
  EXPECT_EQ(message.body.find('\n'), std::string::npos);
  sdk::testing::Message bad("{\"a\":}");
  const auto result = host.unmarshal("json", bad);
  EXPECT_EQ(result.status, sdk::Status::invalid);
  EXPECT_NE(result.error.find("line 1, column 6"), std::string::npos) << result.error;
}

}  // namespace
