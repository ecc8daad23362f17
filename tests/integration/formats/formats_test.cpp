// The format plugins in the real bus: `busway run` loads the bundled format-* plugins and a
// routing table converts with them (<transform ref="unmarshal:csv"/> and the like), and a
// malformed body goes to the dead-letter channel with a reason that names its position.

#include <chrono>
#include <string>

#include <gtest/gtest.h>

#include "child_process.hpp"

namespace {

using namespace std::chrono_literals;
using busway::testing::runCommand;
using busway::testing::TempDir;

const std::string kBusway = BUSWAY_EXE;

std::string table(const std::string& routes) {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<routes xmlns=\"urn:busway:routes:1\">\n" +
         routes + "\n</routes>\n";
}

busway::testing::CommandResult run(const TempDir& dir, const std::string& routes) {
  const std::string path = dir.write("routes.xml", table(routes));
  return runCommand({kBusway, "run", "--for", "3s", path}, 60s);
}

TEST(FormatsInTheBus, CsvToJsonToXmlWithDefaults) {
  TempDir dir;
  // A CSV export with a quoted delimiter and an embedded line break (&#10; in XML text).
  const auto r = run(dir, R"(
  <route id="convert">
    <from uri="timer:csv?period=100ms&amp;count=1"/>
    <set-body media-type="text/csv">id,name,note&#10;1,"Smith, John","line one&#10;line two"&#10;2,Ann &amp; Bob,plain&#10;</set-body>
    <transform ref="unmarshal:csv"/>
    <log category="as-json" message="${body}"/>
    <transform ref="marshal:xml"/>
    <log category="as-xml" message="${body}"/>
  </route>)");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find(R"([as-json] [{"id":"1","name":"Smith, John","note":"line one\nline two"},)"
                       R"({"id":"2","name":"Ann & Bob","note":"plain"}])"),
            std::string::npos)
      << r.err;
  EXPECT_NE(
      r.err.find(
          "<root><item><id>1</id><name>Smith, John</name><note>line one\nline two</note></item>"
          "<item><id>2</id><name>Ann &amp; Bob</name><note>plain</note></item></root>"),
      std::string::npos)
      << r.err;
}

TEST(FormatsInTheBus, Hl7HeadersDriveTheRouteAndTheMessageComesBackIntact) {
  TempDir dir;
  const auto r = run(dir, R"(
  <route id="hl7">
    <from uri="timer:hl7?period=100ms&amp;count=1"/>
    <set-body media-type="x-application/hl7-v2+er7">MSH|^~\&amp;|LAB|HOSP|EHR|HOSP|202612010800||ORU^R01|CTRL-9|P|2.5.1&#13;PID|1||42^^^HOSP^MR||DOE^JANE&#13;OBX|1|TX|NOTE||a \F\ b&#13;</set-body>
    <transform ref="unmarshal:hl7"/>
    <choice>
      <when header="hl7.message-type == 'ORU^R01'"><log category="routed" message="result"/></when>
      <otherwise><log category="routed" message="other"/></otherwise>
    </choice>
    <log category="hl7-json" message="${header.hl7.message-type} ${header.hl7.control-id} ${body}"/>
    <transform ref="marshal:hl7"/>
    <transform ref="unmarshal:hl7"/>
    <log category="hl7-again" message="${body}"/>
  </route>)");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const std::string json =
      R"({"segments":[["MSH","|","^~\\&","LAB","HOSP","EHR","HOSP","202612010800","",["ORU","R01"],"CTRL-9","P","2.5.1"],)"
      R"(["PID","1","",["42","","","HOSP","MR"],"",["DOE","JANE"]],["OBX","1","TX","NOTE","","a | b"]]})";
  EXPECT_NE(r.err.find("[hl7-json] ORU^R01 CTRL-9 " + json), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("[hl7-again] " + json), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("[routed] result"), std::string::npos) << r.err;
}

TEST(FormatsInTheBus, MalformedCsvGoesToTheDeadLetterWithItsPosition) {
  TempDir dir;
  const auto r = run(dir, R"(
  <route id="intake">
    <from uri="timer:bad?period=100ms&amp;count=1"/>
    <set-body media-type="text/csv">id,note&#10;1,ok&#10;2,"never closed&#10;</set-body>
    <to uri="direct:convert"/>
  </route>
  <route id="bad-csv">
    <error-handler max-attempts="3" delay="10ms" dead-letter-uri="direct:dead"/>
    <from uri="direct:convert"/>
    <transform ref="unmarshal:csv"/>
    <log category="never" message="converted"/>
  </route>
  <route id="dead">
    <from uri="direct:dead"/>
    <log category="dead" message="${header.busway.failure.kind} after ${header.busway.failure.attempts}: ${header.busway.failure.reason} | ${body}"/>
  </route>)");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find("[never]"), std::string::npos) << r.err;
  // Invalid input is not retried; the body as it arrived is kept for whoever looks at the
  // dead letter.
  EXPECT_NE(r.err.find("[dead] invalid after 1: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("the quote at line 3, column 3 is never closed"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("| id,note\n1,ok\n2,\"never closed\n"), std::string::npos) << r.err;
}

TEST(FormatsInTheBus, ValidateChecksFormatOptionsFromTheManifests) {
  TempDir dir;
  const std::string path = dir.write("routes.xml", table(R"(
  <route id="r">
    <from uri="timer:t?period=1s"/>
    <transform ref="unmarshal:cvs"/>
  </route>)"));
  const auto r = runCommand({kBusway, "validate", path}, 30s);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE((r.out + r.err).find("unmarshal:csv"), std::string::npos)
      << r.out << r.err;  // a suggestion
}

}  // namespace
