// The file plugin's host-free parts: name templates, globs, media types, name checks.
#include "file_support.hpp"

#include <chrono>
#include <map>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>

namespace busway::file {
namespace {

NameTemplate::Values values(std::map<std::string, std::string> headers) {
  NameTemplate::Values v;
  v.header = [headers](std::string_view name) -> std::optional<std::string> {
    const auto it = headers.find(std::string(name));
    if (it == headers.end()) return std::nullopt;
    return it->second;
  };
  v.id = "msg-1";
  v.correlation_id = "corr-9";
  // 2026-03-04T05:06:07.089Z
  v.now = std::chrono::system_clock::time_point(std::chrono::milliseconds(1772600767089LL));
  return v;
}

TEST(FileNameTemplate, SubstitutesHeadersIdCorrelationAndDate) {
  const NameTemplate name(
      "${date:yyyyMMdd-HHmmss.SSS}/${header.order-id}-${id}-${correlation-id}.csv");
  EXPECT_EQ(name.render(values({{"order-id", "A17"}})), "20260304-050607.089/A17-msg-1-corr-9.csv");
}

TEST(FileNameTemplate, LiteralDollarBraceAndPlainText) {
  EXPECT_EQ(NameTemplate("a$${b}.txt").render(values({})), "a${b}.txt");
  EXPECT_EQ(NameTemplate("plain.txt").render(values({})), "plain.txt");
  EXPECT_EQ(NameTemplate("${date:yy}").render(values({})), "26");
}

TEST(FileNameTemplate, UnknownOperandAndUnclosedBraceAreRefusedAtParse) {
  EXPECT_THROW(NameTemplate("${body}.txt"), std::invalid_argument);
  EXPECT_THROW(NameTemplate("${header.x"), std::invalid_argument);
  EXPECT_THROW(NameTemplate("${header.}"), std::invalid_argument);
  try {
    NameTemplate("x-${bodyy}");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("${bodyy}"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("position 3"), std::string::npos) << e.what();
  }
}

TEST(FileNameTemplate, MissingHeaderFailsTheRender) {
  EXPECT_THROW(NameTemplate("${header.missing}.csv").render(values({})), std::invalid_argument);
}

TEST(FileGlobList, MatchesNameOrRelativePath) {
  const GlobList globs("*.csv, sub/*.txt");
  EXPECT_TRUE(globs.matches("a.csv", "deep/a.csv"));
  EXPECT_TRUE(globs.matches("b.txt", "sub/b.txt"));
  EXPECT_FALSE(globs.matches("b.txt", "other/b.txt"));
  EXPECT_FALSE(globs.matches("a.json", "a.json"));
  EXPECT_TRUE(GlobList("").empty());
}

TEST(FileMediaType, FromTheExtension) {
  EXPECT_EQ(mediaTypeFor("a.JSON"), "application/json");
  EXPECT_EQ(mediaTypeFor("a.xml"), "application/xml");
  EXPECT_EQ(mediaTypeFor("a.csv"), "text/csv");
  EXPECT_EQ(mediaTypeFor("a.hl7"), "x-application/hl7-v2+er7");
  EXPECT_EQ(mediaTypeFor("a"), "application/octet-stream");
  EXPECT_EQ(lineMediaTypeFor("a.ndjson"), "application/json");
  EXPECT_EQ(lineMediaTypeFor("a.log"), "text/plain");
}

TEST(FileNames, RefusesEscapesAndAbsoluteNames) {
  EXPECT_FALSE(refuseName("a/b.csv"));
  EXPECT_TRUE(refuseName("../x"));
  EXPECT_TRUE(refuseName("a/../../x"));
  EXPECT_TRUE(refuseName("/etc/passwd"));
  EXPECT_TRUE(refuseName(""));
  EXPECT_TRUE(refuseName("a/"));
}

TEST(FileSeparator, Escapes) {
  EXPECT_EQ(unescape("\\r\\n"), "\r\n");
  EXPECT_EQ(unescape("\\t|\\\\"), "\t|\\");
  EXPECT_EQ(unescape(";"), ";");
}

}  // namespace
}  // namespace busway::file
