#include <filesystem>
#include <iostream>

#include <unistd.h>

#include "busway/plugin/plugin_host.hpp"
#include "cli.hpp"

namespace busway::cli {

bool PluginOptions::parse(Args& args) {
  std::string dir;
  while (args.option("plugin-path", dir)) search_path.push_back(dir);
  if (search_path.empty()) search_path = defaultPluginPath();
  require_signatures = args.flag("require-signatures");
  args.option("trust", trust_dir);
  std::string setting;
  while (args.option("plugin-option", setting)) settings.push_back(setting);
  if (require_signatures && trust_dir.empty()) {
    error = "--require-signatures needs --trust DIR (the folder of trusted *.pub keys)";
    return false;
  }
  return args.error().empty();
}

std::string bundledPluginDir() {
  // Bundled plugins live next to the binary: PREFIX/bin/busway and PREFIX/lib/busway/plugins,
  // which is also the layout of a build tree.
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  return (exe.parent_path().parent_path() / "lib" / "busway" / "plugins").string();
}

std::unique_ptr<PluginHost> makePluginHost(BusContext& context, const PluginOptions& options,
                                           PluginHost::Mode mode, std::string& error) {
  PluginPolicy policy;
  policy.require_signatures = options.require_signatures;
  policy.trust_dir = options.trust_dir;
  auto host =
      std::make_unique<PluginHost>(context, options.search_path, policy, mode, bundledPluginDir());
  host->scan();  // problems are logged, one line per refused file
  for (const auto& setting : options.settings) {
    if (auto applied = applyPluginSetting(*host, setting); !applied) {
      error = applied.error().message;
      return nullptr;
    }
  }
  return host;
}

const char* pluginOptionsHelp() {
  return R"(  --plugin-path DIR    where third-party plugins are (repeatable; default $BUSWAY_PLUGIN_PATH)
  --require-signatures load only plugins signed by a key in --trust (bundled ones exempt)
  --trust DIR          folder of trusted public keys (*.pub) for signature checks
  --plugin-option PLUGIN.OPTION=VALUE
                       one of a plugin's own options (repeatable; `busway plugins inspect
                       PLUGIN` lists them), checked against its manifest before it loads
)";
}

}  // namespace busway::cli
