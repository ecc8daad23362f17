// format-xml: the JSON<->XML convention, round trips, errors with positions/paths, random
// mutations, and the plugin through the SDK's test host.

#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "busway/sdk/testing.hpp"
#include "busway_formats/test_support.hpp"
#include "xml_codec.hpp"

namespace {

namespace xml = busway::formats::xml;
namespace sdk = busway::sdk;
using Json = nlohmann::ordered_json;

std::string sample() {
  return busway::formats::testing::readFile(BUSWAY_FORMATS_DATA "/purchase_order.xml");
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

TEST(XmlCodec, SampleFollowsTheConvention) {
  xml::Options o;
  o.arrays = {"po:purchaseOrder/po:notes/po:note"};
  const Json doc = Json::parse(xml::unmarshal(sample(), o));
  const Json& po = doc["po:purchaseOrder"];
  EXPECT_EQ(po["@xmlns:po"], "urn:example:po");
  EXPECT_EQ(po["@xmlns"], "urn:example:default");
  EXPECT_EQ(po["@id"], "PO-4711");
  EXPECT_EQ(po["po:shipTo"]["@country"], "DE");
  EXPECT_EQ(po["po:shipTo"]["name"], "Müller GmbH");
  EXPECT_EQ(po["po:comment"], "Deliver to gate 3 & call <ahead>");
  // Repeated elements are an array; a single one listed in 'arrays' too.
  ASSERT_TRUE(po["po:items"]["po:item"].is_array());
  EXPECT_EQ(po["po:items"]["po:item"].size(), 2U);
  EXPECT_EQ(po["po:items"]["po:item"][0]["@partNum"], "872-AA");
  EXPECT_EQ(po["po:items"]["po:item"][0]["price"],
            Json::parse(R"({"@currency":"EUR","#text":"148.95"})"));
  EXPECT_EQ(po["po:items"]["po:item"][1]["shipDate"], "");
  EXPECT_EQ(po["po:notes"]["po:note"], Json::parse(R"(["fragile <glass>"])"));
  // Mixed content: the text is gathered in #text, the child kept.
  EXPECT_EQ(po["po:remark"]["b"], "bold");
  EXPECT_EQ(po["po:remark"]["#text"], "Mixed  text");
  // Without the 'arrays' entry a single element is a plain value.
  EXPECT_TRUE(Json::parse(xml::unmarshal(sample(), {}))["po:purchaseOrder"]["po:notes"]["po:note"]
                  .is_string());
}

TEST(XmlCodec, RoundTripKeepsTheStructureAndIsStableOnOurOwnOutput) {
  xml::Options o;
  o.arrays = {"po:note", "po:item"};
  const std::string json = xml::unmarshal(sample(), o);
  const std::string written = xml::marshal(json, o);
  EXPECT_EQ(xml::unmarshal(written, o), json);
  // What marshal writes comes back byte for byte.
  EXPECT_EQ(xml::marshal(xml::unmarshal(written, o), o), written);
  EXPECT_EQ(written.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<po:purchaseOrder "
                          "xmlns:po=\"urn:example:po\"",
                          0),
            0U)
      << written;
}

TEST(XmlCodec, MarshalWritesArraysAsRepeatedElements) {
  EXPECT_EQ(
      xml::marshal(
          R"({"order":{"@id":7,"line":[{"sku":"A"},{"sku":"B"}],"paid":true,"note":null}})", {}),
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<order id=\"7\"><line><sku>A</sku></line>"
      "<line><sku>B</sku></line><paid>true</paid><note/></order>\n");
  // A top-level array (what CSV gives) becomes items under 'root'.
  xml::Options o;
  o.declaration = false;
  EXPECT_EQ(
      xml::marshal(R"([{"id":"1","name":"A & B"},{"id":"2","name":"<C>"}])", o),
      "<root><item><id>1</id><name>A &amp; B</name></item><item><id>2</id><name>&lt;C&gt;</name>"
      "</item></root>\n");
  o.root = "orders";
  o.item = "order";
  EXPECT_EQ(xml::marshal(R"([{"id":"1"}])", o), "<orders><order><id>1</id></order></orders>\n");
  // With 'root' set, unmarshal gives the content only.
  EXPECT_EQ(xml::unmarshal("<orders><order><id>1</id></order></orders>", o),
            R"({"order":{"id":"1"}})");
}

TEST(XmlCodec, PrettyOutputIndents) {
  xml::Options o;
  o.pretty = true;
  o.declaration = false;
  EXPECT_EQ(xml::marshal(R"({"a":{"b":"1","c":{"d":"2"}}})", o),
            "<a>\n  <b>1</b>\n  <c>\n    <d>2</d>\n  </c>\n</a>\n");
}

TEST(XmlCodec, MalformedXmlNamesLineAndColumn) {
  const std::string error =
      errorOf([] { xml::unmarshal("<a>\n  <b>1</b>\n  <c>2</d>\n</a>", {}); });
  EXPECT_NE(error.find("XML is not well-formed at line 3, column"), std::string::npos) << error;
  EXPECT_NE(errorOf([] { xml::unmarshal("", {}); }).find("No document element"), std::string::npos);
  const std::string two = errorOf([] { xml::unmarshal("<a>1</a>\n<b/>", {}); });
  EXPECT_NE(two.find("at line 2, column 1: content after the root element <a>"), std::string::npos)
      << two;
}

TEST(XmlCodec, MarshalErrorsNameTheJsonPath) {
  std::string error = errorOf([] { xml::marshal(R"({"a":{"items":[{"first name":"x"}]}})", {}); });
  EXPECT_NE(
      error.find("at $.items[0].first name: the key 'first name' is not a valid XML element name"),
      std::string::npos)
      << error;
  error = errorOf([] { xml::marshal(R"({"a":{"@attr":{"x":1}}})", {}); });
  EXPECT_NE(error.find("at $.@attr: a JSON object cannot be an attribute"), std::string::npos)
      << error;
  error = errorOf([] { xml::marshal(R"({"a":"bell\u0007"})", {}); });
  EXPECT_NE(error.find("control character 7"), std::string::npos) << error;
  error = errorOf([] { xml::marshal("{\"a\":", {}); });
  EXPECT_NE(error.find("not valid JSON at line 1"), std::string::npos) << error;
}

TEST(XmlCodec, DeepNestingIsRefusedNotACrash) {
  std::string deep;
  for (int i = 0; i < 100000; ++i) deep += "<a>";
  EXPECT_NE(errorOf([&] { xml::unmarshal(deep, {}); }).find("not well-formed"), std::string::npos);
  for (int i = 0; i < 100000; ++i) deep += "</a>";
  EXPECT_NE(errorOf([&] { xml::unmarshal(deep, {}); }).find("deeper than 512 levels"),
            std::string::npos);
  std::string json;
  for (int i = 0; i < 5000; ++i) json += "{\"a\":";
  json += "1";
  for (int i = 0; i < 5000; ++i) json += "}";
  EXPECT_NE(errorOf([&] { xml::marshal(json, {}); }).find("deeper than 512 levels"),
            std::string::npos);
}

TEST(XmlCodec, Latin1DocumentsAreConverted) {
  const std::string latin1 =
      "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><city>M\xFCnchen</city>";
  EXPECT_EQ(xml::unmarshal(latin1, {}), R"({"city":"München"})");
}

TEST(XmlCodec, RandomMutationsGiveAResultOrAnInvalidError) {
  const std::string text = sample();
  std::size_t ok = 0;
  std::size_t invalid = 0;
  busway::formats::testing::forEachMutation(text, 20000, 1998, "<>&;/\"'=!?[]",
                                            [&](const std::string& input) {
                                              try {
                                                const std::string json = xml::unmarshal(input, {});
                                                ASSERT_TRUE(Json::accept(json));
                                                xml::marshal(json, {});
                                                ++ok;
                                              } catch (const sdk::InvalidError&) {
                                                ++invalid;
                                              }
                                            });
  EXPECT_EQ(ok + invalid, 20000U);
  EXPECT_GT(ok, 0U);
  EXPECT_GT(invalid, 0U);
}

TEST(XmlPlugin, ConvertsThroughTheSdkHost) {
  sdk::testing::TestHost host;
  host.load(BUSWAY_FORMAT_PLUGIN);
  sdk::testing::Message message(sample(), "application/xml");
  ASSERT_TRUE(host.unmarshal("xml", message, {{"arrays", "po:note"}}).ok());
  EXPECT_EQ(message.media_type, "application/json");
  EXPECT_TRUE(Json::parse(message.body)["po:purchaseOrder"]["po:notes"]["po:note"].is_array());
  ASSERT_TRUE(host.marshal("xml", message, {{"pretty", "true"}}).ok());
  EXPECT_EQ(message.media_type, "application/xml");
  EXPECT_NE(message.body.find("\n  <po:shipTo country=\"DE\">"), std::string::npos) << message.body;

  sdk::testing::Message broken("<a><b></a>");
  const auto result = host.unmarshal("xml", broken);
  EXPECT_EQ(result.status, sdk::Status::invalid);
  EXPECT_NE(result.error.find("line 1, column"), std::string::npos) << result.error;
}

TEST(XmlCodec, MarshalOfMutatedJsonGivesAResultOrAnInvalidError) {
  const std::string json = xml::unmarshal(sample(), {});
  std::size_t ok = 0;
  std::size_t invalid = 0;
  busway::formats::testing::forEachMutation(json, 5000, 77, "[]{}\",:0ntf",
                                            [&](const std::string& input) {
                                              try {
                                                xml::marshal(input, {});
                                                ++ok;
                                              } catch (const sdk::InvalidError&) {
                                                ++invalid;
                                              }
                                            });
  EXPECT_EQ(ok + invalid, 5000U);
  EXPECT_GT(invalid, 0U);
}

}  // namespace
