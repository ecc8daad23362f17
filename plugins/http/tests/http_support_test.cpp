// The http plugin's pieces that need no network.
#include "http_support.hpp"

#include <stdexcept>

#include <gtest/gtest.h>

namespace busway::http {
namespace {

TEST(HttpAddress, ServerAndClientForms) {
  const Address server = parseAddress("0.0.0.0:8080/orders/{id}", 80);
  EXPECT_EQ(server.host, "0.0.0.0");
  EXPECT_EQ(server.port, 8080);
  EXPECT_EQ(server.path, "/orders/{id}");
  const Address client = parseAddress("//erp.example/api", 443);
  EXPECT_EQ(client.host, "erp.example");
  EXPECT_EQ(client.port, 443);
  EXPECT_EQ(client.path, "/api");
  const Address v6 = parseAddress("//[::1]:9000", 80);
  EXPECT_EQ(v6.host, "::1");
  EXPECT_EQ(v6.port, 9000);
  EXPECT_EQ(v6.path, "/");
  EXPECT_THROW(parseAddress("/orders", 80), std::invalid_argument);
  EXPECT_THROW(parseAddress("host:99999/x", 80), std::invalid_argument);
  EXPECT_THROW(parseAddress("host:abc/x", 80), std::invalid_argument);
}

TEST(HttpPathPattern, MatchesParametersAndLiterals) {
  const PathPattern pattern("/orders/{id}/lines/{line}");
  const auto match = pattern.match("/orders/A%2017/lines/3");
  ASSERT_TRUE(match);
  ASSERT_EQ(match->size(), 2U);
  EXPECT_EQ((*match)[0], (std::pair<std::string, std::string>("id", "A 17")));
  EXPECT_EQ((*match)[1], (std::pair<std::string, std::string>("line", "3")));
  EXPECT_FALSE(pattern.match("/orders/1/lines"));
  EXPECT_FALSE(pattern.match("/orders/1/lines/3/x"));
  EXPECT_FALSE(pattern.match("/invoices/1/lines/3"));
  EXPECT_TRUE(PathPattern("/").match("/"));
  EXPECT_FALSE(PathPattern("/").match("/x"));
  const auto rest = PathPattern("/files/{path*}").match("/files/a/b.txt");
  ASSERT_TRUE(rest);
  EXPECT_EQ((*rest)[0].second, "a/b.txt");
  EXPECT_GT(PathPattern("/orders/new").specificity(), PathPattern("/orders/{id}").specificity());
  EXPECT_THROW(PathPattern("/orders/x{id}"), std::invalid_argument);
  EXPECT_THROW(PathPattern("/orders/{}"), std::invalid_argument);
  EXPECT_THROW(PathPattern("/{rest*}/x"), std::invalid_argument);
}

TEST(HttpMethods, ParsesAList) {
  EXPECT_EQ(parseMethods("post, Get ,POST"), (std::vector<std::string>{"POST", "GET"}));
  EXPECT_TRUE(parseMethods("").empty());
  EXPECT_THROW(parseMethods("PO ST"), std::invalid_argument);
}

TEST(HttpTemplate, SubstitutesHeadersAndIds) {
  const Template t("/orders/${header.id}/by/${id}");
  const auto lookup = [](std::string_view name) -> std::optional<std::string> {
    if (name == "id") return std::string("a/b c");
    return std::nullopt;
  };
  EXPECT_EQ(t.render(lookup, "m-1", "c-1", true), "/orders/a%2Fb%20c/by/m-1");
  EXPECT_EQ(t.render(lookup, "m-1", "c-1", false), "/orders/a/b c/by/m-1");
  EXPECT_THROW(Template("/x/${header.missing}").render(lookup, "", "", true), std::out_of_range);
  EXPECT_THROW(Template("/x/${body}"), std::invalid_argument);
  EXPECT_THROW(Template("/x/${header.id"), std::invalid_argument);
  EXPECT_TRUE(Template("/plain").constant());
}

TEST(HttpHmac, KnownVectorAndComparison) {
  // RFC 4231 test case 2.
  EXPECT_EQ(hmacSha256Hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  const std::string sig = hmacSha256Hex("s3cret", "{\"a\":1}");
  EXPECT_TRUE(signatureMatches(sig, "s3cret", "{\"a\":1}"));
  EXPECT_TRUE(signatureMatches("sha256=" + sig, "s3cret", "{\"a\":1}"));
  EXPECT_FALSE(signatureMatches(sig, "other", "{\"a\":1}"));
  EXPECT_FALSE(signatureMatches(sig, "s3cret", "{\"a\":2}"));
  EXPECT_FALSE(signatureMatches("", "s3cret", "{\"a\":1}"));
}

TEST(HttpSupport, MediaTypesJsonAndOutcomes) {
  EXPECT_EQ(mediaTypeOf("Application/JSON; charset=utf-8"), "application/json");
  EXPECT_EQ(jsonError(404, "no \"route\"\n"), "{\"error\":\"no \\\"route\\\"\\n\",\"status\":404}");
  EXPECT_EQ(outcomeOf(204), Outcome::ok);
  EXPECT_EQ(outcomeOf(503), Outcome::transient);
  EXPECT_EQ(outcomeOf(429), Outcome::transient);
  EXPECT_EQ(outcomeOf(408), Outcome::transient);
  EXPECT_EQ(outcomeOf(404), Outcome::permanent);
  EXPECT_EQ(outcomeOf(302), Outcome::permanent);
  EXPECT_EQ(percentDecode("a%2Fb%zz"), "a/b%zz");
}

}  // namespace
}  // namespace busway::http
