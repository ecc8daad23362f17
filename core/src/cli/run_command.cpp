#include <QCoreApplication>
#include <QTimer>
#include <csignal>
#include <cstdlib>
#include <iomanip>
#include <iostream>

#include <unistd.h>

#include "busway/runtime/bus.hpp"
#include "busway/runtime/table_reloader.hpp"
#include "busway/util/log.hpp"
#include "busway/util/text.hpp"
#include "busway/version.hpp"
#include "cli.hpp"

namespace busway::cli {
namespace {

std::atomic<int> g_stop_signal{0};
std::atomic<bool> g_reload_requested{false};

extern "C" void onSignal(int signal) {
  if (signal == SIGHUP)
    g_reload_requested = true;
  else
    g_stop_signal = signal;
}

void installSignalHandlers() {
  struct sigaction action {};
  action.sa_handler = onSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGHUP, &action, nullptr);
}

void printSummary(const std::vector<RouteStatus>& routes) {
  std::cerr << "\nroute                            received  completed  failed  dead-lettered  "
               "redelivered  in-flight\n";
  for (const auto& r : routes) {
    std::cerr << std::left << std::setw(32) << r.id << std::right << std::setw(9)
              << r.stats.received << std::setw(11) << r.stats.completed << std::setw(8)
              << r.stats.failed << std::setw(15) << r.stats.dead_lettered << std::setw(13)
              << r.stats.redeliveries << std::setw(11) << r.stats.in_flight;
    if (!r.unavailable.empty()) std::cerr << "  (unavailable: " << r.unavailable << ")";
    std::cerr << "\n";
  }
}

constexpr const char* kHelp = R"(usage: busway run [OPTIONS] TABLE...

Runs the routing table (several files act as one table) until SIGINT or SIGTERM, then
stops taking messages and lets those in flight finish (up to --drain). When a table file
or an included file changes, or on SIGHUP, the table is reloaded: the new one is checked
in full first, and if it has errors the running table stays.

  --threads N          data-plane threads (default: one per core)
  --drain DURATION     how long a stop waits for messages in flight (default 30s)
  --for DURATION       stop by itself after this long (demos, tests)
  --log-level LEVEL    trace, debug, info, warn or error (default info)
  --stats DURATION     log route counters at this interval
  --no-watch           do not reload when files change (SIGHUP still reloads)
  --node-id ID         this node's name among several on one table (default $BUSWAY_NODE_ID,
                       else HOSTNAME-PID); plugins use it, e.g. as the AMQP consumer tag
  --data-dir DIR       the durable store: durable queues, dead letters, idempotency keys
                       (default $BUSWAY_DATA_DIR, else $XDG_STATE_HOME/busway, else
                       ~/.local/state/busway); opened only when a route needs it
  --store-max-messages N   unacknowledged messages the store holds before it refuses
                       new ones (default 1000000)
  --store-max-bytes SIZE   their payload bytes (default 1GB)
)"
                              "%PLUGINS%"
                              R"(
Exit codes: 0 stopped cleanly, 1 the table did not load or messages were still in flight
at the drain deadline, 2 usage error.
)";

}  // namespace

