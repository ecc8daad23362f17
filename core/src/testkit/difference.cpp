// Readable differences between an expected and an actual body (busway test).
#include <algorithm>
#include <sstream>
#include <vector>

#include <nlohmann/json.hpp>
#include <pugixml.hpp>

#include "busway/testkit/route_test.hpp"

namespace busway::testkit {
namespace {

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    out.push_back(std::move(line));
  }
  return out;
}

// A line diff ("- expected", "+ actual", "  same") by longest common subsequence, with
// unchanged runs folded to keep the output short.
std::string lineDiff(const std::string& expected, const std::string& actual) {
  const auto a = lines(expected), b = lines(actual);
  constexpr std::size_t kMaxCells = 4'000'000;
  if (a.size() * b.size() > kMaxCells) {
    const std::size_t n = std::min(a.size(), b.size());
    std::size_t i = 0;
    while (i < n && a[i] == b[i]) ++i;
    return "first difference at line " + std::to_string(i + 1) + ":\n- " +
           (i < a.size() ? a[i] : "(end)") + "\n+ " + (i < b.size() ? b[i] : "(end)") + "\n";
  }
  std::vector<std::vector<std::uint32_t>> lcs(a.size() + 1,
                                              std::vector<std::uint32_t>(b.size() + 1, 0));
  for (std::size_t i = a.size(); i-- > 0;)
    for (std::size_t j = b.size(); j-- > 0;)
      lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : std::max(lcs[i + 1][j], lcs[i][j + 1]);
  std::vector<std::string> out;
  std::size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    if (i < a.size() && j < b.size() && a[i] == b[j]) {
      out.push_back("  " + a[i]);
      ++i, ++j;
    } else if (j < b.size() && (i == a.size() || lcs[i][j + 1] > lcs[i + 1][j])) {
      out.push_back("+ " + b[j++]);
    } else {
      out.push_back("- " + a[i++]);
    }
  }
  // Keep two lines of context around changes.
  std::string text = "--- expected\n+++ actual\n";
  std::vector<bool> keep(out.size(), false);
  for (std::size_t k = 0; k < out.size(); ++k) {
    if (out[k][0] == ' ') continue;
    for (std::size_t c = (k >= 2 ? k - 2 : 0); c <= std::min(out.size() - 1, k + 2); ++c)
      keep[c] = true;
  }
  bool skipped = false;
  for (std::size_t k = 0; k < out.size(); ++k) {
    if (!keep[k]) {
      if (!skipped) text += "...\n";
      skipped = true;
      continue;
    }
    skipped = false;
    text += out[k] + "\n";
  }
  return text;
}

std::string shortJson(const nlohmann::json& value) {
  std::string text = value.dump();
  if (text.size() > 80) text = text.substr(0, 77) + "...";
  return text;
}

void jsonDiff(const nlohmann::json& expected, const nlohmann::json& actual, const std::string& path,
              std::vector<std::string>& out) {
  if (out.size() >= 20) return;
  if (expected.type() != actual.type() && !(expected.is_number() && actual.is_number())) {
    out.push_back(path + ": expected " + shortJson(expected) + ", got " + shortJson(actual));
    return;
  }
  if (expected.is_object()) {
    for (const auto& [key, value] : expected.items()) {
      if (!actual.contains(key))
        out.push_back(path + "." + key + ": missing (expected " + shortJson(value) + ")");
      else
        jsonDiff(value, actual.at(key), path + "." + key, out);
    }
    for (const auto& [key, value] : actual.items())
      if (!expected.contains(key))
        out.push_back(path + "." + key + ": not expected (got " + shortJson(value) + ")");
  } else if (expected.is_array()) {
    if (expected.size() != actual.size())
      out.push_back(path + ": expected " + std::to_string(expected.size()) + " elements, got " +
                    std::to_string(actual.size()));
    for (std::size_t i = 0; i < std::min(expected.size(), actual.size()); ++i)
      jsonDiff(expected[i], actual[i], path + "[" + std::to_string(i) + "]", out);
  } else if (expected.is_number() && actual.is_number()) {
    if (expected.get<double>() != actual.get<double>())
      out.push_back(path + ": expected " + shortJson(expected) + ", got " + shortJson(actual));
  } else if (expected != actual) {
    out.push_back(path + ": expected " + shortJson(expected) + ", got " + shortJson(actual));
  }
}

std::string canonicalXml(const std::string& text, std::string& error) {
  pugi::xml_document document;
  const auto parsed = document.load_buffer(text.data(), text.size(),
                                           pugi::parse_default & ~pugi::parse_declaration);
  if (!parsed) {
    error = std::string(parsed.description()) + " at byte " + std::to_string(parsed.offset);
    return {};
  }
  std::ostringstream out;
  document.save(out, "  ", pugi::format_indent | pugi::format_no_declaration);
  return out.str();
}

}  // namespace

std::string difference(const std::string& expected, const std::string& actual, Compare mode) {
  switch (mode) {
    case Compare::json: {
      const auto e = nlohmann::json::parse(expected, nullptr, false);
      if (e.is_discarded())
        return "the expected body is not valid JSON (fix the expected file, or compare=\"text\")\n";
      const auto a = nlohmann::json::parse(actual, nullptr, false);
      if (a.is_discarded()) return "the actual body is not JSON:\n" + lineDiff(expected, actual);
      std::vector<std::string> out;
      jsonDiff(e, a, "$", out);
      std::string text;
      for (const auto& line : out) text += line + "\n";
      return text;
    }
    case Compare::xml: {
      std::string error;
      const std::string e = canonicalXml(expected, error);
      if (!error.empty()) return "the expected body is not well-formed XML (" + error + ")\n";
      const std::string a = canonicalXml(actual, error);
      if (!error.empty())
        return "the actual body is not well-formed XML (" + error + "):\n" +
               lineDiff(expected, actual);
      return e == a ? std::string() : lineDiff(e, a);
    }
    case Compare::text: break;
  }
  return expected == actual ? std::string() : lineDiff(expected, actual);
}

}  // namespace busway::testkit
