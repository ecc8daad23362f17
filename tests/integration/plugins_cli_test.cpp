// `busway plugins ...` run as a vendor and an integrator would: make a key, sign a plugin,
// verify it, look inside it without running it, list a plugin folder.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "child_process.hpp"

namespace busway::testing {
namespace {

namespace fs = std::filesystem;

const std::string kBusway = BUSWAY_EXE;
const std::string kPlugin = BUSWAY_TEST_MANIFEST_PLUGIN;
const std::string kNotAPlugin = BUSWAY_TEST_NOT_A_PLUGIN;

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

std::string copyInto(const TempDir& dir, const std::string& from, const std::string& name) {
  const std::string to = dir.file(name);
  fs::copy_file(from, to, fs::copy_options::overwrite_existing);
  return to;
}

// The key id keygen printed ("key id: 0123456789abcdef").
std::string keyIdFrom(const std::string& out) {
  const auto at = out.find("key id: ");
  return at == std::string::npos ? std::string() : out.substr(at + 8, 16);
}

TEST(CliPlugins, KeygenSignVerify) {
  TempDir dir;
  fs::create_directory(dir.file("trust"));
  const auto keygen = runCommand({kBusway, "plugins", "keygen", "--out", dir.file("trust/acme")});
  ASSERT_EQ(keygen.exit_code, 0) << keygen.out << keygen.err;
  const std::string key_id = keyIdFrom(keygen.out);
  EXPECT_EQ(key_id.size(), 16u) << keygen.out;
  // The private key is for its owner only.
  const auto perms = fs::status(dir.file("trust/acme.key")).permissions();
  EXPECT_EQ(perms & (fs::perms::group_all | fs::perms::others_all), fs::perms::none);
  ASSERT_TRUE(fs::exists(dir.file("trust/acme.pub")));
  // Moving the private key out of the trust folder, as one should.
  fs::rename(dir.file("trust/acme.key"), dir.file("acme.key"));

  const std::string plugin = copyInto(dir, kPlugin, "libmarker.so");
  const auto sign = runCommand({kBusway, "plugins", "sign", "--key", dir.file("acme.key"), plugin});
  ASSERT_EQ(sign.exit_code, 0) << sign.out << sign.err;
  ASSERT_TRUE(fs::exists(plugin + ".sig"));

  const auto verify =
      runCommand({kBusway, "plugins", "verify", "--trust", dir.file("trust"), plugin});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  EXPECT_TRUE(contains(verify.out, plugin + ": valid signature by key " + key_id + " (acme.pub)"))
      << verify.out;

  // Changed after signing: one byte appended.
  {
    std::ofstream out(plugin, std::ios::binary | std::ios::app);
    out << '\0';
  }
  const auto tampered =
      runCommand({kBusway, "plugins", "verify", "--trust", dir.file("trust"), plugin});
  EXPECT_EQ(tampered.exit_code, 1) << tampered.out << tampered.err;
  EXPECT_TRUE(contains(tampered.err, plugin + ": signature does not match the file"))
      << tampered.err;

  // Unsigned.
  const std::string unsigned_plugin = copyInto(dir, kPlugin, "libunsigned.so");
  const auto unsigned_result =
      runCommand({kBusway, "plugins", "verify", "--trust", dir.file("trust"), unsigned_plugin});
  EXPECT_EQ(unsigned_result.exit_code, 1);
  EXPECT_TRUE(contains(unsigned_result.err, unsigned_plugin + ": not signed"))
      << unsigned_result.err;

  // Signed by a key the integrator does not trust.
  ASSERT_EQ(runCommand({kBusway, "plugins", "keygen", "--out", dir.file("other")}).exit_code, 0);
  ASSERT_EQ(
      runCommand({kBusway, "plugins", "sign", "--key", dir.file("other.key"), unsigned_plugin})
          .exit_code,
      0);
  const auto stranger =
      runCommand({kBusway, "plugins", "verify", "--trust", dir.file("trust"), unsigned_plugin});
  EXPECT_EQ(stranger.exit_code, 1);
  EXPECT_TRUE(contains(stranger.err, "which is not in the trust store " + dir.file("trust")))
      << stranger.err;
}

TEST(CliPlugins, KeygenNeverOverwritesAKey) {
  TempDir dir;
  ASSERT_EQ(runCommand({kBusway, "plugins", "keygen", "--out", dir.file("k")}).exit_code, 0);
  std::ifstream in(dir.file("k.key"));
  const std::string before((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto again = runCommand({kBusway, "plugins", "keygen", "--out", dir.file("k")});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_TRUE(contains(again.err, "already exists")) << again.err;
  std::ifstream after_in(dir.file("k.key"));
  const std::string after((std::istreambuf_iterator<char>(after_in)),
                          std::istreambuf_iterator<char>());
  EXPECT_EQ(before, after);
}

TEST(CliPlugins, SigningAFileThatIsNotAPluginWarns) {
  TempDir dir;
  ASSERT_EQ(runCommand({kBusway, "plugins", "keygen", "--out", dir.file("k")}).exit_code, 0);
  const std::string lib = copyInto(dir, kNotAPlugin, "libplain.so");
  const auto r = runCommand({kBusway, "plugins", "sign", "--key", dir.file("k.key"), lib});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.err, "warning: " + lib + ": is a shared library but not a busway plugin"))
      << r.err;
  EXPECT_TRUE(contains(r.err, "signing it anyway")) << r.err;
  EXPECT_TRUE(fs::exists(lib + ".sig"));
  const auto bad_key = runCommand({kBusway, "plugins", "sign", "--key", dir.file("k.pub"), lib});
  EXPECT_EQ(bad_key.exit_code, 1);
  EXPECT_TRUE(contains(bad_key.err, "not an unencrypted PEM private key")) << bad_key.err;
}

class CliPluginsMarker : public ::testing::Test {
 protected:
  // The child inherits the environment: if `busway` ever ran the plugin's code, its static
  // initialiser would create this file.
  void SetUp() override { ::setenv("BUSWAY_TEST_MARKER", dir_.file("marker").c_str(), 1); }
  void TearDown() override { ::unsetenv("BUSWAY_TEST_MARKER"); }
  bool markerExists() const { return fs::exists(dir_.file("marker")); }
  TempDir dir_;
};

TEST_F(CliPluginsMarker, InspectPrintsTheManifestWithoutRunningThePlugin) {
  const auto r = runCommand({kBusway, "plugins", "inspect", kPlugin});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "id:          test-marker")) << r.out;
  EXPECT_TRUE(contains(r.out, "version:     0.3.1")) << r.out;
  EXPECT_TRUE(contains(r.out, "status:      experimental")) << r.out;
  EXPECT_TRUE(contains(r.out, "ABI:         1.0 (compatible with this busway, ABI 1.0)")) << r.out;
  EXPECT_TRUE(contains(r.out, "signature:   unsigned")) << r.out;
  EXPECT_TRUE(contains(r.out, "marker (consumer and producer")) << r.out;
  EXPECT_TRUE(contains(r.out, "host     string                    yes       Server to connect to."))
      << r.out;
  EXPECT_TRUE(contains(r.out, "timeout  duration         5s       no        How long to wait."))
      << r.out;
  EXPECT_TRUE(contains(r.out, "mode     enum(fast|safe)  safe     no        Delivery mode."))
      << r.out;
  EXPECT_TRUE(contains(r.out, "marker-csv")) << r.out;
  EXPECT_TRUE(contains(r.out, "marker-upper")) << r.out;
  EXPECT_TRUE(contains(r.out, "workers")) << r.out;
  EXPECT_FALSE(markerExists()) << "busway plugins inspect ran the plugin's static initialiser";

