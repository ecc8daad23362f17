// `busway store verify|repair`: checks the durable store of a running or stopped bus.
#include <cstdlib>
#include <iostream>

#include "busway/store/segment_log.hpp"
#include "cli.hpp"

namespace busway::cli {

std::filesystem::path defaultDataDir() {
  if (const char* dir = std::getenv("BUSWAY_DATA_DIR"); dir != nullptr && *dir != '\0') return dir;
  if (const char* state = std::getenv("XDG_STATE_HOME"); state != nullptr && *state != '\0') {
    return std::filesystem::path(state) / "busway";
  }
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    return std::filesystem::path(home) / ".local/state/busway";
  }
  return "busway-data";
}

namespace {

constexpr const char* kStoreHelp = R"(usage: busway store verify|repair [--data-dir DIR]

  verify   reads every record of the durable queue log, checks its CRC32C checksum and
           reports damaged stretches (file, offset, bytes) and the unacknowledged
           messages; changes nothing, safe on a running bus
  repair   rewrites damaged segments with their intact records only (a torn tail is cut
           off); refused while a bus runs on DIR (start-up repairs torn tails by itself)

  --data-dir DIR   the bus's data directory (default $BUSWAY_DATA_DIR, else
                   $XDG_STATE_HOME/busway, else ~/.local/state/busway)

Exit codes: 0 the store is intact (verify) or was repaired (repair), 1 damage was found
(verify) or the repair failed, 2 usage error.
)";

}  // namespace

int storeCommand(Args& args) {
  if (args.flag("help")) {
    std::cout << kStoreHelp;
    return kOk;
  }
  std::string dir_text;
  args.option("data-dir", dir_text);
  const auto rest = args.positional();
  const auto usage = [](const std::string& message) {
    std::cerr << "busway store: " << message
              << "\nusage: busway store verify|repair [--data-dir DIR]  (busway store --help)\n";
    return kUsage;
  };
  if (!args.error().empty()) return usage(args.error());
  if (rest.size() != 1 || (rest[0] != "verify" && rest[0] != "repair"))
    return usage("say verify or repair");
  const std::filesystem::path dir =
      dir_text.empty() ? defaultDataDir() : std::filesystem::path(dir_text);
  const bool repair = rest[0] == "repair";
  auto report = store::SegmentLog::verify(dir / "queues", repair);
  if (!report) {
    std::cerr << "busway store " << rest[0] << ": " << report.error().message << "\n";
    return kFailed;
  }
  std::cout << report->describe() << "\n";
  if (repair) {
    std::cout << (report->damage.empty() ? "nothing to repair\n" : "repaired\n");
    return kOk;
  }
  return report->damage.empty() ? kOk : kFailed;
}

}  // namespace busway::cli
