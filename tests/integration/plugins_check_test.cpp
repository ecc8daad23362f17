// `busway plugins check` options: what the kit cannot check is a SKIP line saying what to
// give (exit 0), a given --uri/--option makes it check for real, and a bad --skip is a usage
// error. Runs the real binary on bundled plugins (built by the busway_plugins target).
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "child_process.hpp"

namespace busway::testing {
namespace {

const std::string kPlugins = std::string(BUSWAY_BINARY_DIR) + "/lib/busway/plugins/";

TEST(PluginsCheckOptions, ARequiredFormatOptionThatIsNotGivenIsASkipNotAFailure) {
  const auto r = runCommand({BUSWAY_EXE, "plugins", "check", kPlugins + "format-fixed-width.so"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(
      r.out.find(
          "SKIP  format fixed-width: not checked: required option(s) not given; give --option "
          "fixed-width.layout=..."),
      std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("1 not checked, 0 failed"), std::string::npos) << r.out;
}

TEST(PluginsCheckOptions, AGivenFormatOptionIsUsed) {
  const auto r = runCommand({BUSWAY_EXE, "plugins", "check", "--option",
                             "fixed-width.layout=" + std::string(BUSWAY_SOURCE_DIR) +
                                 "/tests/data/formats/payments-layout.xml",
                             kPlugins + "format-fixed-width.so"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("PASS  format marshal:fixed-width: created"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("PASS  format unmarshal:fixed-width: created"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("0 not checked, 0 failed"), std::string::npos) << r.out;
}

TEST(PluginsCheckOptions, ABadFormatOptionFails) {
  const auto r = runCommand({BUSWAY_EXE, "plugins", "check", "--option",
                             "fixed-width.layout=/nonexistent/layout.xml",
                             kPlugins + "format-fixed-width.so"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("FAIL  format marshal:fixed-width:"), std::string::npos) << r.out;
}

TEST(PluginsCheckOptions, AGeneratedUriTheSchemeRefusesIsASkipAndAGivenUriIsChecked) {
  const auto refused =
      runCommand({BUSWAY_EXE, "plugins", "check", "--timeout", "1s", kPlugins + "file.so"});
  EXPECT_EQ(refused.exit_code, 0) << refused.out << refused.err;
  EXPECT_NE(refused.out.find("SKIP  file: not checked: the generated URI file:check is refused"),
            std::string::npos)
      << refused.out;
  EXPECT_NE(refused.out.find("give a real one with --uri file:..."), std::string::npos)
      << refused.out;

  TempDir dir;
  const auto given = runCommand({BUSWAY_EXE, "plugins", "check", "--timeout", "1s", "--uri",
                                 "file:" + dir.path() + "?file-name=out/${id}", "--skip",
                                 "consumer", kPlugins + "file.so"});
  EXPECT_EQ(given.exit_code, 0) << given.out << given.err;
  EXPECT_NE(given.out.find("PASS  file: an unknown option is refused"), std::string::npos)
      << given.out;
  EXPECT_NE(given.out.find("send (in-only) completed"), std::string::npos) << given.out;
  EXPECT_NE(given.out.find("consumer: not checked (--skip)"), std::string::npos) << given.out;
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path() + "/out"),
                          std::filesystem::directory_iterator{}),
            2)
      << "the producer checks write one file each";
}

TEST(PluginsCheckOptions, AnUnknownSkipIsAUsageError) {
  const auto r =
      runCommand({BUSWAY_EXE, "plugins", "check", "--skip", "everything", kPlugins + "file.so"});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("--skip takes unknown-option, producer, consumer"), std::string::npos)
      << r.err;
}

}  // namespace
}  // namespace busway::testing
