// format-csv: the codec (round trips, dialects, errors with positions, streaming, random
// mutations) and the plugin through the SDK's test host.

#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "busway/sdk/testing.hpp"
#include "busway_formats/test_support.hpp"
#include "csv_codec.hpp"

namespace {

namespace csv = busway::formats::csv;
namespace sdk = busway::sdk;
using Json = nlohmann::ordered_json;

std::string sample() {
  return busway::formats::testing::readFile(BUSWAY_FORMATS_DATA "/orders.csv");
}

std::string errorOf(std::string_view text, const csv::Options& options = {}) {
  try {
    csv::unmarshal(text, options);
  } catch (const sdk::InvalidError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(CsvCodec, SampleUnmarshalsToObjectsKeyedByTheHeader) {
  const Json rows = Json::parse(csv::unmarshal(sample(), {}));
  ASSERT_EQ(rows.size(), 5U);
  EXPECT_EQ(rows[0]["customer"], "Smith, John");
  EXPECT_EQ(rows[0]["ship_to"], "12 High St\r\nFlat 3\r\nLeeds LS1 4AB");
  EXPECT_EQ(rows[1]["customer"], "Müller GmbH");
  EXPECT_EQ(rows[1]["note"], "He said \"ASAP\", twice");
  EXPECT_EQ(rows[2]["note"], "");
  EXPECT_EQ(rows[3]["ship_to"], "PO Box 42\r\n\"The Warehouse\"");
  EXPECT_EQ(rows[3]["note"], "multi\r\nline\r\nnote, with comma");
  EXPECT_EQ(rows[4]["note"], "trailing space ");
  EXPECT_EQ(rows[4]["amount"], "7");
  // Keys keep the header's order.
  std::vector<std::string> keys;
  for (const auto& item : rows[0].items()) keys.push_back(item.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"order_id", "customer", "ship_to", "note", "amount",
                                            "currency", "ordered_at"}));
}

TEST(CsvCodec, SampleRoundTripsByteForByte) {
  const std::string original = sample();
  const std::string json = csv::unmarshal(original, {});
  EXPECT_EQ(csv::marshal(json, {}), original);
}

TEST(CsvCodec, StreamingInChunksGivesTheSameRecords) {
  const std::string text = sample();
  std::vector<std::vector<std::string>> whole;
  std::vector<std::size_t> lines;
  csv::Parser one({}, [&](const csv::Record& r) {
    whole.push_back(r.fields);
    lines.push_back(r.line);
  });
  one.feed(text);
  one.finish();
  for (const std::size_t chunk : {1U, 2U, 3U, 7U, 64U}) {
    std::vector<std::vector<std::string>> parts;
    csv::Parser parser({}, [&](const csv::Record& r) { parts.push_back(r.fields); });
    for (std::size_t i = 0; i < text.size(); i += chunk) parser.feed(text.substr(i, chunk));
    parser.finish();
    EXPECT_EQ(parts, whole) << "chunk size " << chunk;
  }
  // Records know the line they start on (embedded newlines count).
  EXPECT_EQ(lines, (std::vector<std::size_t>{1, 2, 5, 6, 7, 11}));
}

TEST(CsvCodec, WithoutHeaderGivesArrays) {
  csv::Options o;
  o.header = false;
  EXPECT_EQ(csv::unmarshal("a,b\n1,\"x\ny\"\n", o), R"([["a","b"],["1","x\ny"]])");
  EXPECT_EQ(csv::marshal(R"([["a","b"],["1","x\ny"]])", o), "a,b\r\n1,\"x\ny\"\r\n");
}

TEST(CsvCodec, ColumnsNameFieldsWithoutHeaderAndOrderMarshal) {
  csv::Options o;
  o.header = false;
  o.columns = {"id", "name"};
  EXPECT_EQ(csv::unmarshal("1,Ann\n2,Bob\n", o),
            R"([{"id":"1","name":"Ann"},{"id":"2","name":"Bob"}])");
  csv::Options m;
  m.columns = {"name", "id"};
  m.line_ending = "\n";
  EXPECT_EQ(csv::marshal(R"([{"id":1,"name":"Ann","extra":true},{"id":2}])", m),
            "name,id\nAnn,1\n,2\n");
}

TEST(CsvCodec, MarshalCollectsColumnsInFirstSeenOrderAndWritesScalars) {
  EXPECT_EQ(csv::marshal(R"([{"a":1,"b":true},{"c":null,"a":2.5}])", {}),
            "a,b,c\r\n1,true,\r\n2.5,,\r\n");
}

TEST(CsvCodec, SemicolonAndBackslashDialect) {
  csv::Options o;
  o.delimiter = ';';
  o.escape = csv::Escape::backslash;
  o.line_ending = "\n";
  const std::string text = "name;quote\nBob;\"he said \\\"hi\\\"; bye\"\nC:\\\\dir;x\n";
  const std::string json = csv::unmarshal(text, o);
  EXPECT_EQ(json,
            R"([{"name":"Bob","quote":"he said \"hi\"; bye"},{"name":"C:\\dir","quote":"x"}])");
  EXPECT_EQ(csv::unmarshal(csv::marshal(json, o), o), json);
}

