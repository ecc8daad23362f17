// The plugin host with real plugin files (tests/plugins/echo_plugin.c built in several
// variants): loading on first use, request-reply and acknowledgements across the C ABI, and
// every refusal, each while the bus keeps running.
#include "busway/plugin/plugin_host.hpp"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "busway/plugin/signature.hpp"
#include "child_process.hpp"
#include "route_harness.hpp"

namespace busway::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string builtPlugin(const std::string& target) {
  return std::string(BUSWAY_TEST_PLUGIN_DIR) + "/" + target + "/" + target + ".so";
}

// A plugin folder holding copies of the named test plugins.
std::string pluginFolder(const TempDir& dir, const std::vector<std::string>& targets) {
  const std::string folder = dir.file("plugins");
  fs::create_directories(folder);
  for (const auto& t : targets)
    fs::copy_file(builtPlugin(t), folder + "/" + t + ".so", fs::copy_options::overwrite_existing);
  return folder;
}

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

// A bus with one plain route that must keep working whatever happens to plugins.
struct LiveBus {
  RouteHarness h;
  void expectAlive() {
    const auto before = h.mock("alive").count();
    auto exchange = h.sendBody("direct:alive", "still here", "text/plain");
    ASSERT_TRUE(exchange);
    EXPECT_FALSE(exchange->failed());
    EXPECT_EQ(h.mock("alive").count(), before + 1);
  }
  static std::string aliveRoute() {
    return R"(<route id="alive"><from uri="direct:alive"/><to uri="mock:alive"/></route>)";
  }
};

