// Checking endpoint URIs against their components' option schemas, at load time.
#include <gtest/gtest.h>

#include "route_harness.hpp"

namespace busway::testing {
namespace {

std::string errorOf(RouteHarness& h, const std::string& uri) {
  auto endpoint = h.context().components().resolve(uri);
  EXPECT_FALSE(endpoint.ok()) << uri << " resolved but should not";
  return endpoint.ok() ? std::string() : endpoint.error().message;
}

TEST(UriOptionsTest, UnknownOptionSuggestsTheClosestName) {
  RouteHarness h;
  const auto message = errorOf(h, "queue:orders?capacty=5");
  EXPECT_NE(message.find("unknown option 'capacty'"), std::string::npos) << message;
  EXPECT_NE(message.find("did you mean 'capacity'?"), std::string::npos) << message;
  EXPECT_NE(errorOf(h, "timer:t?perod=1s").find("did you mean 'period'?"), std::string::npos);
  EXPECT_NE(errorOf(h, "log:x?show-header=true").find("did you mean 'show-headers'?"),
            std::string::npos);
  // Nothing close: no suggestion.
  EXPECT_EQ(errorOf(h, "queue:orders?zzzzzzzz=1").find("did you mean"), std::string::npos);
}

TEST(UriOptionsTest, WrongTypeSaysWhatWasExpected) {
  RouteHarness h;
  const auto integer = errorOf(h, "queue:orders?capacity=lots");
  EXPECT_NE(integer.find("option 'capacity'"), std::string::npos) << integer;
  EXPECT_NE(integer.find("'lots'"), std::string::npos) << integer;
  EXPECT_NE(integer.find("an integer"), std::string::npos) << integer;
  EXPECT_NE(errorOf(h, "queue:orders?max-bytes=huge").find("a size"), std::string::npos);
  EXPECT_NE(errorOf(h, "timer:t?period=soon").find("a duration"), std::string::npos);
  EXPECT_NE(errorOf(h, "log:x?show-body=yes").find("true or false"), std::string::npos);
  const auto choice = errorOf(h, "queue:orders?when-full=drop");
  EXPECT_NE(choice.find("one of block reject"), std::string::npos) << choice;
}

TEST(UriOptionsTest, UnknownSchemeAndMalformedUris) {
  RouteHarness h;
  EXPECT_NE(errorOf(h, "queu:orders").find("did you mean 'queue'?"), std::string::npos);
  EXPECT_NE(errorOf(h, "orders").find("not an endpoint URI"), std::string::npos);
  EXPECT_NE(errorOf(h, "queue:q?capacity=1&capacity=2").find("given twice"), std::string::npos);
}

TEST(UriOptionsTest, ValidOptionsResolve) {
  RouteHarness h;
  for (const char* uri : {"queue:q?capacity=5&max-bytes=1MB&when-full=reject&consumers=2",
                          "timer:t?period=250ms&count=0&delay=1s",
                          "log:cat?level=debug&show-headers=true&max-body=1KB", "direct:x"}) {
    auto endpoint = h.context().components().resolve(uri);
    EXPECT_TRUE(endpoint.ok()) << uri << ": " << (endpoint.ok() ? "" : endpoint.error().message);
  }
}

TEST(UriOptionsTest, BadOptionInATableIsALoadErrorWithAPosition) {
  RouteHarness h;
  auto d = h.loadWithErrors(RouteHarness::table(R"(<route id="r"><from uri="direct:in"/>
<to uri="queue:orders?capasity=5"/></route>)"));
  ASSERT_TRUE(d.hasErrors());
  const std::string text = d.toString();
  EXPECT_NE(text.find("test.xml:2:"), std::string::npos) << text;
  EXPECT_NE(text.find("did you mean 'capacity'?"), std::string::npos) << text;
}

}  // namespace
}  // namespace busway::testing
