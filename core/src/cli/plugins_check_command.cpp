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
#include <optional>
#include <set>
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
  void pass(const std::string& what) {
    line("PASS", what);
    ++passes_;
  }
  void fail(const std::string& what) {
    line("FAIL", what);
    ++failures_;
  }
  void skip(const std::string& what) {
    line("SKIP", what);
    ++skips_;
  }
  int passes() const { return passes_; }
  int failures() const { return failures_; }
  int skips() const { return skips_; }

 private:
  static void line(const char* mark, const std::string& what) {
    std::cout << "  " << mark << "  " << what << "\n";
  }
  int passes_ = 0;
  int failures_ = 0;
  int skips_ = 0;
};

// What the command line says about the plugin under test.
struct KitOptions {
  std::map<std::string, std::string>
      given;                      // "NAME.option" -> value (NAME: scheme, format or transformer)
  std::vector<std::string> uris;  // --uri: checked instead of the generated SCHEME:check
  std::set<std::string> skips;    // --skip: checks not to run
  std::chrono::milliseconds timeout{5000};

  bool skipped(const std::string& check, const std::string& name) const {
    return skips.count(check) > 0 || skips.count(name + "." + check) > 0;
  }
  // The options given for NAME (without the "NAME." prefix).
  std::map<std::string, std::string> optionsOf(const std::string& name) const {
    std::map<std::string, std::string> out;
    for (const auto& [key, value] : given) {
      if (key.size() > name.size() + 1 && key.compare(0, name.size(), name) == 0 &&
          key[name.size()] == '.') {
        out[key.substr(name.size() + 1)] = value;
      }
    }
    return out;
  }
};

const std::set<std::string>& checkNames() {
  static const std::set<std::string> names{"unknown-option", "producer", "consumer", "format",
                                           "transformer"};
  return names;
}

std::string schemeOf(const std::string& uri) {
  const auto colon = uri.find(':');
  return colon == std::string::npos ? std::string() : uri.substr(0, colon);
}

std::string withUnknownOption(const std::string& uri) {
  return uri + (uri.find('?') == std::string::npos ? "?" : "&") + "busway-check-unknown=1";
}

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

std::string uriFor(const PluginManifest::Offer& offer,
                   const std::map<std::string, std::string>& given,
                   std::vector<std::string>& missing) {
  std::string uri = offer.name + ":check";
  char separator = '?';
  for (const auto& option : offer.options) {
    const auto it = given.find(option.name);
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
    const char* name =
        pattern == ExchangePattern::in_only ? "send (in-only)" : "send (request-reply)";
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
      report.fail(uri + ": " + name +
                  " never completed (within 10s): a pending send must call sending_complete");
    } else if (exchange->failed()) {
      // An error is a legal answer (no peer to talk to here) as long as it says why.
      if (exchange->error->message.empty())
        report.fail(uri + ": " + name + " failed without a message");
      else
        report.pass(uri + ": " + name +
                    " answered with an error that says why: " + exchange->error->message);
    } else {
      report.pass(uri + ": " + name + " completed");
    }
  }
}

void checkConsumer(BusContext& context, const std::string& uri, std::chrono::milliseconds timeout,
                   Report& report) {
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
  if (probe->waitFor([&](const auto& b) { return std::count(b.begin() + 1, b.end(), refused) > 0; },
                     timeout)) {
    report.pass(uri + ": a message the bus refused was delivered again (at-least-once)");
  } else {
    report.fail(uri + ": the message the bus refused ('" + refused.substr(0, 60) +
                "') was not delivered again: leave refused messages with the source (nack, "
                "requeue) and redeliver them");
  }
  (*consumer)->stop();
  const std::size_t after_stop = probe->count();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  if (probe->count() == after_stop)
    report.pass(uri + ": no delivery after stop");
  else
    report.fail(uri + ": delivered " + std::to_string(probe->count() - after_stop) +
                " message(s) after stop returned");
}

