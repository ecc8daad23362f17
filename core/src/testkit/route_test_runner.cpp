// Runs one route test: the table on a bus of its own, outside endpoints replaced by stubs.
#include <cstdlib>
#include <filesystem>
#include <future>
#include <set>
#include <thread>

#include "busway/config/table_loader.hpp"
#include "busway/endpoint/component_registry.hpp"
#include "busway/plugin/plugin_host.hpp"
#include "busway/router/route_compiler.hpp"
#include "busway/runtime/bus.hpp"
#include "busway/runtime/bus_context.hpp"
#include "busway/testkit/route_test.hpp"
#include "busway/util/text.hpp"
#include "stub_component.hpp"

namespace busway::testkit {
namespace {

using Clock = std::chrono::steady_clock;

// In-process endpoints run for real: they are part of the routes under test, not peers.
bool runsForReal(const std::string& scheme) {
  return scheme == "direct" || scheme == "queue" || scheme == "log";
}

// Replaces the table's outside endpoints by stubs, so nothing leaves the test, and also the
// in-process endpoints the test names in <stub> or <expect> (to observe them). Endpoints
// declared with an id become stub:ID; endpoints written inline (uri="...") become
// stub:SCHEME:PATH. `names` maps what a test may call an endpoint (its id, its URI with or
// without options) to the stub's name.
class Stubber {
 public:
  Stubber(std::map<std::string, std::string>& names, std::set<std::string> observed)
      : names_(names), observed_(std::move(observed)) {}

  void rewrite(TableDefinition& table) {
    for (auto& endpoint : table.endpoints) {
      const auto uri = Uri::parse(endpoint.uri);
      if (!uri || !stubbed(*uri, endpoint.id)) continue;
      names_[endpoint.id] = endpoint.id;
      names_[endpoint.uri] = endpoint.id;
      names_[uri->key()] = endpoint.id;
      endpoint.uri = "stub:" + endpoint.id;
    }
    for (auto& handler : table.error_handlers)
      if (handler.dead_letter_uri) rewrite(*handler.dead_letter_uri);
    for (auto& route : table.routes) {
      if (route.error_handler && route.error_handler->dead_letter_uri)
        rewrite(*route.error_handler->dead_letter_uri);
      if (route.from) rewrite(*route.from);
      for (auto& step : route.steps) rewrite(step);
    }
  }

 private:
  void rewrite(StepDef& step) {
    if (auto it = step.attributes.find("uri"); it != step.attributes.end()) rewrite(it->second);
    for (auto& child : step.children) rewrite(child);
  }
  void rewrite(AttributeDef& attribute) {
    const auto uri = Uri::parse(attribute.value);
    if (!uri || !stubbed(*uri, attribute.value)) return;
    const std::string name = uri->key();
    names_[attribute.value] = name;
    names_[name] = name;
    attribute.value = "stub:" + name;
  }

  bool stubbed(const Uri& uri, const std::string& name) const {
    return !runsForReal(uri.scheme) || observed_.count(name) || observed_.count(uri.text) ||
           observed_.count(uri.key());
  }

