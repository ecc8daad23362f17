// <xslt>: XSLT 1.0 + EXSLT through libxslt, compiled at load, parameters from headers, and
// the resource policy: no network, files only inside the allowed folder.
#include <gmock/gmock.h>

#include "transform_test_support.hpp"

namespace busway::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const char* kGreeting = R"~(<?xml version="1.0"?>
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:str="http://exslt.org/strings" extension-element-prefixes="str">
  <xsl:output method="xml" omit-xml-declaration="yes"/>
  <xsl:param name="greeting" select="'Hello'"/>
  <xsl:template match="/order">
    <greeting><xsl:value-of select="concat($greeting, ', ', str:padding(2, '*'), customer)"/></greeting>
  </xsl:template>
</xsl:stylesheet>
)~";

TEST(XsltStep, TransformsWithExsltAndParametersFromHeaders) {
  TempDir dir;
  put(dir, "greet.xsl", kGreeting);
  RouteHarness h;
  h.load(routeWith("<xslt stylesheet=\"" + dir.file("greet.xsl") +
                   "\"><param name=\"greeting\" header=\"hi\"/></xslt>"));
  Message m(Body::make("<order><customer>Anna</customer></order>", "application/xml"));
  m.headers().set("hi", std::string("Moin"));
  auto exchange = h.send("direct:in", m);
  ASSERT_TRUE(exchange);
  ASSERT_FALSE(exchange->failed()) << exchange->error->describe();
  ASSERT_EQ(h.mock("out").count(), 1u);
  const auto out = h.mock("out").messages()[0];
  EXPECT_EQ(std::string(out.bodyText()), "<greeting>Moin, **Anna</greeting>\n");
  EXPECT_EQ(out.body().mediaType(), "application/xml");
  // Without the header the stylesheet's default applies.
  auto second =
      h.sendBody("direct:in", "<order><customer>Bo</customer></order>", "application/xml");
  ASSERT_FALSE(second->failed());
  EXPECT_EQ(h.mock("out").bodies().back(), "<greeting>, **Bo</greeting>\n");
}

TEST(XsltStep, TextOutputGivesTextPlain) {
  TempDir dir;
  put(dir, "text.xsl",
      R"~(<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:output method="text"/>
  <xsl:template match="/"><xsl:for-each select="//sku"><xsl:value-of select="."/>;</xsl:for-each></xsl:template>
</xsl:stylesheet>)~");
  RouteHarness h;
  h.load(routeWith("<xslt stylesheet=\"" + dir.file("text.xsl") + "\"/>"));
  auto exchange = h.sendBody("direct:in", "<o><sku>A</sku><sku>B</sku></o>", "application/xml");
  ASSERT_FALSE(exchange->failed()) << exchange->error->describe();
  EXPECT_EQ(h.mock("out").bodies()[0], "A;B;");
  EXPECT_EQ(h.mock("out").messages()[0].body().mediaType(), "text/plain");
}

TEST(XsltStep, ABrokenStylesheetIsALoadErrorNamingFileAndLine) {
  TempDir dir;
  put(dir, "broken.xsl",
      "<xsl:stylesheet version=\"1.0\" xmlns:xsl=\"http://www.w3.org/1999/XSL/Transform\">\n"
      "  <xsl:template match=\"/\">\n"
      "    <xsl:value-of select=\"//a[\"/>\n"
      "  </xsl:template>\n"
      "</xsl:stylesheet>\n");
  put(dir, "malformed.xsl",
      "<xsl:stylesheet version=\"1.0\" "
      "xmlns:xsl=\"http://www.w3.org/1999/XSL/Transform\">\n<oops>\n");
  RouteHarness h;
  auto diagnostics =
      h.loadWithErrors(routeWith("<xslt stylesheet=\"" + dir.file("broken.xsl") + "\"/>"));
  ASSERT_TRUE(diagnostics.hasErrors());
  EXPECT_THAT(firstError(diagnostics), HasSubstr("does not compile"));
  EXPECT_THAT(firstError(diagnostics), HasSubstr("broken.xsl line 3"));
  EXPECT_THAT(firstError(diagnostics), HasSubstr("test.xml:1:"));  // the attribute in the table
  auto malformed =
      h.loadWithErrors(routeWith("<xslt stylesheet=\"" + dir.file("malformed.xsl") + "\"/>"));
  EXPECT_THAT(firstError(malformed), HasSubstr("malformed.xsl:"));
  auto missing = h.loadWithErrors(routeWith("<xslt stylesheet=\"" + dir.file("nope.xsl") + "\"/>"));
  EXPECT_THAT(firstError(missing), HasSubstr("cannot read stylesheet"));
}

