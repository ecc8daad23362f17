// format-form: decoding, encoding, repeated keys, errors with positions, random mutations, and
// the plugin through the SDK's test host.

#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "busway/sdk/testing.hpp"
#include "busway_formats/test_support.hpp"
#include "form_codec.hpp"

namespace {

namespace form = busway::formats::form;
namespace sdk = busway::sdk;
using Json = nlohmann::ordered_json;

constexpr std::string_view kSample =
    "name=J%C3%BCrgen+M%C3%BCller&email=jm%40example.org&topic=billing&topic=returns&"
    "message=Order+%234711%3A+2+items%2C+1+broken%0D%0AThanks%21&consent=";

template <class Fn>
std::string errorOf(Fn&& fn) {
  try {
    fn();
  } catch (const sdk::InvalidError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(FormCodec, DecodesPercentPlusAndRepeatedKeys) {
  const Json doc = Json::parse(form::unmarshal(kSample, {}));
  EXPECT_EQ(doc, Json::parse(R"({"name":"Jürgen Müller","email":"jm@example.org",
      "topic":["billing","returns"],"message":"Order #4711: 2 items, 1 broken\r\nThanks!","consent":""})"));
}

TEST(FormCodec, RoundTripsByteForByte) {
  EXPECT_EQ(form::marshal(form::unmarshal(kSample, {}), {}), kSample);
}

TEST(FormCodec, OptionsAndEdgeCases) {
  form::Options always;
  always.always_arrays = true;
  EXPECT_EQ(form::unmarshal("a=1&b=2&a=3", always), R"({"a":["1","3"],"b":["2"]})");
  EXPECT_EQ(form::unmarshal("flag&&x=%7e&=v\n", {}), R"({"flag":"","x":"~","":"v"})");
  EXPECT_EQ(form::unmarshal("", {}), "{}");
  form::Options percent;
  percent.space_as_plus = false;
  EXPECT_EQ(
      form::marshal(R"({"q":"a b+c","n":12.5,"ok":true,"none":null,"list":[1,"x"]})", percent),
      "q=a%20b%2Bc&n=12.5&ok=true&none=&list=1&list=x");
}

TEST(FormCodec, ErrorsSayWhere) {
  std::string error = errorOf([] { form::unmarshal("a=1&b=50%+off", {}); });
  EXPECT_NE(error.find("bad percent escape '%+o' at byte 9 (pair 2)"), std::string::npos) << error;
  error = errorOf([] { form::unmarshal("a=%FF", {}); });
  EXPECT_NE(error.find("pair 1 (at byte 1) decodes to text that is not UTF-8"), std::string::npos)
      << error;
  error = errorOf([] { form::marshal(R"({"a":{"b":1}})", {}); });
  EXPECT_NE(error.find("'a' holds a JSON object"), std::string::npos) << error;
  error = errorOf([] { form::marshal(R"([1])", {}); });
  EXPECT_NE(error.find("needs a JSON object"), std::string::npos) << error;
}

TEST(FormCodec, RandomMutationsGiveAResultOrAnInvalidError) {
  std::size_t ok = 0;
  std::size_t invalid = 0;
  busway::formats::testing::forEachMutation(
      std::string(kSample), 20000, 1866, "%&=+0F", [&](const std::string& input) {
        try {
          const std::string json = form::unmarshal(input, {});
          ASSERT_TRUE(Json::accept(json));
          EXPECT_EQ(form::unmarshal(form::marshal(json, {}), {}), json);
          ++ok;
        } catch (const sdk::InvalidError&) {
          ++invalid;
        }
      });
  EXPECT_EQ(ok + invalid, 20000U);
  EXPECT_GT(ok, 0U);
  EXPECT_GT(invalid, 0U);
}

TEST(FormPlugin, ConvertsThroughTheSdkHost) {
  sdk::testing::TestHost host;
  host.load(BUSWAY_FORMAT_PLUGIN);
  sdk::testing::Message message(std::string(kSample), "application/x-www-form-urlencoded");
  ASSERT_TRUE(host.unmarshal("form", message).ok());
  EXPECT_EQ(message.media_type, "application/json");
  EXPECT_EQ(Json::parse(message.body)["topic"][1], "returns");
  ASSERT_TRUE(host.marshal("form", message).ok());
  EXPECT_EQ(message.media_type, "application/x-www-form-urlencoded");
  EXPECT_EQ(message.body, kSample);
  sdk::testing::Message bad("a=%zz");
  EXPECT_EQ(host.unmarshal("form", bad).status, sdk::Status::invalid);
}

TEST(FormCodec, MarshalOfMutatedJsonGivesAResultOrAnInvalidError) {
  const std::string json = form::unmarshal(kSample, {});
  std::size_t ok = 0;
  std::size_t invalid = 0;
  busway::formats::testing::forEachMutation(json, 5000, 77, "[]{}\",:0ntf",
                                            [&](const std::string& input) {
                                              try {
                                                form::marshal(input, {});
                                                ++ok;
                                              } catch (const sdk::InvalidError&) {
                                                ++invalid;
                                              }
                                            });
  EXPECT_EQ(ok + invalid, 5000U);
  EXPECT_GT(invalid, 0U);
}

}  // namespace