  const auto json = runCommand({kBusway, "plugins", "inspect", "--json", kPlugin});
  EXPECT_EQ(json.exit_code, 0) << json.err;
  const auto doc = nlohmann::json::parse(json.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << json.out;
  EXPECT_EQ(doc["id"], "test-marker");
  EXPECT_EQ(doc["endpoints"][0]["options"][1]["default"], "5s");
  EXPECT_EQ(doc["config"][0]["default"], 4);
  EXPECT_FALSE(markerExists());
}

TEST_F(CliPluginsMarker, InspectShowsTheSignatureState) {
  TempDir dir;
  const std::string plugin = copyInto(dir, kPlugin, "libmarker.so");
  fs::create_directory(dir.file("trust"));
  ASSERT_EQ(runCommand({kBusway, "plugins", "keygen", "--out", dir.file("trust/v")}).exit_code, 0);
  ASSERT_EQ(
      runCommand({kBusway, "plugins", "sign", "--key", dir.file("trust/v.key"), plugin}).exit_code,
      0);
  const auto id = runCommand({kBusway, "plugins", "inspect", plugin});
  EXPECT_TRUE(contains(id.out, "signature:   signed by key ")) << id.out;
  EXPECT_TRUE(contains(id.out, ", not checked: pass --trust DIR")) << id.out;
  const auto checked =
      runCommand({kBusway, "plugins", "inspect", "--trust", dir.file("trust"), plugin});
  EXPECT_EQ(checked.exit_code, 0) << checked.err;
  EXPECT_TRUE(contains(checked.out, "signature:   valid signature by key")) << checked.out;
  EXPECT_FALSE(markerExists());
}

TEST_F(CliPluginsMarker, InspectRefusesFilesThatAreNotPlugins) {
  TempDir dir;
  const auto lib = runCommand({kBusway, "plugins", "inspect", kNotAPlugin});
  EXPECT_EQ(lib.exit_code, 1);
  EXPECT_TRUE(contains(lib.err, kNotAPlugin + ": is a shared library but not a busway plugin"))
      << lib.err;
  const std::string text = dir.write("notes.so", "hello\n");
  const auto txt = runCommand({kBusway, "plugins", "inspect", text});
  EXPECT_EQ(txt.exit_code, 1);
  EXPECT_TRUE(contains(txt.err, text + ": not an ELF shared library")) << txt.err;
  const std::string cut = dir.write("cut.so", [] {
    std::ifstream in(kPlugin, std::ios::binary);
    std::string bytes(100, '\0');
    in.read(bytes.data(), 100);
    return bytes;
  }());
  const auto truncated = runCommand({kBusway, "plugins", "inspect", cut});
  EXPECT_EQ(truncated.exit_code, 1);
  EXPECT_TRUE(contains(truncated.err, cut + ": truncated or corrupt ELF file")) << truncated.err;
}

TEST_F(CliPluginsMarker, ListShowsPluginsAndWhyOtherFilesAreNot) {
  TempDir dir;
  copyInto(dir, kPlugin, "libmarker.so");
  copyInto(dir, kNotAPlugin, "libplain.so");
  dir.write("readme.so", "text\n");
  dir.write("README.md", "ignored: not a library name\n");
  const auto r = runCommand({kBusway, "plugins", "list", "--path", dir.path()});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "test-marker 0.3.1  ABI 1.0  experimental  libmarker.so")) << r.out;
  EXPECT_TRUE(contains(r.out, "endpoints:    marker")) << r.out;
  EXPECT_TRUE(contains(r.out, "formats:      marker-csv")) << r.out;
  EXPECT_TRUE(contains(r.out, "transformers: marker-upper")) << r.out;
  EXPECT_TRUE(contains(r.out, "signature:    unsigned")) << r.out;
  EXPECT_TRUE(contains(r.out, "not a plugin: " + dir.file("libplain.so") +
                                  ": is a shared library but not a busway "
                                  "plugin"))
      << r.out;
  EXPECT_TRUE(
      contains(r.out, "not a plugin: " + dir.file("readme.so") + ": not an ELF shared library"))
      << r.out;
  EXPECT_FALSE(contains(r.out, "README.md"));
  EXPECT_TRUE(contains(r.out, "1 plugin\n")) << r.out;
  EXPECT_FALSE(markerExists());

  // Two plugins claiming one scheme are pointed out.
  copyInto(dir, kPlugin, "libmarker-copy.so");
  const auto twice = runCommand({kBusway, "plugins", "list", "--path", dir.path()});
  EXPECT_TRUE(contains(twice.out, "warning: scheme 'marker' is also offered by")) << twice.out;

  const auto missing = runCommand({kBusway, "plugins", "list", "--path", dir.file("absent")});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_TRUE(contains(missing.err, dir.file("absent") + ": no such folder")) << missing.err;
}

