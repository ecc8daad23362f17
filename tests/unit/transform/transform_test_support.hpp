#pragma once

// Helpers shared by the tests of the transformation steps (core/src/transform/).

#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "child_process.hpp"
#include "route_harness.hpp"

namespace busway::testing {

// A route direct:in -> STEPS -> mock:out, with an error handler that dead-letters to
// mock:dlq after `attempts` attempts.
inline std::string routeWith(const std::string& steps, int attempts = 1) {
  return RouteHarness::table("<error-handler id=\"eh\" max-attempts=\"" + std::to_string(attempts) +
                             "\" delay=\"10ms\" dead-letter-uri=\"mock:dlq\"/>"
                             "<route id=\"r\" error-handler=\"eh\"><from uri=\"direct:in\"/>" +
                             steps + "<to uri=\"mock:out\"/></route>");
}

// Writes `text` to `name` inside `dir`, creating folders on the way; returns the path.
inline std::string put(const TempDir& dir, const std::string& name, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(dir.file(name)).parent_path());
  return dir.write(name, text);
}

// The error text of the one diagnostic, with its position, or "" when none.
inline std::string firstError(const Diagnostics& diagnostics) {
  for (const auto& d : diagnostics.all()) {
    if (d.severity == Diagnostic::Severity::error) return d.toString();
  }
  return "";
}

}  // namespace busway::testing