TEST(CsvCodec, TabDelimiterAndQuoteAll) {
  csv::Options o;
  o.delimiter = '\t';
  o.quote_all = true;
  EXPECT_EQ(csv::marshal(R"([{"a":"x","b":"y z"}])", o), "\"a\"\t\"b\"\r\n\"x\"\t\"y z\"\r\n");
  EXPECT_EQ(csv::unmarshal("\"a\"\t\"b\"\r\n\"x\"\t\"y z\"\r\n", o), R"([{"a":"x","b":"y z"}])");
}

TEST(CsvCodec, LineEndingsCrLfLfAndCrAllEndRecords) {
  csv::Options o;
  o.header = false;
  EXPECT_EQ(csv::unmarshal("a\r\nb\nc\rd", o), R"([["a"],["b"],["c"],["d"]])");
  EXPECT_EQ(csv::unmarshal("a\n\n\nb\n", o), R"([["a"],["b"]])");  // empty lines skipped
}

TEST(CsvCodec, ByteOrderMarkIsSkipped) {
  EXPECT_EQ(csv::unmarshal("\xEF\xBB\xBFid\n1\n", {}), R"([{"id":"1"}])");
}

TEST(CsvCodec, UnterminatedQuoteNamesWhereItOpened) {
  const std::string error = errorOf("id,note\n1,ok\n2,\"never\nclosed\n3,x\n");
  EXPECT_NE(error.find("unterminated quoted field"), std::string::npos) << error;
  EXPECT_NE(error.find("line 3, column 3"), std::string::npos) << error;
}

TEST(CsvCodec, QuoteInUnquotedFieldAndTextAfterClosingQuoteArePlaced) {
  std::string error = errorOf("a,b\n1,ab\"c\n");
  EXPECT_NE(error.find("quote inside an unquoted field at line 2, column 5"), std::string::npos)
      << error;
  error = errorOf("a,b\r\n1,\"ab\"c\r\n");
  EXPECT_NE(error.find("'c' after the closing quote of a field at line 2, column 7"),
            std::string::npos)
      << error;
}

TEST(CsvCodec, FieldCountMismatchNamesTheLine) {
  const std::string error = errorOf("a,b\n1,2\n3,4,5\n");
  EXPECT_NE(error.find("line 3 has 3 fields, but there are 2 columns"), std::string::npos) << error;
}

TEST(CsvCodec, DuplicateHeaderAndInvalidUtf8AreErrors) {
  EXPECT_NE(errorOf("a,a\n1,2\n").find("names column 'a' twice"), std::string::npos);
  const std::string error = errorOf("a,b\n1,\xFF\xFE\n");
  EXPECT_NE(error.find("line 2, field 2 is not valid UTF-8"), std::string::npos) << error;
}

