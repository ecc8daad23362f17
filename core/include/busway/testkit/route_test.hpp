#pragma once

// Route tests as data: `busway test DIR` runs every *.test.xml file under DIR. A test names
// a routing table, replaces the table's outside endpoints with stubs, sends input messages
// into its sources and compares what reaches each stub (and the replies) with expected
// files. Admins and vendors test their own routes with it; the project's own route tests
// use the same runner. The format is documented in docs/route-tests.md.

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "busway/config/diagnostics.hpp"

namespace busway::testkit {

// How an actual body is compared with an expected one.
enum class Compare { text, json, xml };

// An expected or input message: a body (inline text or a file) plus headers.
struct MessageSpec {
  SourceLocation where;
  std::string body;
  std::string media_type;
  std::string source;  // the file the body came from, "" when inline
  std::vector<std::pair<std::string, std::string>> headers;
  Compare compare = Compare::text;
  bool has_body = false;  // an expectation without a body checks headers only
};

// How a stubbed endpoint behaves when a route sends to it.
struct StubSpec {
  SourceLocation where;
  std::string endpoint;  // an endpoint id, or a URI "scheme:path"
  int fail_first = 0;    // the first N sends fail
  std::string fail_kind = "transient";
  std::optional<MessageSpec> reply;  // request-reply sends get this as the reply
};

struct SendSpec {
  SourceLocation where;
  std::string endpoint;  // where the message enters: a route's source (id or URI)
  MessageSpec message;
  bool in_out = false;
  bool expect_failure = false;
  std::optional<MessageSpec> expected_reply;
};

struct ExpectSpec {
  SourceLocation where;
  std::string endpoint;
  std::size_t count = 0;
  // Expected messages by position (index into what arrived); headers are checked as given.
  std::vector<std::pair<std::size_t, MessageSpec>> messages;
  bool any_order = false;  // compare as a multiset (parallel routes, split in parallel)
};

struct RouteTest {
  std::string file;
  std::string name;
  std::vector<std::string> tables;  // absolute paths
  std::vector<std::pair<std::string, std::string>> env;
  std::vector<StubSpec> stubs;
  std::vector<SendSpec> sends;
  std::vector<ExpectSpec> expects;
  std::chrono::milliseconds timeout{5000};
};

// Reads one test file. Problems (bad XML, unknown elements, missing files) go to
// `diagnostics` with their positions.
RouteTest loadRouteTest(const std::string& path, Diagnostics& diagnostics);

// Every *.test.xml under `path` (or `path` itself when it is a file), sorted.
std::vector<std::string> findRouteTests(const std::string& path);

struct RouteTestResult {
  std::string name;
  std::string file;
  bool passed = false;
  std::vector<std::string> failures;  // for people: where, what was expected, what came (a diff)
  std::chrono::milliseconds duration{0};
};

struct RunOptions {
  std::vector<std::string> plugin_search_path;  // for data formats and transformers
  std::vector<std::string> plugin_settings;     // --plugin-option PLUGIN.OPTION=VALUE
  std::string bundled_plugin_dir;
  bool verbose = false;
};

// Runs one test on a bus of its own; never throws.
RouteTestResult runRouteTest(const RouteTest& test, const RunOptions& options);

// A readable difference between `expected` and `actual`, empty when they are equal under
// `mode` (json: same values whatever the key order and spacing; xml: same elements,
// attributes and text whatever the indentation; text: byte for byte, line diff).
std::string difference(const std::string& expected, const std::string& actual, Compare mode);

}  // namespace busway::testkit