// Checks one endpoint offer: the URIs given with --uri for its scheme, else SCHEME:check
// built from the --option values. A URI the kit had to make up that the plugin refuses is
// not a failure (the scheme needs an address, a folder...): it is reported as not checked.
void checkEndpoint(BusContext& context, const PluginManifest::Offer& offer, const KitOptions& kit,
                   Report& report) {
  std::vector<std::string> uris;
  for (const auto& uri : kit.uris) {
    if (schemeOf(uri) == offer.name) uris.push_back(uri);
  }
  if (uris.empty()) {
    std::vector<std::string> missing;
    const std::string uri = uriFor(offer, kit.optionsOf(offer.name), missing);
    if (!missing.empty()) {
      std::string list;
      for (const auto& m : missing)
        list += (list.empty() ? "" : ", ") + offer.name + "." + m + "=...";
      report.skip(offer.name + ": not checked: required option(s) not given; give --uri " +
                  offer.name + ":...?... or --option " + list);
      return;
    }
    if (auto made = context.components().resolve(uri); !made) {
      report.skip(offer.name + ": not checked: the generated URI " + uri + " is refused (" +
                  made.error().message + "); give a real one with --uri " + offer.name + ":...");
      return;
    }
    uris.push_back(uri);
  }
  if (kit.skipped("unknown-option", offer.name)) {
    report.skip(offer.name + ": unknown-option: not checked (--skip)");
  } else {
    auto bad = context.components().resolve(withUnknownOption(uris.front()));
    if (bad)
      report.fail(offer.name + ": an unknown option was accepted");
    else
      report.pass(offer.name + ": an unknown option is refused: " + bad.error().message);
  }
  for (const auto& uri : uris) {
    if (offer.producer) {
      if (kit.skipped("producer", offer.name))
        report.skip(uri + ": producer: not checked (--skip)");
      else
        checkProducer(context, uri, report);
    }
    if (offer.consumer) {
      if (kit.skipped("consumer", offer.name))
        report.skip(uri + ": consumer: not checked (--skip)");
      else
        checkConsumer(context, uri, kit.timeout, report);
    }
  }
}

// The options of a format or transformer: the given ones, or a SKIP naming the required
// ones that are missing (nullopt).
std::optional<std::map<std::string, std::string>> optionsFor(const std::string& what,
                                                             const std::string& name,
                                                             const std::vector<OptionSpec>& specs,
                                                             const KitOptions& kit,
                                                             Report& report) {
  auto options = kit.optionsOf(name);
  std::string missing;
  for (const auto& spec : specs) {
    if (spec.required && options.count(spec.name) == 0)
      missing += (missing.empty() ? "" : " ") + ("--option " + name + "." + spec.name + "=...");
  }
  if (!missing.empty()) {
    report.skip(what + " " + name + ": not checked: required option(s) not given; give " + missing);
    return std::nullopt;
  }
  return options;
}

constexpr const char* kHelp =
    R"(usage: busway plugins check [--uri URI]... [--option NAME.OPTION=VALUE]...
                            [--skip CHECK]... [--timeout DURATION] FILE

The conformance kit: loads FILE the way the bus does and checks that
  - its manifest is valid and its ABI is one this busway loads;
  - init succeeds and every scheme, format and transformer in the manifest is implemented;
  - endpoints refuse an unknown option and accept their options;
  - producers complete every send, in-only and request-reply, or fail saying why;
  - consumers deliver, deliver again a message the bus refused (at-least-once), and
    deliver nothing after stop;
  - formats (marshal and unmarshal) and transformers can be created with their options;
  - drain and destroy return.

  --uri URI        check this endpoint URI (repeatable; its scheme picks the endpoint)
                   instead of SCHEME:check, e.g. --uri file:/tmp/box or
                   --uri http:127.0.0.1:8080/check. Give one per scheme you want checked.
  --option NAME.OPTION=VALUE
                   an option for the endpoint scheme, format or transformer NAME, e.g.
                   --option fixed-width.layout=layout.xml. For a scheme it is added to
                   the generated SCHEME:check URI (a --uri carries its own options).
  --skip CHECK     do not run CHECK (repeatable): unknown-option, producer, consumer,
                   format, transformer, or NAME.CHECK for one scheme/format only
                   (e.g. --skip amqp.consumer when no broker is there).
  --timeout D      how long a consumer may take to deliver (default 5s).

A check that cannot run is a SKIP line saying what to give, never a FAIL: an endpoint or
format with a required option that is not given, a scheme whose generated SCHEME:check
URI it refuses (it needs an address or a folder: give --uri), a consumer that delivered
nothing within --timeout (it needs a peer), and what --skip names.

Exit codes: 0 no check failed (skips allowed), 1 some check failed, 2 usage error.
)";

}  // namespace

