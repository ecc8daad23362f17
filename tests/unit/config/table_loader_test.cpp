#include "busway/config/table_loader.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "busway/router/route_compiler.hpp"
#include "busway/runtime/bus_context.hpp"

namespace busway {
namespace {

namespace fs = std::filesystem;

// Loads and compiles, as `busway validate` does.
Diagnostics check(const std::string& path) {
  Diagnostics diagnostics;
  BusContext context(1);
  const auto table = loadTable(path, diagnostics);
  compileTable(table, context, diagnostics);
  return diagnostics;
}

Diagnostics checkText(const std::string& xml, const std::string& dir = ".") {
  Diagnostics diagnostics;
  BusContext context(1);
  const auto table = loadTableFromString(xml, "t.xml", dir, diagnostics);
  compileTable(table, context, diagnostics);
  return diagnostics;
}

std::vector<std::string> lines(const Diagnostics& d) {
  std::vector<std::string> out;
  std::string text = d.toString();
  for (std::size_t pos = 0; pos < text.size();) {
    const auto end = text.find('\n', pos);
    out.push_back(text.substr(pos, end - pos));
    pos = end == std::string::npos ? text.size() : end + 1;
  }
  return out;
}

TEST(TableLoader, ReportsFiveDifferentMistakesWithPositions) {
  const std::string path = std::string(BUSWAY_SOURCE_DIR) + "/tests/data/invalid/five-mistakes.xml";
  const auto d = check(path);
  const auto got = lines(d);
  ASSERT_EQ(got.size(), 5u) << d.toString();
  const std::string f = path + ":";
  EXPECT_EQ(got[0].rfind(
                f + "5:5: error: unknown element <filtre> in <route> (did you mean 'filter'?)", 0),
            0u)
      << got[0];
  EXPECT_EQ(
      got[1].rfind(f + "6:14: error: unknown endpoint 'invntory' (did you mean 'inventory'?)", 0),
      0u)
      << got[1];
  EXPECT_EQ(got[2].rfind(f + "7:27: error: invalid xpath expression", 0), 0u) << got[2];
  EXPECT_EQ(got[3].rfind(f + "8:50: error: invalid jsonpath expression", 0), 0u) << got[3];
  EXPECT_EQ(got[4].rfind(f + "13:", 0), 0u) << got[4];
  EXPECT_NE(got[4].find("malformed XML"), std::string::npos) << got[4];
}

TEST(TableLoader, AValidTableHasNoDiagnostics) {
  const auto d = checkText(R"(<routes xmlns="urn:busway:routes:1">
    <endpoint id="out" uri="log:out"/>
    <route id="r"><from uri="direct:in"/><filter jsonpath="$.a == 1"/><to ref="out"/></route>
  </routes>)");
  EXPECT_FALSE(d.hasErrors()) << d.toString();
}

TEST(TableLoader, EntitiesInExpressionsKeepColumnsRight) {
  // "&gt;" is one character of the expression but four in the file.
  const auto d = checkText(
      "<routes xmlns=\"urn:busway:routes:1\"><route id=\"r\"><from uri=\"direct:in\"/>\n"
      "<filter jsonpath=\"$.a &gt; 1 and and\"/></route></routes>");
  ASSERT_EQ(d.errorCount(), 1u) << d.toString();
  const auto& where = d.all()[0].where;
  EXPECT_EQ(where.line, 2);
  // The value starts at column 19; "$.a > 1 and " is 12 characters, written as 15, so the
  // second "and" stands at column 34.
  EXPECT_EQ(where.column, 19 + 15) << d.toString();
}

TEST(TableLoader, UnknownAttributeSuggestsTheRightOne) {
  const auto d =
      checkText(R"(<routes xmlns="urn:busway:routes:1"><route id="r"><from uri="direct:in"/>
    <throttle rat="5"/></route></routes>)");
  EXPECT_NE(d.toString().find("<throttle> has no attribute 'rat' (did you mean 'rate'?)"),
            std::string::npos)
      << d.toString();
  EXPECT_NE(d.toString().find("<throttle> needs attribute 'rate'"), std::string::npos)
      << d.toString();
}

TEST(TableLoader, WrongNamespaceIsExplained) {
  const auto d = checkText(R"(<routes xmlns="urn:other"><route id="r"/></routes>)");
  EXPECT_NE(d.toString().find("not in the busway routes namespace"), std::string::npos)
      << d.toString();
}

TEST(TableLoader, MissingFromAndDuplicateIds) {
  const auto d = checkText(R"(<routes xmlns="urn:busway:routes:1">
    <route id="a"><log/></route>
    <route id="b"><from uri="direct:x"/></route>
    <route id="b"><from uri="direct:y"/></route>
    <route id="c"><from uri="direct:x"/></route>
  </routes>)");
  const auto text = d.toString();
  EXPECT_NE(text.find("route 'a' has no <from>"), std::string::npos) << text;
  EXPECT_NE(text.find("route id 'b' is already used at t.xml:3:5"), std::string::npos) << text;
  EXPECT_NE(text.find("direct:x is already consumed by route 'b'"), std::string::npos) << text;
}

TEST(TableLoader, UriOptionsAreChecked) {
  const auto d = checkText(R"(<routes xmlns="urn:busway:routes:1">
    <endpoint id="q" uri="queue:orders?capacty=10"/>
    <endpoint id="t" uri="timer:tick?period=soon"/>
    <endpoint id="x" uri="qeueu:orders"/>
    <route id="r"><from ref="t"/><to ref="q"/><to ref="x"/></route>
  </routes>)");
  const auto text = d.toString();
  EXPECT_NE(
      text.find(
          "t.xml:2:27: error: unknown option 'capacty' for queue: (did you mean 'capacity'?)"),
      std::string::npos)
      << text;
  EXPECT_NE(
      text.find("t.xml:3:27: error: option 'period' of timer: is 'soon', expected a duration"),
      std::string::npos)
      << text;
  EXPECT_NE(text.find("no component for scheme 'qeueu' (did you mean 'queue'?)"), std::string::npos)
      << text;
}

class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/busway-test-XXXXXX";
    path_ = ::mkdtemp(pattern);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string write(const std::string& name, const std::string& text) const {
    const auto p = fs::path(path_) / name;
    std::ofstream(p) << text;
    return p.string();
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(TableLoader, IncludesAndPlaceholders) {
  TempDir dir;
  dir.write("secret.txt", "s3cret\n");
  dir.write("common.xml", R"(<routes xmlns="urn:busway:routes:1">
    <endpoint id="out" uri="log:${env:BUSWAY_TEST_CATEGORY:-fallback}"/></routes>)");
  const auto main = dir.write("main.xml", R"(<routes xmlns="urn:busway:routes:1">
    <include href="common.xml"/>
    <route id="r"><from uri="direct:in"/><set-header name="token" constant="${file:secret.txt}"/><to ref="out"/></route>
  </routes>)");
  Diagnostics d;
  const auto table = loadTable(main, d);
  ASSERT_FALSE(d.hasErrors()) << d.toString();
  ASSERT_EQ(table.files.size(), 2u);
  ASSERT_EQ(table.endpoints.size(), 1u);
  EXPECT_EQ(table.endpoints[0].uri, "log:fallback");
  ASSERT_EQ(table.routes.size(), 1u);
  EXPECT_EQ(table.routes[0].steps[0].attribute("constant")->value, "s3cret");
}

TEST(TableLoader, MissingEnvironmentVariableIsAnErrorAtItsPlace) {
  ::unsetenv("BUSWAY_TEST_UNSET");
  const auto d = checkText(
      R"(<routes xmlns="urn:busway:routes:1"><endpoint id="e" uri="log:${env:BUSWAY_TEST_UNSET}"/></routes>)");
  ASSERT_EQ(d.errorCount(), 1u) << d.toString();
  EXPECT_NE(
      d.toString().find("t.xml:1:63: error: environment variable 'BUSWAY_TEST_UNSET' is not set"),
      std::string::npos)
      << d.toString();
}

TEST(TableLoader, IncludeCycleIsReported) {
  TempDir dir;
  dir.write("a.xml", R"(<routes xmlns="urn:busway:routes:1"><include href="b.xml"/></routes>)");
  dir.write("b.xml", R"(<routes xmlns="urn:busway:routes:1"><include href="a.xml"/></routes>)");
  Diagnostics d;
  loadTable(dir.path() + "/a.xml", d);
  EXPECT_NE(d.toString().find("include cycle"), std::string::npos) << d.toString();
}

TEST(TableLoader, ErrorsInIncludedFilesNameThatFile) {
  TempDir dir;
  dir.write("bad.xml", "<routes xmlns=\"urn:busway:routes:1\">\n  <endpoint id=\"e\"/>\n</routes>");
  const auto main = dir.write(
      "main.xml", R"(<routes xmlns="urn:busway:routes:1"><include href="bad.xml"/></routes>)");
  const auto d = check(main);
  EXPECT_NE(d.toString().find("bad.xml:2:3: error: <endpoint> needs attribute 'uri'"),
            std::string::npos)
      << d.toString();
}

TEST(TableLoaderRules, IdsMustBeNames) {
  const auto d = checkText(
      R"(<routes xmlns="urn:busway:routes:1"><route id="9 bad id"><from uri="direct:a"/></route></routes>)");
  EXPECT_NE(d.toString().find("route id '9 bad id' is not a valid name"), std::string::npos)
      << d.toString();
}

TEST(TableLoaderRules, RouteChildrenComeInOrder) {
  const auto d =
      checkText(R"(<routes xmlns="urn:busway:routes:1"><route id="r"><from uri="direct:a"/>
    <error-handler max-attempts="2"/><description>late</description><log/></route></routes>)");
  const auto text = d.toString();
  EXPECT_NE(text.find("<error-handler> must come before <from>"), std::string::npos) << text;
  EXPECT_NE(text.find("<description> must come first"), std::string::npos) << text;
}

TEST(TableLoader, MissingFileIsAClearError) {
  const auto d = check("/nonexistent/routes.xml");
  EXPECT_NE(d.toString().find("cannot read routing table '/nonexistent/routes.xml'"),
            std::string::npos)
      << d.toString();
}

}  // namespace
}  // namespace busway