  std::map<std::string, std::string>& names_;
  std::set<std::string> observed_;
};

// Sets environment variables for the length of a test and puts the old values back.
class ScopedEnv {
 public:
  explicit ScopedEnv(const std::vector<std::pair<std::string, std::string>>& vars) {
    for (const auto& [name, value] : vars) {
      const char* old = std::getenv(name.c_str());
      saved_.emplace_back(name, old ? std::optional<std::string>(old) : std::nullopt);
      ::setenv(name.c_str(), value.c_str(), 1);
    }
  }
  ~ScopedEnv() {
    for (const auto& [name, value] : saved_) {
      if (value)
        ::setenv(name.c_str(), value->c_str(), 1);
      else
        ::unsetenv(name.c_str());
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

// A fresh data directory for the durable store, removed with its content afterwards.
struct TempStore {
  std::filesystem::path path;
  TempStore() {
    std::string pattern = (std::filesystem::temp_directory_path() / "busway-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) != nullptr) path = pattern;
  }
  ~TempStore() {
    std::error_code ec;
    if (!path.empty()) std::filesystem::remove_all(path, ec);
  }
  TempStore(const TempStore&) = delete;
  TempStore& operator=(const TempStore&) = delete;
};

std::string known(const std::map<std::string, std::string>& names) {
  std::set<std::string> stubs;
  for (const auto& [alias, name] : names) stubs.insert(name);
  std::string list;
  for (const auto& name : stubs) list += (list.empty() ? "" : ", ") + name;
  return list.empty() ? "(none: every endpoint of the table is in-process)" : list;
}

// What differs between a message and what was expected of it; empty when it matches.
std::string mismatch(const Message& actual, const MessageSpec& expected) {
  std::string out;
  for (const auto& [name, value] : expected.headers) {
    if (!actual.headers().contains(name))
      out += "header '" + name + "': missing (expected '" + value + "')\n";
    else if (const std::string got = actual.headers().text(name); got != value)
      out += "header '" + name + "': expected '" + value + "', got '" + got + "'\n";
  }
  if (expected.has_body)
    out += difference(expected.body, std::string(actual.bodyText()), expected.compare);
  return out;
}

std::string describe(const MessageSpec& spec) {
  return spec.source.empty() ? std::string("the expected message") : "'" + spec.source + "'";
}

}  // namespace

RouteTestResult runRouteTest(const RouteTest& test, const RunOptions& options) {
  const auto started = Clock::now();
  RouteTestResult result;
  result.name = test.name;
  result.file = test.file;
  const auto fail = [&](const SourceLocation& where, const std::string& message) {
    result.failures.push_back(where.toString() + ": " + message);
  };
  const auto finish = [&] {
    result.passed = result.failures.empty();
    result.duration = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
    return result;
  };
  const SourceLocation here{test.file, 0, 0};

  const ScopedEnv env(test.env);
  Diagnostics diagnostics;
  TableDefinition table;
  for (const auto& path : test.tables) mergeInto(table, loadTable(path, diagnostics));
  if (diagnostics.hasErrors()) {
    fail(here, "the routing table does not load:\n" + diagnostics.toString());
    return finish();
  }
  std::map<std::string, std::string> names;
  std::set<std::string> observed;
  for (const auto& stub : test.stubs) observed.insert(stub.endpoint);
  for (const auto& expect : test.expects) observed.insert(expect.endpoint);
  Stubber(names, std::move(observed)).rewrite(table);

  // A store of its own, so durable queues and dead letters of one test never meet another's.
  const TempStore store;
  BusContext context(2);
  if (!store.path.empty()) context.setDataDir(store.path);
  PluginHost plugins(context, options.plugin_search_path, PluginPolicy{}, PluginHost::Mode::run,
                     options.bundled_plugin_dir);
  plugins.scan();
  for (const auto& setting : options.plugin_settings) {
    if (auto applied = applyPluginSetting(plugins, setting); !applied) {
      fail(here, applied.error().message);
      return finish();
    }
  }
  auto stubs = std::make_shared<StubComponent>();
  if (auto added = context.components().add(stubs, "busway test"); !added) {
    fail(here, added.error().message);
    return finish();
  }
  for (const auto& stub : test.stubs) {
    const auto it = names.find(stub.endpoint);
    if (it == names.end()) {
      fail(stub.where,
           "'" + stub.endpoint +
               "' is not an endpoint of the table (the endpoints a test can stub or observe: " +
               known(names) + ")");
      continue;
    }
    stubs->state(it->second)->configure(stub);
  }
  auto compiled = compileTable(table, context, diagnostics);
  Bus bus(context);
  if (!compiled || !bus.activate(std::move(compiled), diagnostics)) {
    fail(here, "the routing table does not compile:\n" + diagnostics.toString());
    return finish();
  }

  for (const auto& send : test.sends) {
    ProcessorPtr target;
    if (const auto it = names.find(send.endpoint); it != names.end()) {
      target = stubs->state(it->second)->route();
      if (!target) {
        fail(send.where, "no running route reads from '" + send.endpoint +
                             "' (is its route autostart=\"false\" or unavailable?)");
        continue;
      }
    } else {
      // An in-process endpoint (direct:, queue:) by id or URI: send through its producer.
      std::string uri = send.endpoint;
      for (const auto& def : table.endpoints)
        if (def.id == send.endpoint) uri = def.uri;
      auto endpoint = context.components().resolve(uri);
      auto producer =
          endpoint ? endpoint.value()->createProducer() : Result<ProcessorPtr>(endpoint.error());
      if (!producer) {
        fail(send.where, "cannot send to '" + send.endpoint + "': " + producer.error().message +
                             " (the stubs are: " + known(names) + ")");
        continue;
      }
      target = *producer;
    }
    Message message;
    message.setBody(send.message.body, send.message.media_type);
    for (const auto& [name, value] : send.message.headers)
      message.headers().set(name, HeaderValue(value));
    auto exchange = makeExchange(std::move(message),
                                 send.in_out ? ExchangePattern::in_out : ExchangePattern::in_only);
    auto finished = std::make_shared<std::promise<void>>();
    auto future = finished->get_future();
    runToCompletion(*target, exchange, [finished] { finished->set_value(); });
    if (future.wait_for(test.timeout) != std::future_status::ready) {
      fail(send.where, "the route did not finish the message within " +
                           formatDuration(test.timeout) +
                           " (raise timeout= on <route-test>, or look for a step that waits)");
      continue;
    }
    if (exchange->failed() && !send.expect_failure) {
      fail(send.where, "the route failed the message: " + exchange->error->describe());
    } else if (!exchange->failed() && send.expect_failure) {
      fail(send.where,
           "expected the route to fail the message (outcome=\"failed\"), but it succeeded");
    }
    if (send.expected_reply && !exchange->failed()) {
      if (const std::string diff = mismatch(exchange->replyMessage(), *send.expected_reply);
          !diff.empty())
        fail(send.expected_reply->where,
             "the reply differs from " + describe(*send.expected_reply) + ":\n" + diff);
    }
  }

  // Expectations: wait (up to the timeout) until each stub has what it should, then a
  // moment longer to catch messages that should not come.
  const auto deadline = Clock::now() + test.timeout;
  for (const auto& expect : test.expects) {
    if (const auto it = names.find(expect.endpoint); it != names.end())
      stubs->state(it->second)->waitFor(expect.count, deadline);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  for (const auto& expect : test.expects) {
    const auto it = names.find(expect.endpoint);
    if (it == names.end()) {
      fail(expect.where,
           "'" + expect.endpoint +
               "' is not an endpoint of the table (the endpoints a test can stub or observe: " +
               known(names) + ")");
      continue;
    }
    const auto received = stubs->state(it->second)->received();
    if (received.size() != expect.count) {
      fail(expect.where, "expected " + std::to_string(expect.count) + " message(s) at '" +
                             expect.endpoint + "', got " + std::to_string(received.size()));
    }
    if (expect.any_order) {
      std::vector<bool> used(received.size(), false);
      for (const auto& [index, spec] : expect.messages) {
        bool matched = false;
        for (std::size_t i = 0; i < received.size() && !matched; ++i) {
          if (!used[i] && mismatch(received[i], spec).empty()) used[i] = matched = true;
        }
        if (!matched)
          fail(spec.where, "no message at '" + expect.endpoint + "' matches " + describe(spec));
      }
      continue;
    }
    for (const auto& [index, spec] : expect.messages) {
      if (index >= received.size()) continue;  // the count failure says it
      if (const std::string diff = mismatch(received[index], spec); !diff.empty())
        fail(spec.where, "message " + std::to_string(index) + " at '" + expect.endpoint +
                             "' differs from " + describe(spec) + ":\n" + diff);
    }
  }
  if (!bus.stop(std::chrono::seconds(5)))
    fail(here, "messages were still in flight 5s after the sends (a route that never finishes?)");
  plugins.shutdown(std::chrono::seconds(5));
  return finish();
}

}  // namespace busway::testkit
