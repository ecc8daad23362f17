// format-hl7: the codec (byte-for-byte round trips of an ADT^A01 and an ORU^R01, the JSON
// shape, escapes, errors naming segment and field, random mutations) and the plugin through
// the SDK's test host.

#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "busway/sdk/testing.hpp"
#include "busway_formats/test_support.hpp"
#include "hl7_codec.hpp"

namespace {

namespace hl7 = busway::formats::hl7;
namespace sdk = busway::sdk;
using Json = nlohmann::ordered_json;

std::string sample(const std::string& name) {
  return busway::formats::testing::readFile(BUSWAY_FORMATS_DATA "/" + name);
}

std::string errorOf(std::string_view text, const hl7::Options& options = {}) {
  try {
    hl7::unmarshal(text, options);
  } catch (const sdk::InvalidError& e) {
    return e.what();
  }
  return "(no error)";
}

std::string marshalErrorOf(std::string_view json) {
  try {
    hl7::marshal(json, {});
  } catch (const sdk::InvalidError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Hl7Codec, AdtA01RoundTripsByteForByte) {
  const std::string original = sample("adt_a01.hl7");
  hl7::MessageInfo info;
  const std::string json = hl7::unmarshal(original, {}, &info);
  EXPECT_EQ(hl7::marshal(json, {}), original);
  EXPECT_EQ(info.message_type, "ADT^A01^ADT_A01");
  EXPECT_EQ(info.control_id, "MSG00001");
  EXPECT_EQ(info.version, "2.5.1");
  EXPECT_EQ(info.segments, 8U);
}

TEST(Hl7Codec, OruR01RoundTripsByteForByteInBothEscapeModes) {
  const std::string original = sample("oru_r01.hl7");
  EXPECT_EQ(hl7::marshal(hl7::unmarshal(original, {}), {}), original);
  hl7::Options keep;
  keep.decode_escapes = false;
  EXPECT_EQ(hl7::marshal(hl7::unmarshal(original, keep), keep), original);
}

TEST(Hl7Codec, JsonShapeIndexesFieldsByTheirHl7Number) {
  const Json doc = Json::parse(hl7::unmarshal(sample("adt_a01.hl7"), {}));
  const Json& segments = doc["segments"];
  ASSERT_EQ(segments.size(), 8U);
  const Json& msh = segments[0];
  EXPECT_EQ(msh[0], "MSH");
  EXPECT_EQ(msh[1], "|");
  EXPECT_EQ(msh[2], "^~\\&");
  EXPECT_EQ(msh[9], Json::parse(R"(["ADT","A01","ADT_A01"])"));
  const Json& pid = segments[2];
  EXPECT_EQ(pid[0], "PID");
  // PID-3: three repetitions of a CX.
  ASSERT_TRUE(pid[3].is_object());
  EXPECT_EQ(pid[3]["repetitions"].size(), 3U);
  EXPECT_EQ(pid[3]["repetitions"][0], Json::parse(R"(["PATID1234","","","GHH","MR"])"));
  EXPECT_EQ(pid[5], Json::parse(R"(["EVERYMAN","ADAM","A","III"])"));
  EXPECT_EQ(pid[7], "19610615");
  // \E\ inside a component of a repetition.
  EXPECT_EQ(pid[13]["repetitions"][1][3], "adam\\everyman@example.org");
  // EVN-5: subcomponents inside the ninth component.
  EXPECT_EQ(segments[1][5][8], Json::parse(R"(["","1.2.840.114350","ISO"])"));
  // The OBX text: \F\ \S\ \T\ \R\ \E\ and \X0D0A\ decoded.
  EXPECT_EQ(segments[6][5],
            "Patient reports pain | discomfort in left arm\r\nBP 120^80; ratio 3&1 ~ see chart \\ "
            "attached");
  // Formatting escapes are kept as written.
  EXPECT_EQ(segments[5][5]["repetitions"][2], "\\H\\SEVERE\\N\\");
  // A field that is empty at the end of the segment is kept.
  EXPECT_EQ(segments[7].size(), 4U);
  EXPECT_EQ(segments[7][2], Json::parse(R"(["Custom",["Segment","With","Subcomponents"]])"));
}

TEST(Hl7Codec, AcceptsLfAndCrLfAndWritesTheConfiguredSeparator) {
  const std::string cr = sample("oru_r01.hl7");
  std::string lf = cr;
  for (char& c : lf)
    if (c == '\r') c = '\n';
  const std::string json = hl7::unmarshal(cr, {});
  EXPECT_EQ(hl7::unmarshal(lf, {}), json);
  hl7::Options o;
  o.separator = "\n";
  EXPECT_EQ(hl7::marshal(json, o), lf);
}

TEST(Hl7Codec, OtherDelimitersComeFromMsh) {
  const std::string message = "MSH#*@!%#APP#FAC\rPID#1##A*B@C*D#x!F!y\r";
  const Json doc = Json::parse(hl7::unmarshal(message, {}));
  EXPECT_EQ(doc["segments"][1][3], Json::parse(R"({"repetitions":[["A","B"],["C","D"]]})"));
  EXPECT_EQ(doc["segments"][1][4], "x#y");  // !F! is the field separator
  EXPECT_EQ(hl7::marshal(doc.dump(), {}), message);
}

TEST(Hl7Codec, MarshalEscapesDelimitersInText) {
  const std::string json =
      R"({"segments":[["MSH","|","^~\\&","A"],["NTE","1","a|b^c~d&e\\f\r\ng"]]})";
  EXPECT_EQ(hl7::marshal(json, {}),
            "MSH|^~\\&|A\rNTE|1|a\\F\\b\\S\\c\\R\\d\\T\\e\\E\\f\\X0D0A\\g\r");
  EXPECT_EQ(Json::parse(hl7::unmarshal(hl7::marshal(json, {}), {})), Json::parse(json));
}

TEST(Hl7Codec, ErrorsNameTheSegmentAndField) {
  std::string error = errorOf("PID|1\r");
  EXPECT_NE(error.find("HL7 segment 1: a message starts with MSH"), std::string::npos) << error;
  error = errorOf("MSH|^~\\&|A\rPID|1||x\\F\r");
  EXPECT_NE(error.find("HL7 segment 2 (PID), field 3: the escape sequence '\\F' is not terminated"),
            std::string::npos)
      << error;
  error = errorOf("MSH|^~\\&|A\rPID|1\rob x|2\r");
  EXPECT_NE(error.find("HL7 segment 3: the segment name 'ob x|2'"), std::string::npos) << error;
  error = errorOf("MSH|^~\\&|A\rOBX|1|TX|||a\\Q\\b\r");
  EXPECT_NE(error.find("segment 2 (OBX), field 5: unknown escape sequence '\\Q\\'"),
            std::string::npos)
      << error;
  error = errorOf("MSH|^|A\r");
  EXPECT_NE(error.find("encoding characters (MSH-2)"), std::string::npos) << error;
  error = errorOf("MSH|^~\\&|A\rPID|\xC3(\r");
  EXPECT_NE(error.find("segment 2 (PID), field 1: the text is not valid UTF-8"), std::string::npos)
      << error;
  EXPECT_NE(errorOf("").find("empty"), std::string::npos);
}

TEST(Hl7Codec, MarshalErrorsNameTheSegmentAndField) {
  EXPECT_NE(marshalErrorOf(R"({"segments":[["PID","1"]]})")
                .find("segment 1 (PID): a message starts with MSH"),
            std::string::npos);
  const std::string error =
      marshalErrorOf(R"({"segments":[["MSH","|","^~\\&"],["PID","1",{"x":1}]]})");
  EXPECT_NE(error.find("segment 2 (PID), field 2: an object field must be"), std::string::npos)
      << error;
  EXPECT_NE(marshalErrorOf(R"({"segments":[["MSH","|","^~\\&"],["PID",true]]})")
                .find("field 1: a JSON boolean where text is expected"),
            std::string::npos);
  EXPECT_NE(marshalErrorOf(R"([1])").find("needs a JSON object"), std::string::npos);
  EXPECT_NE(marshalErrorOf(R"({"segments":[["MSH","|","^~\\&"],["pid"]]})")
                .find("segment 2: the segment name 'pid'"),
            std::string::npos);
}

TEST(Hl7Codec, RandomMutationsGiveAResultOrAnInvalidError) {
  for (const char* name : {"adt_a01.hl7", "oru_r01.hl7"}) {
    const std::string text = sample(name);
    std::size_t ok = 0;
    std::size_t invalid = 0;
    busway::formats::testing::forEachMutation(
        text, 10000, 2510, "|^~\\&\r\nXFSTRE", [&](const std::string& input) {
          try {
            const std::string json = hl7::unmarshal(input, {});
            ASSERT_TRUE(Json::accept(json)) << json;
            // What unmarshal accepted, marshal writes, and it reads back the same.
            const std::string again = hl7::marshal(json, {});
            EXPECT_EQ(hl7::unmarshal(again, {}), json) << input;
            ++ok;
          } catch (const sdk::InvalidError&) {
            ++invalid;
          }
        });
    EXPECT_EQ(ok + invalid, 10000U);
    EXPECT_GT(ok, 0U);
    EXPECT_GT(invalid, 0U);
  }
}

// ---- the plugin, loaded from its .so by the SDK's test host

TEST(Hl7Plugin, UnmarshalSetsHeadersAndMarshalRestoresTheMessage) {
  sdk::testing::TestHost host;
  host.load(BUSWAY_FORMAT_PLUGIN);
  const std::string original = sample("oru_r01.hl7");
  sdk::testing::Message message(original, "x-application/hl7-v2+er7");
  ASSERT_TRUE(host.unmarshal("hl7", message).ok());
  EXPECT_EQ(message.media_type, "application/json");
  EXPECT_EQ(message.header("hl7.message-type"), "ORU^R01^ORU_R01");
  EXPECT_EQ(message.header("hl7.control-id"), "LAB-77421");
  EXPECT_EQ(message.header("hl7.version"), "2.5.1");
  EXPECT_EQ(message.header("hl7.segment-count"), "10");
  ASSERT_TRUE(host.marshal("hl7", message).ok());
  EXPECT_EQ(message.body, original);

  sdk::testing::Message lf(original);
  ASSERT_TRUE(host.unmarshal("hl7", lf, {{"escapes", "keep"}}).ok());
  ASSERT_TRUE(host.marshal("hl7", lf, {{"segment-separator", "crlf"}}).ok());
  EXPECT_NE(lf.body.find("\\.br\\"), std::string::npos);
  EXPECT_NE(lf.body.find("LAB-77421|P|2.5.1|||NE|NE|USA|UNICODE UTF-8\r\nPID"), std::string::npos);
}

TEST(Hl7Plugin, MalformedMessageIsInvalid) {
  sdk::testing::TestHost host;
  host.load(BUSWAY_FORMAT_PLUGIN);
  sdk::testing::Message message("MSH|^~\\&|A\rPV1|1|I|\\X0\r");
  const auto result = host.unmarshal("hl7", message);
  EXPECT_EQ(result.status, sdk::Status::invalid);
  EXPECT_NE(result.error.find("segment 2 (PV1), field 3"), std::string::npos) << result.error;
}

TEST(Hl7Codec, MarshalOfMutatedJsonGivesAResultOrAnInvalidError) {
  const std::string json = hl7::unmarshal(sample("adt_a01.hl7"), {});
  std::size_t ok = 0;
  std::size_t invalid = 0;
  busway::formats::testing::forEachMutation(json, 5000, 77, "[]{}\",:0ntf",
                                            [&](const std::string& input) {
                                              try {
                                                hl7::marshal(input, {});
                                                ++ok;
                                              } catch (const sdk::InvalidError&) {
                                                ++invalid;
                                              }
                                            });
  EXPECT_EQ(ok + invalid, 5000U);
  EXPECT_GT(invalid, 0U);
}

}  // namespace