TEST(XsltStep, IncludeOutsideTheAllowedFolderIsRefusedAtLoad) {
  TempDir dir;
  put(dir, "secret/lib.xsl",
      R"~(<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:template name="x">secret</xsl:template></xsl:stylesheet>)~");
  put(dir, "sheets/main.xsl",
      R"~(<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:include href="../secret/lib.xsl"/>
  <xsl:template match="/"><xsl:call-template name="x"/></xsl:template></xsl:stylesheet>)~");
  put(dir, "sheets/lib.xsl",
      R"~(<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:template name="x">inside</xsl:template></xsl:stylesheet>)~");
  put(dir, "sheets/ok.xsl",
      R"~(<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:import href="lib.xsl"/><xsl:output method="text"/>
  <xsl:template match="/"><xsl:call-template name="x"/></xsl:template></xsl:stylesheet>)~");
  RouteHarness h;
  auto refused =
      h.loadWithErrors(routeWith("<xslt stylesheet=\"" + dir.file("sheets/main.xsl") + "\"/>"));
  ASSERT_TRUE(refused.hasErrors());
  EXPECT_THAT(firstError(refused), HasSubstr("refused to"));
  EXPECT_THAT(firstError(refused), HasSubstr("secret/lib.xsl"));
  // An import from its own folder is fine ...
  RouteHarness ok;
  ok.load(routeWith("<xslt stylesheet=\"" + dir.file("sheets/ok.xsl") + "\"/>"));
  auto exchange = ok.sendBody("direct:in", "<a/>", "application/xml");
  ASSERT_FALSE(exchange->failed()) << exchange->error->describe();
  EXPECT_EQ(ok.mock("out").bodies()[0], "inside");
  // ... and allowed-dir widens the policy on purpose.
  RouteHarness widened;
  widened.load(routeWith("<xslt stylesheet=\"" + dir.file("sheets/main.xsl") + "\" allowed-dir=\"" +
                         dir.path() + "\"/>"));
}

TEST(XsltStep, DocumentOutsideTheFolderAndNetworkAccessAreRefusedAtRunTime) {
  TempDir dir;
  put(dir, "outside.xml", "<secret>s3cr3t</secret>");
  put(dir, "sheets/inside.xml", "<data>fine</data>");
  put(dir, "sheets/read.xsl",
      R"~(<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:output method="text"/>
  <xsl:template match="/"><xsl:value-of select="document(/read/@href)"/></xsl:template></xsl:stylesheet>)~");
  RouteHarness h;
  h.load(routeWith("<xslt stylesheet=\"" + dir.file("sheets/read.xsl") + "\"/>"));
  auto inside = h.sendBody("direct:in", "<read href=\"inside.xml\"/>", "application/xml");
  ASSERT_FALSE(inside->failed()) << inside->error->describe();
  EXPECT_EQ(h.mock("out").bodies()[0], "fine");

  h.sendBody("direct:in", "<read href=\"../outside.xml\"/>", "application/xml");
  h.sendBody("direct:in", "<read href=\"http://127.0.0.1:9/x.xml\"/>", "application/xml");
  ASSERT_TRUE(h.mock("dlq").waitFor(2));
  const auto reasons = h.mock("dlq").headers("busway.failure.reason");
  EXPECT_THAT(reasons[0], HasSubstr("refused to read"));
  EXPECT_THAT(reasons[0], HasSubstr("outside.xml"));
  EXPECT_THAT(reasons[0], Not(HasSubstr("s3cr3t")));
  EXPECT_THAT(reasons[1], HasSubstr("network"));
  EXPECT_EQ(h.mock("out").count(), 1u);
  EXPECT_EQ(h.mock("dlq").count(), 2u);
}

TEST(XsltStep, ABodyThatIsNotXmlFailsAsInvalidAndIsDeadLetteredWithoutRetry) {
  TempDir dir;
  put(dir, "greet.xsl", kGreeting);
  RouteHarness h;
  h.load(routeWith("<xslt stylesheet=\"" + dir.file("greet.xsl") + "\"/>", 3));
  auto exchange = h.sendBody("direct:in", "{\"not\": \"xml\"}", "application/json");
  ASSERT_TRUE(exchange);
  EXPECT_TRUE(h.mock("dlq").waitFor(1));
  EXPECT_EQ(h.mock("out").count(), 0u);
  const auto dead = h.mock("dlq").messages()[0];
  EXPECT_THAT(dead.headers().text("busway.failure.reason"), HasSubstr("not well-formed XML"));
  EXPECT_EQ(dead.headers().text("busway.failure.attempts"), "1");
}

}  // namespace
}  // namespace busway::testing
