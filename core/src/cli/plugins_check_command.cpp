// `busway plugins check FILE`: the conformance kit vendors run against their plugin. It
// loads the plugin the way the bus does and checks its lifecycle, its option schema, its
// producer and its consumer's acknowledgement behaviour (a message the bus refused must be
// delivered again: at-least-once).
#include <algorithm>
#include <condition_variable>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>

#include "busway/endpoint/component_registry.hpp"
#include "busway/plugin/plugin_host.hpp"
#include "busway/router/transformer.hpp"
#include "busway/runtime/bus_context.hpp"
#include "busway/util/log.hpp"
#include "busway/util/text.hpp"
#include "cli.hpp"

namespace busway::cli {
namespace {

namespace fs = std::filesystem;

class Report {
 public:
  void pass(const std::string& what) { line("PASS", what); }
  void fail(const std::string& what) {
    line("FAIL", what);
    ++failures_;
  }
  void skip(const std::string& what) { line("SKIP", what); }
  int failures() const { return failures_; }

 private:
  static void line(const char* mark, const std::string& what) { std::cout << "  " << mark << "  " << what << "\n"; }
  int failures_ = 0;
};

// Stands in for a route: records deliveries and fails the first one, which the plugin must
// then deliver again.
class ProbeRoute final : public Processor {
 public:
  bool process(const ExchangePtr& exchange, Done) override {
    std::lock_guard lock(mutex_);
    const std::string body(exchange->message.bodyText());
    bodies_.push_back(body);
    if (bodies_.size() == 1) {
      refused_ = body;
      exchange->fail(ErrorKind::transient, "refused on purpose by busway plugins check", "check");
    }
    changed_.notify_all();
    return true;
  }
  // Waits until `predicate(bodies)` holds; false on timeout.
  template <typename Predicate>
  bool waitFor(Predicate predicate, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return predicate(bodies_); });
  }
  std::size_t count() {
    std::lock_guard lock(mutex_);
    return bodies_.size();
  }
  std::string refused() {
    std::lock_guard lock(mutex_);
    return refused_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::string> bodies_;
  std::string refused_;
};

std::string uriFor(const PluginManifest::Offer& offer, const std::map<std::string, std::string>& given,
                   std::vector<std::string>& missing) {
  std::string uri = offer.name + ":check";
  char separator = '?';
  for (const auto& option : offer.options) {
    const auto it = given.find(offer.name + "." + option.name);
    if (it != given.end()) {
      uri += separator + option.name + "=" + it->second;
      separator = '&';
    } else if (option.required) {
      missing.push_back(option.name);
    }
  }
  return uri;
}

void checkProducer(BusContext& context, const std::string& uri, Report& report) {
  auto endpoint = context.components().resolve(uri);
  if (!endpoint) {
    report.fail(uri + ": create: " + endpoint.error().message);
    return;
  }
  auto producer = (*endpoint)->createProducer();
  if (!producer) {
    report.fail(uri + ": producer: " + producer.error().message);
    return;
  }
  for (const auto pattern : {ExchangePattern::in_only, ExchangePattern::in_out}) {
    const char* name = pattern == ExchangePattern::in_only ? "send (in-only)" : "send (request-reply)";
    Message message(Body::make("{\"check\":true}", "application/json"));
    auto exchange = makeExchange(std::move(message), pattern);
    std::mutex mutex;
    std::condition_variable finished;
    bool done = false;
    runToCompletion(**producer, exchange, [&] {
      std::lock_guard lock(mutex);
      done = true;
      finished.notify_all();
    });
    std::unique_lock lock(mutex);
    if (!finished.wait_for(lock, std::chrono::seconds(10), [&] { return done; })) {
      report.fail(uri + ": " + name + " never completed (within 10s): a pending send must call sending_complete");
    } else if (exchange->failed()) {
      // An error is a legal answer (no peer to talk to here) as long as it says why.
      if (exchange->error->message.empty()) report.fail(uri + ": " + name + " failed without a message");
      else report.pass(uri + ": " + name + " answered with an error that says why: " + exchange->error->message);
    } else {
      report.pass(uri + ": " + name + " completed");
    }
  }
}

void checkConsumer(BusContext& context, const std::string& uri, std::chrono::milliseconds timeout, Report& report) {
  auto endpoint = context.components().resolve(uri);
  if (!endpoint) {
    report.fail(uri + ": create: " + endpoint.error().message);
    return;
  }
  auto probe = std::make_shared<ProbeRoute>();
  auto consumer = (*endpoint)->createConsumer(probe);
  if (!consumer) {
    report.fail(uri + ": consumer: " + consumer.error().message);
    return;
  }
  if (auto started = (*consumer)->start(); !started) {
    report.fail(uri + ": start: " + started.error().message);
    return;
  }
  report.pass(uri + ": consumer started");
  if (!probe->waitFor([](const auto& b) { return !b.empty(); }, timeout)) {
    report.skip(uri + ": no message arrived within " + formatDuration(timeout) +
                " (a consumer that needs a peer cannot be checked here; see --timeout)");
    (*consumer)->stop();
    return;
  }
  report.pass(uri + ": delivered a message");
  const std::string refused = probe->refused();
  if (probe->waitFor([&](const auto& b) { return std::count(b.begin() + 1, b.end(), refused) > 0; }, timeout)) {
    report.pass(uri + ": a message the bus refused was delivered again (at-least-once)");
  } else {
    report.fail(uri + ": the message the bus refused ('" + refused.substr(0, 60) +
                "') was not delivered again: leave refused messages with the source (nack, requeue) and redeliver them");
  }
  (*consumer)->stop();
  const std::size_t after_stop = probe->count();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  if (probe->count() == after_stop) report.pass(uri + ": no delivery after stop");
  else report.fail(uri + ": delivered " + std::to_string(probe->count() - after_stop) + " message(s) after stop returned");
}

constexpr const char* kHelp = R"(usage: busway plugins check [--option SCHEME.NAME=VALUE]... [--timeout DURATION] FILE

The conformance kit: loads FILE the way the bus does and checks that
  - its manifest is valid and its ABI is one this busway loads;
  - init succeeds and every scheme, format and transformer in the manifest is implemented;
  - endpoints accept their options (give required ones with --option scheme.name=value);
  - producers complete every send, in-only and request-reply, or fail saying why;
  - consumers deliver, deliver again a message the bus refused (at-least-once), and
    deliver nothing after stop;
  - drain and destroy return.
Consumers that need a peer to produce messages are reported as SKIP when nothing arrives
within --timeout (default 5s).

Exit codes: 0 every check passed, 1 some check failed, 2 usage error.
)";

}  // namespace