TEST(CliPlugins, ListUsesBuswayPluginPath) {
  TempDir a;
  TempDir b;
  copyInto(b, kPlugin, "libmarker.so");
  ::setenv("BUSWAY_PLUGIN_PATH", (a.path() + ":" + b.path()).c_str(), 1);
  const auto r = runCommand({kBusway, "plugins", "list"});
  ::unsetenv("BUSWAY_PLUGIN_PATH");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, a.path() + ":\n  (no plugins)")) << r.out;
  EXPECT_TRUE(contains(r.out, b.path() + ":\n  test-marker 0.3.1")) << r.out;
}

// A plugin's own options on the command line, checked against its manifest before anything
// runs: a bad one stops the command with exit 2 and says which and why.
TEST(CliPlugins, PluginOptionsAreCheckedBeforeTheBusStarts) {
  TempDir dir;
  const std::string table = dir.write("routes.xml", R"(<routes xmlns="urn:busway:routes:1">
  <route id="call"><from uri="direct:in"/><to uri="http://127.0.0.1:9/x"/></route>
</routes>
)");
  const auto good =
      runCommand({kBusway, "validate", "--plugin-option", "http.client-threads=8", table});
  EXPECT_EQ(good.exit_code, 0) << good.err;
  const auto bad_value =
      runCommand({kBusway, "validate", "--plugin-option", "http.client-threads=many", table});
  EXPECT_EQ(bad_value.exit_code, 2);
  EXPECT_TRUE(contains(bad_value.err,
                       "busway validate: --plugin-option http.client-threads=many: plugin 'http': "
                       "option 'client-threads' of http: is 'many', expected an integer"))
      << bad_value.err;
  const auto typo =
      runCommand({kBusway, "run", "--plugin-option", "htp.client-threads=8", "--for", "1s", table});
  EXPECT_EQ(typo.exit_code, 2);
  EXPECT_TRUE(contains(typo.err, "no plugin 'htp' is installed (did you mean 'http'?)"))
      << typo.err;
  const auto shape = runCommand({kBusway, "run", "--plugin-option", "http=8", table});
  EXPECT_EQ(shape.exit_code, 2);
  EXPECT_TRUE(contains(shape.err, "expected PLUGIN.OPTION=VALUE")) << shape.err;
}

