// <marshal>/<unmarshal> with <option> children: a plugin's data format created at load with
// the options (checked against the plugin's manifest), used by the route.
#include <filesystem>

#include <gmock/gmock.h>

#include "busway/plugin/plugin_host.hpp"
#include "transform_test_support.hpp"

namespace busway::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// A plugin folder with the kv test format (tests/plugins/kv_format_plugin.c).
std::string kvFolder(const TempDir& dir) {
  const std::string folder = dir.file("plugins");
  fs::create_directories(folder);
  fs::copy_file(std::string(BUSWAY_TEST_PLUGIN_DIR) + "/kv_format_plugin/kv_format_plugin.so",
                folder + "/kv_format_plugin.so");
  return folder;
}

TEST(FormatSteps, MarshalAndUnmarshalPassTheirOptionsToTheFormat) {
  TempDir dir;
  RouteHarness h;
  PluginHost host(h.context(), {kvFolder(dir)}, {});
  host.scan();
  h.load(RouteHarness::table(R"~(<route id="read"><from uri="direct:read"/>
      <unmarshal format="kv"><option name="separator" value=": "/></unmarshal><to uri="mock:read"/></route>
    <route id="write"><from uri="direct:write"/>
      <marshal format="kv"><option name="separator" value=";"/><option name="upper-case-keys" value="true"/></marshal>
      <to uri="mock:write"/></route>
    <route id="defaults"><from uri="direct:defaults"/><marshal format="kv"/><to uri="mock:defaults"/></route>)~"));
  auto read = h.sendBody("direct:read", "sku: A-1\nqty: 2\n", "text/plain");
  ASSERT_FALSE(read->failed()) << read->error->describe();
  EXPECT_EQ(h.mock("read").bodies()[0], R"~({"sku":"A-1","qty":"2"})~");
  EXPECT_EQ(h.mock("read").messages()[0].body().mediaType(), "application/json");
  ASSERT_FALSE(h.sendBody("direct:write", R"~({"sku": "A-1", "qty": "2"})~")->failed());
  EXPECT_EQ(h.mock("write").bodies()[0], "SKU;A-1\nQTY;2\n");
  ASSERT_FALSE(h.sendBody("direct:defaults", R"~({"sku": "A-1"})~")->failed());
  EXPECT_EQ(h.mock("defaults").bodies()[0], "sku=A-1\n");
  h.bus().stop(std::chrono::seconds(5));
}

TEST(FormatSteps, BadInputFromTheFormatIsAnInvalidExchange) {
  TempDir dir;
  RouteHarness h;
  PluginHost host(h.context(), {kvFolder(dir)}, {});
  host.scan();
  h.load(routeWith(R"~(<unmarshal format="kv"/>)~", 3));
  h.sendBody("direct:in", "sku=A-1\nno separator here\n", "text/plain");
  ASSERT_TRUE(h.mock("dlq").waitFor(1));
  const auto dead = h.mock("dlq").messages()[0];
  EXPECT_THAT(dead.headers().text("busway.failure.reason"), HasSubstr("kv: line 2 has no '='"));
  EXPECT_EQ(dead.headers().text("busway.failure.kind"), "invalid");
  EXPECT_EQ(dead.headers().text("busway.failure.attempts"), "1");
  h.bus().stop(std::chrono::seconds(5));
}

TEST(FormatSteps, UnknownFormatsAndBadOptionsAreLoadErrorsAtTheStep) {
  TempDir dir;
  RouteHarness h;
  PluginHost host(h.context(), {kvFolder(dir)}, {});
  host.scan();
  auto unknown = h.loadWithErrors(routeWith("<marshal format=\"kvv\"/>"));
  EXPECT_THAT(firstError(unknown),
              HasSubstr("unknown transformer 'marshal:kvv' (did you mean 'marshal:kv'?)"));
  auto option = h.loadWithErrors(
      routeWith("<marshal format=\"kv\"><option name=\"seperator\" value=\";\"/></marshal>"));
  EXPECT_THAT(firstError(option), HasSubstr("unknown option 'seperator'"));
  EXPECT_THAT(firstError(option), HasSubstr("did you mean 'separator'"));
  auto type = h.loadWithErrors(routeWith(
      "<marshal format=\"kv\"><option name=\"upper-case-keys\" value=\"yes please\"/></marshal>"));
  EXPECT_THAT(firstError(type), HasSubstr("expected true or false"));
  auto twice = h.loadWithErrors(
      routeWith("<marshal format=\"kv\"><option name=\"separator\" value=\";\"/><option "
                "name=\"separator\" value=\",\"/></marshal>"));
  EXPECT_THAT(firstError(twice), HasSubstr("option 'separator' is given twice"));
  auto refused =
      h.loadWithErrors(routeWith("<marshal format=\"kv\"><option name=\"separator\" "
                                 "value=\"far-too-long-separator\"/></marshal>"));
  EXPECT_THAT(firstError(refused), HasSubstr("separator must be 1 to 15 characters"));
}

}  // namespace
}  // namespace busway::testing