int pluginsCheckCommand(Args& args) {
  if (args.flag("help")) {
    std::cout << kHelp;
    return kOk;
  }
  std::map<std::string, std::string> given;
  std::string option;
  while (args.option("option", option)) {
    const auto eq = option.find('=');
    if (eq == std::string::npos || option.find('.') > eq) {
      std::cerr << "busway plugins check: --option takes SCHEME.NAME=VALUE, not '" << option << "'\n";
      return kUsage;
    }
    given[option.substr(0, eq)] = option.substr(eq + 1);
  }
  std::string timeout_text = "5s";
  args.option("timeout", timeout_text);
  const auto timeout = parseDuration(timeout_text);
  const auto files = args.positional();
  if (!args.error().empty() || files.size() != 1 || !timeout) {
    std::cerr << "busway plugins check: "
              << (!args.error().empty() ? args.error() : !timeout ? "--timeout takes a duration such as 5s" : "name one plugin file")
              << "\n" << kHelp;
    return kUsage;
  }
  const fs::path file = fs::absolute(files[0]);
  if (!fs::is_regular_file(file)) {
    std::cerr << "busway plugins check: " << file.string() << ": no such file\n";
    return kFailed;
  }
  // Checked from a folder of its own, so nothing else installed interferes.
  char pattern[] = "/tmp/busway-check-XXXXXX";
  const fs::path folder = ::mkdtemp(pattern);
  fs::copy_file(file, folder / (file.stem().string() + ".so"));

  Log::setLevel(LogLevel::warn);
  Report report;
  std::cout << "checking " << file.string() << "\n";
  {
    BusContext context(2);
    PluginHost host(context, {folder.string()}, PluginPolicy{});
    const auto problems = host.scan();
    const auto plugins = host.plugins();
    if (plugins.empty() || !plugins[0].manifest || plugins[0].state == PluginInfo::State::refused) {
      report.fail("manifest: " + (problems.empty() ? std::string("not found") : problems.front()));
    } else {
      const PluginManifest manifest = *plugins[0].manifest;
      report.pass("manifest: " + manifest.id + " " + manifest.version + ", ABI " + std::to_string(manifest.abi_major) + "." +
                  std::to_string(manifest.abi_minor));
      auto loaded = host.load(manifest.id);
      if (!loaded) {
        report.fail("init: " + loaded.error().message);
      } else {
        report.pass("init");
        for (const auto& offer : manifest.endpoints) {
          std::vector<std::string> missing;
          const std::string uri = uriFor(offer, given, missing);
          if (!missing.empty()) {
            std::string list;
            for (const auto& m : missing) list += (list.empty() ? "" : ", ") + offer.name + "." + m + "=...";
            report.skip(offer.name + ": required options not given; run again with --option " + list);
            continue;
          }
          auto bad = context.components().resolve(offer.name + ":check?busway-check-unknown=1");
          if (bad) report.fail(offer.name + ": an unknown option was accepted");
          else report.pass(offer.name + ": an unknown option is refused: " + bad.error().message);
          if (offer.producer) checkProducer(context, uri, report);
          if (offer.consumer) checkConsumer(context, uri, *timeout, report);
        }
        for (const auto& offer : manifest.transformers) {
          auto t = context.transformers().create(offer.name, {});
          if (t) report.pass("transformer " + offer.name + ": created");
          else report.fail("transformer " + offer.name + ": " + t.error().message);
        }
        for (const auto& offer : manifest.formats) {
          for (const char* way : {"marshal:", "unmarshal:"}) {
            auto t = context.transformers().create(way + offer.name, {});
            if (t) report.pass(std::string("format ") + way + offer.name + ": created");
            else report.fail(std::string("format ") + way + offer.name + ": " + t.error().message);
          }
        }
      }
    }
    host.shutdown(std::chrono::seconds(5));
    report.pass("drain and destroy returned");
  }
  fs::remove_all(folder);
  std::cout << (report.failures() == 0 ? "conformance: all checks passed\n"
                                       : "conformance: " + std::to_string(report.failures()) + " check(s) failed\n");
  return report.failures() == 0 ? kOk : kFailed;
}

}  // namespace busway::cli