TEST(CliPlugins, HelpAndUsageErrors) {
  const auto help = runCommand({kBusway, "plugins", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_TRUE(contains(help.out, "usage: busway plugins SUBCOMMAND"));
  for (const std::string sub : {"list", "inspect", "keygen", "sign", "verify"}) {
    const auto r = runCommand({kBusway, "plugins", sub, "--help"});
    EXPECT_EQ(r.exit_code, 0) << sub;
    EXPECT_TRUE(contains(r.out, "usage: busway plugins " + sub)) << r.out;
  }
  const auto unknown = runCommand({kBusway, "plugins", "frobnicate"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_TRUE(contains(unknown.err,
                       "unknown subcommand 'frobnicate'; the subcommands are list, inspect, "
                       "keygen, sign, verify, new"))
      << unknown.err;
  EXPECT_EQ(runCommand({kBusway, "plugins"}).exit_code, 2);
  EXPECT_EQ(runCommand({kBusway, "plugins", "keygen"}).exit_code, 2);
  EXPECT_EQ(runCommand({kBusway, "plugins", "sign", "x.so"}).exit_code, 2);
  EXPECT_EQ(runCommand({kBusway, "plugins", "verify", "x.so"}).exit_code, 2);
  EXPECT_EQ(runCommand({kBusway, "plugins", "inspect"}).exit_code, 2);
  EXPECT_EQ(runCommand({kBusway, "plugins", "inspect", "--frob", kPlugin}).exit_code, 2);
  EXPECT_TRUE(contains(runCommand({kBusway, "--help"}).out, "plugins SUBCOMMAND"));
}

}  // namespace
}  // namespace busway::testing

namespace busway::testing {
namespace {

// The conformance kit must be able to fail: the C echo test plugin does not deliver again
// a message the bus refused, which breaks at-least-once.
TEST(PluginsCheck, FlagsAConsumerThatDoesNotRedeliverARefusedMessage) {
  const std::string plugin =
      std::string(BUSWAY_BINARY_DIR) + "/tests/test-plugins/echo_plugin/echo_plugin.so";
  const auto r = runCommand({BUSWAY_EXE, "plugins", "check", plugin}, std::chrono::seconds(60));
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("PASS  init"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("send (request-reply) completed"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(
                "FAIL  echo:check: the message the bus refused ('tick 1') was not delivered again"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("conformance: 1 check(s) failed"), std::string::npos) << r.out;
}

TEST(PluginsCheck, RefusesAFileThatIsNotAPlugin) {
  const auto r =
      runCommand({BUSWAY_EXE, "plugins", "check", "/usr/lib/x86_64-linux-gnu/libstdc++.so.6"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("FAIL  manifest:"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace busway::testing
