// `busway test`: route tests as data, run as an admin runs them.
#include <gtest/gtest.h>

#include "child_process.hpp"

namespace busway::testing {
namespace {

const std::string kBusway = BUSWAY_EXE;
const std::string kSource = BUSWAY_SOURCE_DIR;

TEST(CliTest, TheDocsExamplesPassTheirOwnTests) {
  const auto r = runCommand({kBusway, "test", kSource + "/docs/examples/patterns/tests"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("PASS  choice routes orders by country"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("PASS  transient failures are redelivered"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" passed, 0 failed"), std::string::npos) << r.out;
}

TEST(CliTest, ABrokenExpectationFailsWithAReadableDiff) {
  const std::string dir = kSource + "/tests/data/route-tests/broken";
  const auto r = runCommand({kBusway, "test", dir});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  // Where, what was expected and what came, for the header and for the JSON field.
  EXPECT_NE(
      r.out.find(
          dir +
          "/enrich-wrong-customer.test.xml:8:5: message 0 at 'queue:orders-enriched' differs"),
      std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("header 'price': expected '41.00', got '42.00'"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("$.customer.name: expected \"Initech\", got \"ACME\""), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("'queue:orders-enriched-twice' is not an endpoint of the table"),
            std::string::npos)
      << r.out;
  // A text reply: a line diff, expected first.
  EXPECT_NE(r.out.find("--- expected\n      +++ actual\n      - a;b;c\n      + a,b,c\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("0 passed, 2 failed"), std::string::npos) << r.out;
}

TEST(CliTest, AnInvalidTestFileIsReportedWithPositions) {
  const std::string file = kSource + "/tests/data/route-tests/invalid/bad.test.xml";
  const auto r = runCommand({kBusway, "test", file});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find(file + ":3:3: error: routing table 'no-such-table.xml' not found"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find(file + ":4:3: error: pattern must be in-only or in-out, not 'sideways'"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find(file + ":5:3: error: unknown element <expct>"), std::string::npos) << r.out;
}

TEST(CliTest, UsageErrorsExitTwo) {
  EXPECT_EQ(runCommand({kBusway, "test"}).exit_code, 2);
  EXPECT_EQ(runCommand({kBusway, "test", "--frobnicate", "x"}).exit_code, 2);
  const auto help = runCommand({kBusway, "test", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("usage: busway test"), std::string::npos);
  // A folder without tests is a failure, not a silent pass.
  const auto empty = runCommand({kBusway, "test", kSource + "/schemas"});
  EXPECT_EQ(empty.exit_code, 1);
  EXPECT_NE(empty.err.find("no *.test.xml files"), std::string::npos) << empty.err;
}

}  // namespace
}  // namespace busway::testing