TEST(PluginHost, LoadsOnFirstUseAndRepliesAcrossTheAbi) {
  TempDir dir;
  LiveBus bus;
  PluginHost host(bus.h.context(), {pluginFolder(dir, {"echo_plugin"})}, {});
  EXPECT_TRUE(host.scan().empty());
  ASSERT_EQ(host.plugins().size(), 1u);
  EXPECT_EQ(host.plugins()[0].state, PluginInfo::State::available);  // known by its manifest only

  bus.h.load(RouteHarness::table(LiveBus::aliveRoute() + R"(
    <route id="ask"><from uri="direct:ask"/><to uri="echo:x?prefix=hi%20" pattern="in-out"/><to uri="mock:answers"/></route>)"));
  EXPECT_EQ(host.plugins()[0].state, PluginInfo::State::loaded);
  auto exchange = bus.h.sendBody("direct:ask", "world", "text/plain");
  ASSERT_FALSE(exchange->failed()) << exchange->error->describe();
  EXPECT_EQ(bus.h.mock("answers").bodies(), std::vector<std::string>{"hi world"});

  // A plugin's error comes back as the step's error, with the plugin's words.
  exchange = bus.h.sendBody("direct:ask", "fail", "text/plain");
  ASSERT_TRUE(exchange->failed());
  EXPECT_EQ(exchange->error->kind, ErrorKind::permanent);
  EXPECT_NE(exchange->error->message.find("echo refuses the body 'fail'"), std::string::npos);
  bus.expectAlive();
}

TEST(PluginHost, ConsumerDeliveriesAreAcknowledgedWhenTheRouteIsDone) {
  TempDir dir;
  LiveBus bus;
  PluginHost host(bus.h.context(), {pluginFolder(dir, {"echo_plugin"})}, {});
  host.scan();
  bus.h.load(RouteHarness::table(R"(
    <route id="ticks"><from uri="echo:ticks?count=5"/><set-header name="seen" constant="yes"/><to uri="mock:ticks"/></route>
    <route id="broken"><from uri="echo:broken?count=2"/><to uri="mock:never?fail=100&amp;fail-kind=permanent"/></route>)"));
  ASSERT_TRUE(bus.h.mock("ticks").waitFor(5));
  EXPECT_EQ(bus.h.mock("ticks").messages()[0].headers().text("tick"), "1");
  // The acknowledgements reach the plugin after the route finished: 5 from ticks; the 2
  // messages that failed in `broken` are refused back to the plugin (nacked), not lost.
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  std::map<std::string, double> metrics;
  while (std::chrono::steady_clock::now() < deadline) {
    metrics = host.metrics("echo");
    if (metrics["acked"] == 5 && metrics["nacked"] == 2) break;
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(metrics["acked"], 5);
  EXPECT_EQ(metrics["nacked"], 2);
}

// "inline_routes" in a manifest: the route runs on the thread that called deliver, so a
// route without waits is done (and acknowledged) before deliver returns. Without it the
// route always runs on the bus's pool.
TEST(PluginHost, AnInlineRoutesConsumerRunsTheRouteOnItsOwnThread) {
  TempDir dir;
  LiveBus bus;
  PluginHost host(bus.h.context(), {pluginFolder(dir, {"echo_plugin", "echo_inline_plugin"})}, {});
  EXPECT_TRUE(host.scan().empty());
  bus.h.load(RouteHarness::table(LiveBus::aliveRoute() + R"(
    <route id="pooled"><from uri="echo:p?count=4"/><to uri="mock:pooled"/></route>
    <route id="inline"><from uri="echoinline:i?count=4"/><set-header name="seen" constant="yes"/><to uri="mock:inline"/></route>
    <route id="inline-failing"><from uri="echoinline:f?count=2"/><to uri="mock:never?fail=100&amp;fail-kind=permanent"/></route>)"));
  ASSERT_TRUE(bus.h.mock("pooled").waitFor(4));
  ASSERT_TRUE(bus.h.mock("inline").waitFor(4));
  EXPECT_EQ(bus.h.mock("inline").messages()[0].headers().text("seen"), "yes");
  std::map<std::string, double> pooled;
  std::map<std::string, double> inlined;
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < deadline) {
    pooled = host.metrics("echo");
    inlined = host.metrics("echo-inline");
    if (pooled["acked"] == 4 && inlined["acked"] == 4 && inlined["nacked"] == 2) break;
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(pooled["acked"], 4);
  EXPECT_EQ(pooled["done_while_delivering"], 0);
  EXPECT_EQ(inlined["acked"], 4);
  EXPECT_EQ(inlined["nacked"], 2);  // a failure inline is refused back the same way
  EXPECT_EQ(inlined["done_while_delivering"], 6);
  bus.expectAlive();
}

// A plugin's own options (the manifest's "config"): checked against the manifest before the
// plugin loads, then given to its init along with the defaults of those not set.
TEST(PluginHost, PluginOptionsAreCheckedAgainstTheManifestAndReachInit) {
  TempDir dir;
  LiveBus bus;
  PluginHost host(bus.h.context(), {pluginFolder(dir, {"echo_plugin"})}, {});
  host.scan();
  EXPECT_TRUE(applyPluginSetting(host, "echo.greeting=salut"));
  const auto message = [&](const std::string& setting) {
    auto r = applyPluginSetting(host, setting);
    return r ? std::string("accepted") : r.error().message;
  };
  EXPECT_EQ(
      message("echo.workers=many"),
      "--plugin-option echo.workers=many: plugin 'echo': option 'workers' of echo: is 'many', "
      "expected an integer (its options: greeting, workers)");
  EXPECT_NE(message("echo.greting=x").find("did you mean 'greeting'?"), std::string::npos);
  EXPECT_NE(message("ecko.greeting=x").find("no plugin 'ecko' is installed (did you mean 'echo'?)"),
            std::string::npos);
  EXPECT_NE(message("echo-greeting").find("expected PLUGIN.OPTION=VALUE"), std::string::npos);
  EXPECT_NE(message("echo.=x").find("expected PLUGIN.OPTION=VALUE"), std::string::npos);

  bus.h.load(RouteHarness::table(LiveBus::aliveRoute() + R"(
    <route id="ask"><from uri="direct:ask"/><to uri="echo:x" pattern="in-out"/><to uri="mock:answers"/></route>)"));
  ASSERT_FALSE(bus.h.sendBody("direct:ask", "world", "text/plain")->failed());
  auto metrics = host.metrics("echo");
  EXPECT_EQ(metrics["config greeting=salut"], 1);  // set
  EXPECT_EQ(metrics["config workers=2"], 1);       // its default
  EXPECT_EQ(metrics.count("config greeting=hello"), 0u);
  // Loaded: a new value could not reach init any more, so it is refused, not ignored.
  EXPECT_NE(message("echo.greeting=late").find("is loaded already"), std::string::npos);
  bus.expectAlive();
}

TEST(PluginHost, RefusesAPluginBuiltForAnotherAbiMajorNamingBothVersions) {
  TempDir dir;
  LiveBus bus;
  bus.h.load(RouteHarness::table(LiveBus::aliveRoute()));
  PluginHost host(bus.h.context(), {pluginFolder(dir, {"echo_abi2_plugin"})}, {});
  const auto problems = host.scan();
  ASSERT_EQ(problems.size(), 1u) << joined(problems);
  EXPECT_NE(problems[0].find(
                "echo_abi2_plugin.so: built for plugin ABI 2.0, but this busway speaks ABI 1.0"),
            std::string::npos)
      << problems[0];
  EXPECT_EQ(host.plugins()[0].state, PluginInfo::State::refused);
  bus.expectAlive();
}

TEST(PluginHost, RefusesASharedLibraryThatIsNotABuswayPlugin) {
  TempDir dir;
  LiveBus bus;
  bus.h.load(RouteHarness::table(LiveBus::aliveRoute()));
  const std::string folder = pluginFolder(dir, {});
  // Any ordinary shared library: the bus's own test plugin minus its manifest is not at
  // hand, so use the C++ runtime every machine here has.
  fs::copy_file("/usr/lib/x86_64-linux-gnu/libstdc++.so.6", folder + "/libstdc++.so");
  PluginHost host(bus.h.context(), {folder}, {});
  const auto problems = host.scan();
  ASSERT_EQ(problems.size(), 1u) << joined(problems);
  EXPECT_NE(problems[0].find("libstdc++.so"), std::string::npos) << problems[0];
  EXPECT_NE(problems[0].find("not a busway plugin"), std::string::npos) << problems[0];
  bus.expectAlive();
}

TEST(PluginHost, RefusesAPluginWithoutEntryPointWhenLoading) {
  TempDir dir;
  LiveBus bus;
  PluginHost host(bus.h.context(), {pluginFolder(dir, {"echo_no_entry_plugin"})}, {});
  EXPECT_TRUE(host.scan().empty());
  auto loaded = host.load("echo-no-entry");
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.error().message.find("missing entry point 'busway_plugin_entry'"),
            std::string::npos)
      << loaded.error().message;
  bus.h.load(RouteHarness::table(LiveBus::aliveRoute()));
  bus.expectAlive();
}

TEST(PluginHost, RefusesASecondPluginClaimingAnInstalledSchemeNamingBothFiles) {
  TempDir dir;
  LiveBus bus;
  bus.h.load(RouteHarness::table(LiveBus::aliveRoute()));
  PluginHost host(bus.h.context(), {pluginFolder(dir, {"echo_plugin", "echo_clash_plugin"})}, {});
  const auto problems = host.scan();
  ASSERT_EQ(problems.size(), 1u) << joined(problems);
  // Files are scanned in name order: echo_clash_plugin.so comes first and keeps the scheme.
  EXPECT_NE(problems[0].find("echo_plugin.so: scheme 'echo' is already offered by"),
            std::string::npos)
      << problems[0];
  EXPECT_NE(problems[0].find("echo_clash_plugin.so"), std::string::npos) << problems[0];
  bus.expectAlive();
}

struct SignedSetup {
  TempDir dir;
  std::string folder;
  std::string trust;
  KeyPair key;
  explicit SignedSetup(const std::string& plugin) {
    folder = pluginFolder(dir, {plugin});
    trust = dir.file("trust");
    fs::create_directories(trust);
    key = generateKeyPair().value();
    std::ofstream(trust + "/vendor.pub") << key.public_pem;
  }
  std::string file(const std::string& plugin) const { return folder + "/" + plugin + ".so"; }
  void sign(const std::string& plugin) const {
    std::ifstream in(file(plugin), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream(file(plugin) + ".sig") << signBytes(bytes, key.private_pem).value();
  }
};

TEST(PluginHost, UnderASignaturePolicyAnUnsignedPluginIsRefused) {
  SignedSetup setup("echo_plugin");
  LiveBus bus;
  PluginHost host(bus.h.context(), {setup.folder}, PluginPolicy{true, setup.trust});
  host.scan();
  auto loaded = host.load("echo");
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.error().message.find("refused by the signature policy"), std::string::npos)
      << loaded.error().message;
  EXPECT_NE(loaded.error().message.find("not signed"), std::string::npos) << loaded.error().message;
  bus.h.load(RouteHarness::table(LiveBus::aliveRoute()));
  bus.expectAlive();
}

TEST(PluginHost, UnderASignaturePolicyAFileChangedAfterSigningIsRefused) {
  SignedSetup setup("echo_plugin");
  setup.sign("echo_plugin");
  std::ofstream(setup.file("echo_plugin"), std::ios::binary | std::ios::app) << '\0';
  LiveBus bus;
  PluginHost host(bus.h.context(), {setup.folder}, PluginPolicy{true, setup.trust});
  host.scan();
  auto loaded = host.load("echo");
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.error().message.find("does not match the file"), std::string::npos)
      << loaded.error().message;
  bus.h.load(RouteHarness::table(LiveBus::aliveRoute()));
  bus.expectAlive();
}

TEST(PluginHost, UnderASignaturePolicyASignedPluginLoadsAndThePolicyOnlyTightens) {
  SignedSetup setup("echo_plugin");
  setup.sign("echo_plugin");
  LiveBus bus;
  PluginHost host(bus.h.context(), {setup.folder}, PluginPolicy{true, setup.trust});
  host.scan();
  auto loaded = host.load("echo");
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_TRUE(host.plugins()[0].signature.valid);
  auto loosened = host.setPolicy(PluginPolicy{false, ""});
  ASSERT_FALSE(loosened.ok());
  EXPECT_NE(loosened.error().message.find("not loosened"), std::string::npos);
  EXPECT_TRUE(host.policy().require_signatures);
}

TEST(PluginHost, APluginWhoseInitFailsMakesItsRoutesUnavailableAndTheOthersRun) {
  TempDir dir;
  LiveBus bus;
  PluginHost host(bus.h.context(), {pluginFolder(dir, {"echo_failing_plugin"})}, {});
  host.scan();
  const auto diagnostics = bus.h.loadWithErrors(RouteHarness::table(LiveBus::aliveRoute() + R"(
    <route id="needs-plugin"><from uri="direct:needs"/><to uri="failing:x"/></route>)"));
  EXPECT_FALSE(diagnostics.hasErrors()) << diagnostics.toString();
  EXPECT_NE(diagnostics.toString().find("cannot reach the echo licence server"), std::string::npos)
      << diagnostics.toString();
  bool found = false;
  for (const auto& route : bus.h.bus().status()) {
    if (route.id == "needs-plugin") {
      found = true;
      EXPECT_FALSE(route.running);
      EXPECT_NE(route.unavailable.find("its init failed"), std::string::npos) << route.unavailable;
    }
  }
  EXPECT_TRUE(found);
  EXPECT_EQ(host.plugins()[0].state, PluginInfo::State::failed);
  bus.expectAlive();
}

}  // namespace
}  // namespace busway::testing

namespace busway::testing {
namespace {

// Each plugin is loaded from its own in-memory file; the loader must not mistake the second
// for the first (it knows libraries by path).
TEST(PluginHostMany, SeveralPluginsLoadInOneProcess) {
  TempDir dir;
  LiveBus bus;
  PluginHost host(
      bus.h.context(),
      {pluginFolder(dir, {"echo_plugin", "echo_failing_plugin", "echo_no_entry_plugin"})}, {});
  EXPECT_TRUE(host.scan().empty());
  auto first = host.load("echo");
  ASSERT_TRUE(first.ok()) << first.error().message;
  auto second = host.load("echo-failing");
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.error().message.find("its init failed"), std::string::npos)
      << second.error().message;
  auto third = host.load("echo-no-entry");
  ASSERT_FALSE(third.ok());
  EXPECT_NE(third.error().message.find("missing entry point"), std::string::npos)
      << third.error().message;
  // And the first still works.
  bus.h.load(RouteHarness::table(
      R"(<route id="ask"><from uri="direct:ask"/><to uri="echo:x" pattern="in-out"/><to uri="mock:a"/></route>)"));
  bus.h.sendBody("direct:ask", "hi", "text/plain");
  EXPECT_EQ(bus.h.mock("a").bodies(), std::vector<std::string>{"echo: hi"});
}

}  // namespace
}  // namespace busway::testing
