// The `busway` command line, run as a user would run it.
#include <csignal>
#include <filesystem>

#include <gtest/gtest.h>

#include "child_process.hpp"

namespace busway::testing {
namespace {

using namespace std::chrono_literals;

const std::string kBusway = BUSWAY_EXE;
const std::string kData = std::string(BUSWAY_SOURCE_DIR) + "/tests/data";

int count(const std::string& haystack, const std::string& needle) {
  int n = 0;
  for (auto pos = haystack.find(needle); pos != std::string::npos;
       pos = haystack.find(needle, pos + 1))
    ++n;
  return n;
}

TEST(CliValidate, ValidTableExitsZero) {
  const auto r =
      runCommand({kBusway, "validate", kData + "/valid/timer-choice-split-aggregate.xml"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("valid (1 route"), std::string::npos) << r.out;
  EXPECT_EQ(r.err, "");
}

TEST(CliValidate, FiveMistakesArePrintedWithPositionsAndExitOne) {
  const std::string file = kData + "/invalid/five-mistakes.xml";
  const auto r = runCommand({kBusway, "validate", file});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find(file + ":5:5: error: unknown element <filtre>"), std::string::npos) << r.err;
  EXPECT_NE(
      r.err.find(file + ":6:14: error: unknown endpoint 'invntory' (did you mean 'inventory'?)"),
      std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find(file + ":7:27: error: invalid xpath expression"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find(file + ":8:50: error: invalid jsonpath expression"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find(file + ":13:5: error: malformed XML"), std::string::npos) << r.err;
  EXPECT_EQ(count(r.err, ": error: "), 5) << r.err;
  EXPECT_NE(r.out.find("invalid, 5 errors"), std::string::npos) << r.out;
}

TEST(CliValidate, UsageErrorsExitTwo) {
  EXPECT_EQ(runCommand({kBusway, "validate"}).exit_code, 2);
  EXPECT_EQ(runCommand({kBusway, "validate", "--frobnicate", "x.xml"}).exit_code, 2);
  EXPECT_EQ(runCommand({kBusway, "frobnicate"}).exit_code, 2);
  const auto help = runCommand({kBusway, "validate", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("usage: busway validate"), std::string::npos);
}

TEST(CliGraph, DrawsDotAndMermaid) {
  const std::string table = kData + "/valid/timer-choice-split-aggregate.xml";
  const auto dot = runCommand({kBusway, "graph", table});
  EXPECT_EQ(dot.exit_code, 0) << dot.err;
  EXPECT_EQ(dot.out.rfind("digraph busway {", 0), 0u) << dot.out;
  EXPECT_NE(dot.out.find("timer:batches"), std::string::npos);
  EXPECT_NE(dot.out.find("aggregate"), std::string::npos);
  const auto mermaid = runCommand({kBusway, "graph", "--mermaid", table});
  EXPECT_EQ(mermaid.exit_code, 0);
  EXPECT_EQ(mermaid.out.rfind("flowchart LR", 0), 0u) << mermaid.out;
  EXPECT_EQ(runCommand({kBusway, "graph", kData + "/invalid/five-mistakes.xml"}).exit_code, 1);
}

TEST(CliRun, TimerChoiceSplitAggregateLogProducesTheExpectedMessages) {
  const auto r = runCommand(
      {kBusway, "run", "--for", "2s", kData + "/valid/timer-choice-split-aggregate.xml"}, 30s);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(count(r.err, "[item] "), 12) << r.err;
  EXPECT_NE(r.err.find("[result] odd: [\"a1\",\"b1\",\"c1\",\"a3\",\"b3\",\"c3\"]"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("[result] even: [\"a2\",\"b2\",\"c2\",\"a4\",\"b4\",\"c4\"]"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(count(r.err, "[result] "), 2) << r.err;
  EXPECT_NE(r.err.find("stopped cleanly"), std::string::npos) << r.err;
}

TEST(CliRun, InvalidTableDoesNotStart) {
  const auto r = runCommand({kBusway, "run", kData + "/invalid/five-mistakes.xml"}, 30s);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("nothing was started"), std::string::npos) << r.err;
}

std::string tickTable(const std::string& version) {
  return R"(<routes xmlns="urn:busway:routes:1"><route id="tick"><from uri="timer:t?period=50ms"/>)"
         R"(<log category="tick" message=")" +
         version + R"( tick ${header.timer.count}"/></route></routes>)";
}

TEST(CliRun, ReloadsOnFileChangeAndKeepsTheOldTableWhenTheNewOneIsInvalid) {
  TempDir dir;
  const std::string table = dir.write("routes.xml", tickTable("v1"));
  ChildProcess bus;
  ASSERT_TRUE(bus.start({kBusway, "run", table}, dir.path()));
  ASSERT_TRUE(bus.waitForOutput("v1 tick 3", 10s)) << bus.err();

  // A broken table: refused with its position, the running one keeps ticking.
  dir.write("routes.xml",
            "<routes xmlns=\"urn:busway:routes:1\">\n  <route id=\"tick\"><from "
            "uri=\"timer:t?period=fast\"/></route>\n</routes>");
  ASSERT_TRUE(bus.waitForOutput("the running table (generation 1) stays", 10s)) << bus.err();
  EXPECT_NE(bus.err().find("routes.xml:2:"), std::string::npos) << bus.err();
  const auto ticks_before = count(bus.err(), "v1 tick");
  ASSERT_TRUE(bus.waitForOutput("v1 tick " + std::to_string(ticks_before + 3), 10s)) << bus.err();

  // A good table replaces it.
  dir.write("routes.xml", tickTable("v2"));
  ASSERT_TRUE(bus.waitForOutput("generation 2 running", 10s)) << bus.err();
  ASSERT_TRUE(bus.waitForOutput("v2 tick 2", 10s)) << bus.err();

  // SIGHUP reloads too.
  bus.signal(SIGHUP);
  ASSERT_TRUE(bus.waitForOutput("reloading the routing table (SIGHUP)", 10s)) << bus.err();
  ASSERT_TRUE(bus.waitForOutput("generation 3 running", 10s)) << bus.err();

  EXPECT_EQ(bus.stop(), 0) << bus.err();
  EXPECT_NE(bus.err().find("received SIGTERM, stopping"), std::string::npos) << bus.err();
  EXPECT_NE(bus.err().find("stopped cleanly"), std::string::npos) << bus.err();
}

}  // namespace
}  // namespace busway::testing

namespace busway::testing {
namespace {

const std::string kEchoPlugin =
    std::string(BUSWAY_BINARY_DIR) + "/tests/test-plugins/echo_plugin/echo_plugin.so";

TEST(CliPlugins, ValidateChecksPluginUriOptionsAgainstTheManifestWithoutLoading) {
  TempDir dir;
  const std::string plugins = dir.file("plugins");
  std::filesystem::create_directories(plugins);
  std::filesystem::copy_file(kEchoPlugin, plugins + "/echo_plugin.so");
  const std::string table =
      dir.write("routes.xml",
                "<routes xmlns=\"urn:busway:routes:1\">\n"
                "  <route id=\"r\"><from uri=\"direct:a\"/><to uri=\"echo:x?prefx=1\"/></route>\n"
                "</routes>");
  const auto r = runCommand({kBusway, "validate", "--plugin-path", plugins, table});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(
      r.err.find(
          "routes.xml:2:48: error: unknown option 'prefx' for echo: (did you mean 'prefix'?)"),
      std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("echo plugin ready"), std::string::npos)
      << "validate must not load (init) the plugin";
}

TEST(CliPlugins, APluginDroppedIntoThePluginFolderIsPickedUpWithoutARestart) {
  TempDir dir;
  const std::string plugins = dir.file("plugins");
  std::filesystem::create_directories(plugins);
  const std::string table = dir.write("routes.xml", tickTable("v1"));
  ChildProcess bus;
  ASSERT_TRUE(bus.start({kBusway, "run", "--plugin-path", plugins, table}, dir.path()));
  ASSERT_TRUE(bus.waitForOutput("v1 tick 2", 10s)) << bus.err();

  // A table that needs the echo: scheme is refused while no plugin offers it...
  dir.write(
      "routes.xml",
      R"(<routes xmlns="urn:busway:routes:1"><route id="ask">)"
      R"(<from uri="timer:ask?period=100ms"/><set-body>ping</set-body>)"
      R"(<to uri="echo:x?prefix=pong%20to%20" pattern="in-out"/><log category="answer" message="${body}"/>)"
      R"(</route></routes>)");
  ASSERT_TRUE(bus.waitForOutput("no component for scheme 'echo'", 10s)) << bus.err();
  // ...and runs once the plugin is dropped into the folder.
  std::filesystem::copy_file(kEchoPlugin, plugins + "/.echo.tmp");
  std::filesystem::rename(plugins + "/.echo.tmp", plugins + "/echo_plugin.so");
  ASSERT_TRUE(bus.waitForOutput("[answer] pong to ping", 15s)) << bus.err();
  EXPECT_NE(bus.err().find("reloading the routing table (plugins changed)"), std::string::npos)
      << bus.err();
  EXPECT_EQ(bus.stop(), 0) << bus.err();
}

}  // namespace
}  // namespace busway::testing
