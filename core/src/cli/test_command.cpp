// `busway test DIR...`: runs route tests written as data (docs/route-tests.md).
#include <iostream>

#include "busway/testkit/route_test.hpp"
#include "busway/util/log.hpp"
#include "busway/util/text.hpp"
#include "cli.hpp"

namespace busway::cli {
namespace {

constexpr const char* kHelp = R"(usage: busway test [OPTIONS] PATH...

Runs route tests: every *.test.xml file under each PATH (or PATH itself). A test names a
routing table, replaces its outside endpoints (everything but direct:, queue: and log:) by
stubs, sends input messages into its sources and compares what reaches each stub, and the
replies, with expected files. The format is in docs/route-tests.md.

  --filter TEXT        run only the tests whose name or file contains TEXT
  --verbose            show the bus's log while the tests run (default: warnings only)
)"
                              "%PLUGINS%"
                              R"(
Prints PASS or FAIL per test, with FILE:LINE:COL and a diff for every failed expectation,
then 'N passed, N failed'. Exit codes: 0 every test passed, 1 a test failed or a test file
is invalid, 2 usage error.
)";

}  // namespace

int testCommand(Args& args) {
  if (args.flag("help")) {
    std::string help = kHelp;
    help.replace(help.find("%PLUGINS%"), 9, pluginOptionsHelp());
    std::cout << help;
    return kOk;
  }
  PluginOptions plugin_options;
  const bool plugin_options_ok = plugin_options.parse(args);
  std::string filter;
  args.option("filter", filter);
  const bool verbose = args.flag("verbose");
  const auto paths = args.positional();
  const auto usage = [](const std::string& message) {
    std::cerr << "busway test: " << message
              << "\nusage: busway test [OPTIONS] PATH...  (busway test --help)\n";
    return kUsage;
  };
  if (!args.error().empty()) return usage(args.error());
  if (!plugin_options_ok) return usage(plugin_options.error);
  if (paths.empty()) return usage("name a folder of tests (*.test.xml) or a test file");
  if (!verbose) Log::setLevel(LogLevel::error);

  std::vector<std::string> files;
  for (const auto& path : paths) {
    const auto found = testkit::findRouteTests(path);
    if (found.empty()) {
      std::cerr << "busway test: no *.test.xml files in '" << path << "'\n";
      return kFailed;
    }
    for (const auto& file : found)
      if (filter.empty() || file.find(filter) != std::string::npos) files.push_back(file);
  }

  testkit::RunOptions options;
  options.plugin_search_path = plugin_options.search_path;
  options.plugin_settings = plugin_options.settings;
  options.bundled_plugin_dir = bundledPluginDir();
  options.verbose = verbose;
  int passed = 0, failed = 0;
  for (const auto& file : files) {
    Diagnostics diagnostics;
    const auto test = testkit::loadRouteTest(file, diagnostics);
    if (!filter.empty() && test.name.find(filter) == std::string::npos &&
        file.find(filter) == std::string::npos)
      continue;
    if (diagnostics.hasErrors()) {
      ++failed;
      std::cout << "FAIL  " << file << " (the test file is invalid)\n";
      diagnostics.print(std::cout);
      continue;
    }
    const auto result = testkit::runRouteTest(test, options);
    std::cout << (result.passed ? "PASS  " : "FAIL  ") << result.name << " ("
              << formatDuration(result.duration) << ")\n";
    for (const auto& failure : result.failures) {
      // Every line of a failure (a diff has many) indented under its test.
      std::string indented = "      ";
      for (const char c : failure)
        indented += c == '\n' ? std::string("\n      ") : std::string(1, c);
      while (indented.ends_with(' ')) indented.pop_back();
      if (!indented.ends_with('\n')) indented += '\n';
      std::cout << indented;
    }
    std::cout.flush();
    (result.passed ? passed : failed)++;
  }
  std::cout << passed << " passed, " << failed << " failed\n";
  return failed == 0 ? kOk : kFailed;
}

}  // namespace busway::cli
