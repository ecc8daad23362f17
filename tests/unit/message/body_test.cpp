#include "busway/message/body.hpp"

#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <pugixml.hpp>

namespace busway {
namespace {

TEST(BodyTest, KeepsZeroPaddingAfterTheBytes) {
  auto body = Body::make("abc");
  EXPECT_EQ(body->bytes(), "abc");
  EXPECT_EQ(body->size(), 3u);
  for (std::size_t i = 0; i < Body::kPadding; ++i) EXPECT_EQ(body->paddedData()[3 + i], '\0');
  EXPECT_EQ(body->mediaType(), media::octets);
}

TEST(BodyTest, JsonIsParsedOnceAndCached) {
  auto body = Body::make(R"({"a":[1,2,3]})", std::string(media::json));
  EXPECT_FALSE(body->jsonParsed());
  const nlohmann::json* first = body->json();
  ASSERT_NE(first, nullptr);
  EXPECT_TRUE(body->jsonParsed());
  EXPECT_EQ((*first)["a"][2], 3);
  EXPECT_EQ(body->json(), first);  // same cached DOM
}

TEST(BodyTest, InvalidJsonGivesParserMessageWithOffset) {
  auto body = Body::make(R"({"a": tru})");
  std::string error;
  EXPECT_EQ(body->json(&error), nullptr);
  EXPECT_NE(error.find("invalid JSON at byte"), std::string::npos) << error;
  EXPECT_NE(error.find("line 1"), std::string::npos) << error;
  EXPECT_TRUE(body->jsonParsed());
  std::string again;
  EXPECT_EQ(body->json(&again), nullptr);  // the failure is cached too
  EXPECT_EQ(again, error);
}

TEST(BodyTest, EmptyBodyIsNotJson) {
  std::string error;
  EXPECT_EQ(Body::empty()->json(&error), nullptr);
  EXPECT_FALSE(error.empty());
}

TEST(BodyTest, XmlIsParsedOnceAndCached) {
  auto body = Body::make("<order id='7'><total>12</total></order>", std::string(media::xml));
  const pugi::xml_document* doc = body->xml();
  ASSERT_NE(doc, nullptr);
  EXPECT_STREQ(doc->child("order").attribute("id").value(), "7");
  EXPECT_EQ(body->xml(), doc);
}

TEST(BodyTest, InvalidXmlGivesParserMessageWithOffset) {
  auto body = Body::make("<a><b></a>");
  std::string error;
  EXPECT_EQ(body->xml(&error), nullptr);
  EXPECT_NE(error.find("invalid XML at byte 8"), std::string::npos) << error;
}

TEST(BodyTest, FromJsonRoundTrips) {
  auto body = Body::fromJson(nlohmann::json{{"k", "v"}});
  EXPECT_EQ(body->bytes(), R"({"k":"v"})");
  EXPECT_EQ(body->mediaType(), media::json);
}

TEST(BodyTest, MediaTypes) {
  EXPECT_TRUE(isJsonMediaType("application/json"));
  EXPECT_TRUE(isJsonMediaType("Application/JSON; charset=utf-8"));
  EXPECT_TRUE(isJsonMediaType("application/vnd.api+json"));
  EXPECT_FALSE(isJsonMediaType("application/xml"));
  EXPECT_TRUE(isXmlMediaType("text/xml"));
  EXPECT_TRUE(isXmlMediaType("application/soap+xml;charset=utf-8"));
  EXPECT_FALSE(isXmlMediaType("text/plain"));
}

TEST(BodyTest, ConcurrentFirstUseParsesOnce) {
  auto body = Body::make(R"({"n":1})");
  std::vector<const nlohmann::json*> seen(8);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < seen.size(); ++i) {
    threads.emplace_back([&, i] { seen[i] = body->json(); });
  }
  for (auto& t : threads) t.join();
  for (auto* p : seen) EXPECT_EQ(p, seen[0]);
  ASSERT_NE(seen[0], nullptr);
}

}  // namespace
}  // namespace busway