TEST(CsvCodec, MarshalRejectsWhatCsvCannotHold) {
  const auto marshalError = [](std::string_view json) -> std::string {
    try {
      csv::marshal(json, {});
    } catch (const sdk::InvalidError& e) {
      return e.what();
    }
    return "(no error)";
  };
  EXPECT_NE(marshalError("{\"a\":1}").find("needs a JSON array"), std::string::npos);
  EXPECT_NE(marshalError(R"([{"a":{"b":1}}])").find("item 1, column 'a' is a JSON object"),
            std::string::npos);
  EXPECT_NE(marshalError(R"([{"a":1}, [1]])").find("item 2 is a JSON array"), std::string::npos);
  const std::string error = marshalError("[{\"a\":1},\n {\"a\" 2}]");
  EXPECT_NE(error.find("not valid JSON at line 2, column"), std::string::npos) << error;
}

TEST(CsvCodec, SingleColumnEmptyValueSurvivesTheRoundTrip) {
  const std::string json = R"([{"a":""},{"a":"x"}])";
  EXPECT_EQ(csv::unmarshal(csv::marshal(json, {}), {}), json);
}

TEST(CsvCodec, RandomMutationsGiveAResultOrAnInvalidError) {
  const std::string text = sample();
  std::size_t ok = 0;
  std::size_t invalid = 0;
  busway::formats::testing::forEachMutation(text, 20000, 4180, ",\"\r\n;\\",
                                            [&](const std::string& input) {
                                              try {
                                                const std::string json = csv::unmarshal(input, {});
                                                EXPECT_TRUE(Json::accept(json)) << json;
                                                csv::marshal(json, {});
                                                ++ok;
                                              } catch (const sdk::InvalidError&) {
                                                ++invalid;
                                              }
                                            });
  EXPECT_EQ(ok + invalid, 20000U);
  EXPECT_GT(ok, 0U);
  EXPECT_GT(invalid, 0U);
}

// ---- the plugin, loaded from its .so by the SDK's test host

TEST(CsvPlugin, UnmarshalsAndMarshalsThroughTheSdkHost) {
  sdk::testing::TestHost host;
  host.load(BUSWAY_FORMAT_PLUGIN);
  sdk::testing::Message message(sample(), "text/csv");
  ASSERT_TRUE(host.unmarshal("csv", message).ok());
  EXPECT_EQ(message.media_type, "application/json");
  EXPECT_EQ(Json::parse(message.body)[1]["customer"], "Müller GmbH");
  ASSERT_TRUE(host.marshal("csv", message).ok());
  EXPECT_EQ(message.media_type, "text/csv");
  EXPECT_EQ(message.body, sample());

  sdk::testing::Message semicolons("a;b\n1;2\n");
  ASSERT_TRUE(host.unmarshal("csv", semicolons, {{"delimiter", ";"}, {"header", "false"}}).ok());
  EXPECT_EQ(semicolons.body, R"([["a","b"],["1","2"]])");
}

TEST(CsvPlugin, MalformedInputIsInvalidWithItsPosition) {
  sdk::testing::TestHost host;
  host.load(BUSWAY_FORMAT_PLUGIN);
  sdk::testing::Message message("a,b\n1,\"2\n", "text/csv");
  const auto result = host.unmarshal("csv", message);
  EXPECT_EQ(result.status, sdk::Status::invalid);
  EXPECT_NE(result.error.find("line 2, column 3"), std::string::npos) << result.error;
  EXPECT_EQ(message.body, "a,b\n1,\"2\n");  // the message is left as it was
  const auto bad_option = host.unmarshal("csv", message, {{"delimiter", ",,"}});
  EXPECT_EQ(bad_option.status, sdk::Status::invalid);
  EXPECT_NE(bad_option.error.find("'delimiter'"), std::string::npos) << bad_option.error;
}

TEST(CsvCodec, MarshalOfMutatedJsonGivesAResultOrAnInvalidError) {
  const std::string json = csv::unmarshal(sample(), {});
  std::size_t ok = 0;
  std::size_t invalid = 0;
  busway::formats::testing::forEachMutation(json, 5000, 77, "[]{}\",:0ntf",
                                            [&](const std::string& input) {
                                              try {
                                                csv::marshal(input, {});
                                                ++ok;
                                              } catch (const sdk::InvalidError&) {
                                                ++invalid;
                                              }
                                            });
  EXPECT_EQ(ok + invalid, 5000U);
  EXPECT_GT(invalid, 0U);
}

}  // namespace