int runCommand(Args& args) {
  if (args.flag("help")) {
    std::string help = kHelp;
    help.replace(help.find("%PLUGINS%"), 9, pluginOptionsHelp());
    std::cout << help;
    return kOk;
  }
  PluginOptions plugin_options;
  const bool plugin_options_ok = plugin_options.parse(args);
  std::string threads_text, drain_text = "30s", for_text, level_text, stats_text;
  args.option("threads", threads_text);
  args.option("drain", drain_text);
  args.option("for", for_text);
  args.option("log-level", level_text);
  args.option("stats", stats_text);
  std::string node_id;
  args.option("node-id", node_id);
  std::string data_dir_text, store_max_messages_text, store_max_bytes_text;
  args.option("data-dir", data_dir_text);
  args.option("store-max-messages", store_max_messages_text);
  args.option("store-max-bytes", store_max_bytes_text);
  const bool no_watch = args.flag("no-watch");
  const auto tables = args.positional();
  const auto usage = [](const std::string& message) {
    std::cerr << "busway run: " << message
              << "\nusage: busway run [OPTIONS] TABLE...  (busway run --help)\n";
    return kUsage;
  };
  if (!args.error().empty()) return usage(args.error());
  if (!plugin_options_ok) return usage(plugin_options.error);
  if (tables.empty()) return usage("name the routing table to run");
  unsigned threads = 0;
  if (!threads_text.empty()) {
    const auto n = parseInteger(threads_text);
    if (!n || *n < 1 || *n > 1024) return usage("--threads must be a number from 1 to 1024");
    threads = static_cast<unsigned>(*n);
  }
  const auto drain = parseDuration(drain_text);
  if (!drain) return usage("--drain takes a duration such as 30s");
  std::optional<std::chrono::milliseconds> run_for;
  if (!for_text.empty()) {
    run_for = parseDuration(for_text);
    if (!run_for) return usage("--for takes a duration such as 10s");
  }
  std::optional<std::chrono::milliseconds> stats_every;
  if (!stats_text.empty()) {
    stats_every = parseDuration(stats_text);
    if (!stats_every || stats_every->count() <= 0)
      return usage("--stats takes a duration such as 10s");
  }
  store::LogOptions store_options;
  if (!store_max_messages_text.empty()) {
    const auto n = parseInteger(store_max_messages_text);
    if (!n || *n < 1) return usage("--store-max-messages must be a positive number");
    store_options.max_messages = static_cast<std::uint64_t>(*n);
  }
  if (!store_max_bytes_text.empty()) {
    const auto n = parseSize(store_max_bytes_text);
    if (!n || *n < 1) return usage("--store-max-bytes takes a size such as 512MB");
    store_options.max_bytes = *n;
  }
  const std::filesystem::path data_dir =
      data_dir_text.empty() ? defaultDataDir() : std::filesystem::path(data_dir_text);
  if (!level_text.empty()) {
    LogLevel level;
    if (!parseLogLevel(level_text, level))
      return usage("--log-level must be trace, debug, info, warn or error");
    Log::setLevel(level);
  }

  // The node's identity, for plugins (they read BUSWAY_NODE_ID; core has no other use for it).
  if (node_id.empty()) {
    const char* env = std::getenv("BUSWAY_NODE_ID");
    if (env != nullptr) node_id = env;
  }
  if (node_id.empty()) {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
    node_id = std::string(host[0] != '\0' ? host : "busway") + "-" + std::to_string(::getpid());
  }
  ::setenv("BUSWAY_NODE_ID", node_id.c_str(), 1);

  int qt_argc = 1;
  char qt_name[] = "busway";
  char* qt_argv[] = {qt_name, nullptr};
  QCoreApplication app(qt_argc, qt_argv);
  installSignalHandlers();

  BusContext context(threads);
  context.setDataDir(data_dir, store_options);
  // Declared before the bus: the bus's routes use plugin endpoints and must go first.
  std::string plugin_error;
  auto plugins = makePluginHost(context, plugin_options, PluginHost::Mode::run, plugin_error);
  if (!plugins) {
    std::cerr << "busway run: " << plugin_error << "\n";
    return kUsage;
  }
  Bus bus(context);
  logInfo("busway", std::string("busway ") + kVersion + " starting with " +
                        std::to_string(context.threads()) + " threads as node " + node_id);
  {
    Diagnostics diagnostics;
    if (!bus.load(tables, diagnostics)) {
      diagnostics.print(std::cerr);
      std::cerr << "busway run: the routing table has " << diagnostics.errorCount()
                << " error(s); nothing was started\n";
      return kFailed;
    }
    diagnostics.print(std::cerr);  // warnings
  }
  TableReloader reloader(bus, tables);
  if (!no_watch) {
    reloader.watch();
    // A plugin dropped into a plugin folder may be what a route was waiting for.
    plugins->watch([&reloader] { reloader.reload("plugins changed"); });
  }

  // Signals only set flags; the event loop acts on them.
  QTimer signal_poll;
  QObject::connect(&signal_poll, &QTimer::timeout, [&] {
    if (g_reload_requested.exchange(false)) reloader.reload("SIGHUP");
    if (const int s = g_stop_signal.load(); s != 0) {
      logInfo("busway",
              std::string("received ") + (s == SIGINT ? "SIGINT" : "SIGTERM") + ", stopping");
      app.quit();
    }
  });
  signal_poll.start(50);
  QTimer stats;
  if (stats_every) {
    QObject::connect(&stats, &QTimer::timeout, [&] {
      for (const auto& r : bus.status()) {
        logInfo("stats", r.id + ": received=" + std::to_string(r.stats.received) +
                             " completed=" + std::to_string(r.stats.completed) +
                             " failed=" + std::to_string(r.stats.failed) +
                             " dead-lettered=" + std::to_string(r.stats.dead_lettered) +
                             " in-flight=" + std::to_string(r.stats.in_flight));
      }
    });
    stats.start(static_cast<int>(stats_every->count()));
  }
  if (run_for)
    QTimer::singleShot(static_cast<int>(run_for->count()), &app, [&] {
      logInfo("busway", "ran for " + formatDuration(*run_for) + ", stopping");
      app.quit();
    });

  app.exec();

  logInfo("busway", "draining messages in flight (up to " + formatDuration(*drain) + ")");
  const bool drained = bus.stop(*drain);
  printSummary(bus.status());
  plugins->shutdown(*drain);
  if (!drained) {
    logError(
        "busway",
        "stopped with messages still in flight; sources that acknowledge will deliver them again");
    return kFailed;
  }
  logInfo("busway", "stopped cleanly");
  return kOk;
}

}  // namespace busway::cli
