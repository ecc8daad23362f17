// busway: the command-line tool. Each command lives in its own file; this one dispatches.
#include <iostream>
#include <string>
#include <vector>

#include "busway/version.hpp"
#include "cli.hpp"

namespace {

constexpr const char* kUsageText = R"(busway - an enterprise service bus

usage: busway COMMAND [OPTIONS] [ARGS]

commands:
  run TABLE...        run the routing table(s) until SIGINT/SIGTERM; reload on change or SIGHUP
  validate TABLE...   check routing tables; print every error as FILE:LINE:COL
  graph TABLE...      draw the routes (Graphviz DOT, or Mermaid with --mermaid)
  test PATH...        run route tests written as data (*.test.xml); exit 0 when all pass
  plugins SUBCOMMAND  list, inspect, new, check, keygen, sign, verify (busway plugins --help)
  store verify|repair check or repair the durable store (busway store --help)
  dlq SUBCOMMAND      list, show, replay, purge dead letters (busway dlq --help)
  version             print the version

Run 'busway COMMAND --help' for the options of a command.
Exit codes: 0 success, 1 the command found a problem, 2 usage error.
)";

int versionCommand(busway::cli::Args& args) {
  if (args.flag("help")) {
    std::cout << "usage: busway version\n\nPrints the busway version and the routing-table "
                 "namespace it reads.\n";
    return busway::cli::kOk;
  }
  if (const auto rest = args.positional(); !rest.empty() || !args.error().empty()) {
    std::cerr << "busway version: takes no arguments\n";
    return busway::cli::kUsage;
  }
  std::cout << "busway " << busway::kVersion << "\nrouting tables: " << busway::kRoutesNamespace
            << "\n";
  return busway::cli::kOk;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::cout << kUsageText;
    return args.empty() ? busway::cli::kUsage : busway::cli::kOk;
  }
  if (args[0] == "--version") args[0] = "version";
  const std::string command = args[0];
  busway::cli::Args rest(command, std::vector<std::string>(args.begin() + 1, args.end()));
  if (command == "run") return busway::cli::runCommand(rest);
  if (command == "validate") return busway::cli::validateCommand(rest);
  if (command == "graph") return busway::cli::graphCommand(rest);
  if (command == "test") return busway::cli::testCommand(rest);
  if (command == "plugins") return busway::cli::pluginsCommand(rest);
  if (command == "store") return busway::cli::storeCommand(rest);
  if (command == "dlq") return busway::cli::dlqCommand(rest);
  if (command == "version") return versionCommand(rest);
  std::cerr << "busway: unknown command '" << command << "'\n\n" << kUsageText;
  return busway::cli::kUsage;
}