int pluginsCheckCommand(Args& args) {
  if (args.flag("help")) {
    std::cout << kHelp;
    return kOk;
  }
  KitOptions kit;
  std::string value;
  while (args.option("option", value)) {
    const auto eq = value.find('=');
    const auto dot = value.find('.');
    if (eq == std::string::npos || dot == 0 || dot >= eq - 1) {
      std::cerr << "busway plugins check: --option takes NAME.OPTION=VALUE (NAME: a scheme, format "
                   "or transformer), not '"
                << value << "'\n";
      return kUsage;
    }
    kit.given[value.substr(0, eq)] = value.substr(eq + 1);
  }
  while (args.option("uri", value)) {
    if (schemeOf(value).empty()) {
      std::cerr << "busway plugins check: --uri takes SCHEME:..., not '" << value << "'\n";
      return kUsage;
    }
    kit.uris.push_back(value);
  }
  while (args.option("skip", value)) {
    const auto dot = value.rfind('.');
    const std::string check = dot == std::string::npos ? value : value.substr(dot + 1);
    if (checkNames().count(check) == 0) {
      std::cerr << "busway plugins check: --skip takes unknown-option, producer, consumer, format "
                   "or transformer"
                   " (or NAME.CHECK), not '"
                << value << "'\n";
      return kUsage;
    }
    kit.skips.insert(value);
  }
  std::string timeout_text = "5s";
  args.option("timeout", timeout_text);
  const auto timeout = parseDuration(timeout_text);
  const auto files = args.positional();
  if (!args.error().empty() || files.size() != 1 || !timeout) {
    std::cerr << "busway plugins check: "
              << (!args.error().empty() ? args.error()
                  : !timeout            ? "--timeout takes a duration such as 5s"
                                        : "name one plugin file")
              << "\n"
              << kHelp;
    return kUsage;
  }
  kit.timeout = *timeout;
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
      report.pass("manifest: " + manifest.id + " " + manifest.version + ", ABI " +
                  std::to_string(manifest.abi_major) + "." + std::to_string(manifest.abi_minor));
      for (const auto& uri : kit.uris) {
        const auto offers = manifest.endpoints;
        if (std::none_of(offers.begin(), offers.end(),
                         [&](const auto& o) { return o.name == schemeOf(uri); })) {
          std::cerr << "busway plugins check: warning: --uri " << uri
                    << ": the plugin offers no scheme '" << schemeOf(uri) << "'\n";
        }
      }
      auto loaded = host.load(manifest.id);
      if (!loaded) {
        report.fail("init: " + loaded.error().message);
      } else {
        report.pass("init");
        for (const auto& offer : manifest.endpoints) checkEndpoint(context, offer, kit, report);
        for (const auto& offer : manifest.transformers) {
          if (kit.skipped("transformer", offer.name)) {
            report.skip("transformer " + offer.name + ": not checked (--skip)");
            continue;
          }
          const auto options = optionsFor("transformer", offer.name, offer.options, kit, report);
          if (!options) continue;
          auto t = context.transformers().create(offer.name, *options);
          if (t)
            report.pass("transformer " + offer.name + ": created");
          else
            report.fail("transformer " + offer.name + ": " + t.error().message);
        }
        for (const auto& offer : manifest.formats) {
          if (kit.skipped("format", offer.name)) {
            report.skip("format " + offer.name + ": not checked (--skip)");
            continue;
          }
          const auto options = optionsFor("format", offer.name, offer.options, kit, report);
          if (!options) continue;
          for (const char* way : {"marshal:", "unmarshal:"}) {
            auto t = context.transformers().create(way + offer.name, *options);
            if (t)
              report.pass(std::string("format ") + way + offer.name + ": created");
            else
              report.fail(std::string("format ") + way + offer.name + ": " + t.error().message);
          }
        }
      }
    }
    host.shutdown(std::chrono::seconds(5));
    report.pass("drain and destroy returned");
  }
  fs::remove_all(folder);
  const std::string counts = " (" + std::to_string(report.passes()) + " passed, " +
                             std::to_string(report.skips()) + " not checked, " +
                             std::to_string(report.failures()) + " failed)";
  std::cout << (report.failures() == 0 ? "conformance: all checks passed" + counts + "\n"
                                       : "conformance: " + std::to_string(report.failures()) +
                                             " check(s) failed" + counts + "\n");
  return report.failures() == 0 ? kOk : kFailed;
}

}  // namespace busway::cli
