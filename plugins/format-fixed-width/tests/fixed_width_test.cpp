// format-fixed-width: layouts, the header/detail/trailer sample (implied decimals, overpunch
// and trailing signs, dates), byte-for-byte round trips, errors naming line/record/field,
// random mutations, and the plugin through the SDK's test host.

#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "busway/sdk/testing.hpp"
#include "busway_formats/test_support.hpp"
#include "fixed_width_codec.hpp"

namespace {

namespace fw = busway::formats::fixed_width;
namespace sdk = busway::sdk;
using Json = nlohmann::ordered_json;

const std::string kLayoutPath = BUSWAY_FORMATS_DATA "/payments-layout.xml";

std::string sample() {
  return busway::formats::testing::readFile(BUSWAY_FORMATS_DATA "/payments.txt");
}

fw::Options options(std::string_view ending = "crlf") {
  return fw::fromOptions(
      sdk::Options({{"layout", kLayoutPath}, {"line-ending", std::string(ending)}}));
}

template <class Fn>
std::string errorOf(Fn&& fn) {
  try {
    fn();
  } catch (const sdk::InvalidError& e) {
    return e.what();
  }
  return "(no error)";
}

fw::Options inline_layout(const std::string& fields, std::string_view decimals = "number") {
  return fw::fromOptions(
      sdk::Options({{"layout", "<layout><record name=\"r\">" + fields + "</record></layout>"},
                    {"decimals", std::string(decimals)}}));
}

TEST(FixedWidthCodec, SampleUnmarshalsHeaderDetailsAndTrailer) {
  const Json rows = Json::parse(fw::unmarshal(sample(), options()));
  ASSERT_EQ(rows.size(), 5U);
  EXPECT_EQ(rows[0], Json::parse(R"({"_record":"header","batch":42,"created":"2026-11-30T23:15:00",
                                     "sender":"ACME BANK AG","currency":"EUR"})"));
  EXPECT_EQ(rows[1]["_record"], "detail");
  EXPECT_EQ(rows[1]["payee"], "Müller GmbH");
  EXPECT_DOUBLE_EQ(rows[1]["amount"].get<double>(), 1234.56);  // 00000123456, 2 implied decimals
  EXPECT_EQ(rows[1]["amount"].dump(), "1234.56");
  EXPECT_EQ(rows[1]["value-date"], "2026-12-01");
  EXPECT_EQ(rows[1]["fee"].dump(), "1.25");  // 0012E: overpunch E = +5
  EXPECT_EQ(rows[1]["reference"], 101);
  EXPECT_EQ(rows[2]["amount"].dump(), "0.99");
  EXPECT_EQ(rows[2]["fee"].dump(), "0.0");  // 0000{: +0
  EXPECT_EQ(rows[3]["payee"], "Société Générale");
  EXPECT_TRUE(rows[3]["value-date"].is_null());  // 00000000: no date
  EXPECT_EQ(rows[3]["fee"].dump(), "-2.51");     // 0025J: overpunch J = -1
  EXPECT_EQ(rows[3]["reference"], -73);          // trailing sign
  EXPECT_EQ(rows[4], Json::parse(R"({"_record":"trailer","count":3,"total":11235.55})"));
}

TEST(FixedWidthCodec, SampleRoundTripsByteForByte) {
  const std::string original = sample();
  EXPECT_EQ(fw::marshal(fw::unmarshal(original, options()), options()), original);
  // Exact decimals as strings round-trip too.
  auto exact = options();
  exact.decimals_as_strings = true;
  const std::string json = fw::unmarshal(original, exact);
  EXPECT_EQ(Json::parse(json)[1]["amount"], "1234.56");
  EXPECT_EQ(fw::marshal(json, exact), original);
}

TEST(FixedWidthCodec, MarshalPadsAlignsAndSigns) {
  const auto o = inline_layout(
      R"(<field name="name" offset="0" length="6"/>
         <field name="code" offset="6" length="4" align="right"/>
         <field name="qty" offset="10" length="5" type="int"/>
         <field name="price" offset="15" length="7" type="decimal" implied-decimals="3" pad=" "/>
         <field name="day" offset="22" length="10" type="date" format="dd.MM.yyyy"/>)");
  EXPECT_EQ(
      fw::marshal(R"([{"name":"Bolt","code":"7","qty":-12,"price":"1.5","day":"2026-02-28"}])", o),
      "Bolt     7-0012   150028.02.2026\n");
  EXPECT_EQ(fw::unmarshal("Bolt     7-0012   150028.02.2026\n", o),
            R"([{"name":"Bolt","code":"7","qty":-12,"price":1.5,"day":"2026-02-28"}])");
}

TEST(FixedWidthCodec, ErrorsNameLineRecordAndField) {
  const auto o = options();
  std::string text = sample();
  // Line 3: a letter in the amount.
  text.replace(text.find("00000000099"), 11, "000000000X9");
  std::string error = errorOf([&] { fw::unmarshal(text, o); });
  EXPECT_NE(error.find("fixed-width line 3 (record 'detail'), field 'amount' (columns 36-46): "
                       "'000000000X9' is not a number"),
            std::string::npos)
      << error;
  error = errorOf([&] { fw::unmarshal("X" + std::string(64, ' ') + "\n", o); });
  EXPECT_NE(error.find("line 1: the record type code 'X' at columns 1-1 is none of H (header), D "
                       "(detail), T (trailer)"),
            std::string::npos)
      << error;
  error = errorOf([&] { fw::unmarshal("T000003\n", o); });
  EXPECT_NE(error.find("line 1 (record 'trailer'): the line is 7 characters; the record is 65"),
            std::string::npos)
      << error;
  text = sample();
  text.replace(text.find("20261202"), 8, "20260231");
  error = errorOf([&] { fw::unmarshal(text, o); });
  EXPECT_NE(
      error.find(
          "line 3 (record 'detail'), field 'value-date' (columns 47-54): '20260231' is not a day"),
      std::string::npos)
      << error;
}

TEST(FixedWidthCodec, MarshalErrorsNameItemRecordAndField) {
  const auto o = options();
  std::string error =
      errorOf([&] { fw::marshal(R"([{"_record":"detail","amount":123456789.123}])", o); });
  EXPECT_NE(error.find("item 1 (record 'detail'), field 'amount' (columns 36-46): 123456789.123 "
                       "has more decimals"),
            std::string::npos)
      << error;
  error = errorOf([&] { fw::marshal(R"([{"_record":"trailer","count":12345678}])", o); });
  EXPECT_NE(error.find("field 'count' (columns 2-7): 12345678 needs 8 characters; the field has 6"),
            std::string::npos)
      << error;
  error = errorOf(
      [&] { fw::marshal(R"([{"_record":"detail","payee":"a name that is far too long"}])", o); });
  EXPECT_NE(error.find("field 'payee'"), std::string::npos) << error;
  error = errorOf([&] { fw::marshal(R"([{"count":1}])", o); });
  EXPECT_NE(error.find("item 1: has no string '_record'"), std::string::npos) << error;
  error = errorOf([&] { fw::marshal(R"([{"_record":"header","typo":1}])", o); });
  EXPECT_NE(error.find("item 1 (record 'header'): 'typo' is not a field of the record"),
            std::string::npos)
      << error;
  error = errorOf([&] { fw::marshal(R"([{"_record":"detail","value-date":"2026-13-01"}])", o); });
  EXPECT_NE(error.find("field 'value-date'"), std::string::npos) << error;
}

TEST(FixedWidthCodec, LayoutErrorsNameTheLayoutLine) {
  std::string error = errorOf([] {
    fw::parseLayout(
        "<layout>\n<record name=\"a\">\n<field name=\"x\" offset=\"0\"/>\n</record>\n</layout>",
        "l.xml");
  });
  EXPECT_NE(error.find("fixed-width layout l.xml:3:1: <field> needs length=\"...\""),
            std::string::npos)
      << error;
  error = errorOf([] {
    fw::parseLayout(
        R"(<layout><record name="a"><field name="x" offset="0" length="4"/><field name="y" offset="2" length="3"/></record></layout>)",
        "l.xml");
  });
  EXPECT_NE(error.find("fields 'x' and 'y' overlap"), std::string::npos) << error;
  error = errorOf(
      [] { fw::parseLayout(R"(<layout><record name="a"/><record name="b"/></layout>)", "l.xml"); });
  EXPECT_NE(error.find("has no <field>"), std::string::npos) << error;
  error = errorOf([] {
    fw::fromOptions(sdk::Options(sdk::testing::Config{{"layout", "/nonexistent/layout.xml"}}));
  });
  EXPECT_NE(error.find("cannot read the fixed-width layout file '/nonexistent/layout.xml'"),
            std::string::npos)
      << error;
}

TEST(FixedWidthCodec, RandomMutationsGiveAResultOrAnInvalidError) {
  const auto o = options();
  const std::string text = sample();
  std::size_t ok = 0;
  std::size_t invalid = 0;
  busway::formats::testing::forEachMutation(text, 20000, 65, "HDT0123456789-+{}JE \r\n",
                                            [&](const std::string& input) {
                                              try {
                                                const std::string json = fw::unmarshal(input, o);
                                                fw::marshal(json, o);
                                                ++ok;
                                              } catch (const sdk::InvalidError&) {
                                                ++invalid;
                                              }
                                            });
  EXPECT_EQ(ok + invalid, 20000U);
  EXPECT_GT(ok, 0U);
  EXPECT_GT(invalid, 0U);
}

TEST(FixedWidthPlugin, ConvertsThroughTheSdkHost) {
  sdk::testing::TestHost host;
  host.load(BUSWAY_FORMAT_PLUGIN);
  const sdk::testing::Config config{{"layout", kLayoutPath}, {"line-ending", "crlf"}};
  sdk::testing::Message message(sample());
  ASSERT_TRUE(host.unmarshal("fixed-width", message, config).ok());
  EXPECT_EQ(message.media_type, "application/json");
  EXPECT_EQ(Json::parse(message.body)[4]["count"], 3);
  ASSERT_TRUE(host.marshal("fixed-width", message, config).ok());
  EXPECT_EQ(message.body, sample());

  const auto missing = host.unmarshal("fixed-width", message);
  EXPECT_EQ(missing.status, sdk::Status::invalid);
  EXPECT_NE(missing.error.find("'layout'"), std::string::npos) << missing.error;
}

TEST(FixedWidthCodec, MarshalOfMutatedJsonGivesAResultOrAnInvalidError) {
  const auto o = options();
  const std::string json = fw::unmarshal(sample(), o);
  std::size_t ok = 0;
  std::size_t invalid = 0;
  busway::formats::testing::forEachMutation(json, 5000, 77, "[]{}\",:0ntf",
                                            [&](const std::string& input) {
                                              try {
                                                fw::marshal(input, o);
                                                ++ok;
                                              } catch (const sdk::InvalidError&) {
                                                ++invalid;
                                              }
                                            });
  EXPECT_EQ(ok + invalid, 5000U);
  EXPECT_GT(invalid, 0U);
}

}  // namespace
