#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "busway/plugin/plugin_host.hpp"

namespace busway::cli {

// Exit codes shared by every command.
inline constexpr int kOk = 0;
inline constexpr int kFailed =
    1;  // the command ran and found a problem (invalid table, drain timeout)
inline constexpr int kUsage = 2;  // the command line itself was wrong

// The arguments after the command name, with a small flag parser: --name value,
// --name=value and boolean --name.
class Args {
 public:
  Args(std::string command, std::vector<std::string> args)
      : command_(std::move(command)), args_(std::move(args)) {}

  // Consumes --name (boolean).
  bool flag(const std::string& name);
  // Consumes --name VALUE or --name=VALUE; false when absent. Sets `error` when the value is
  // missing.
  bool option(const std::string& name, std::string& value);
  // What is left: positional arguments. Unknown --options make `error` set.
  std::vector<std::string> positional();
  const std::string& error() const { return error_; }
  const std::string& command() const { return command_; }
  // The arguments not consumed yet, in order (for commands with subcommands).
  const std::vector<std::string>& remaining() const noexcept { return args_; }

 private:
  std::string command_;
  std::vector<std::string> args_;
  std::string error_;
};

// Plugin options shared by run and validate.
struct PluginOptions {
  std::vector<std::string> search_path;
  bool require_signatures = false;
  std::string trust_dir;
  std::vector<std::string> settings;  // --plugin-option ID.NAME=VALUE, as given
  std::string error;
  bool parse(Args& args);  // false: see `error` or args.error()
};
const char* pluginOptionsHelp();
// Null when a --plugin-option is refused; `error` then says which and why.
std::unique_ptr<PluginHost> makePluginHost(BusContext& context, const PluginOptions& options,
                                           PluginHost::Mode mode, std::string& error);

// $BUSWAY_DATA_DIR, else $XDG_STATE_HOME/busway, else ~/.local/state/busway (store_command.cpp).
std::filesystem::path defaultDataDir();

int runCommand(Args& args);
// `busway store verify|repair` and `busway dlq ...` (store_command.cpp).
int storeCommand(Args& args);
int dlqCommand(Args& args);
int validateCommand(Args& args);
int graphCommand(Args& args);
// `busway test PATH...` (test_command.cpp).
int testCommand(Args& args);
// The bundled plugin folder next to the binary (PREFIX/lib/busway/plugins).
std::string bundledPluginDir();
// `busway plugins SUBCOMMAND` (plugins_command.cpp).
int pluginsCommand(Args& args);
// `busway plugins new NAME` (plugins_new_command.cpp).
int pluginsNewCommand(Args& args);
int pluginsCheckCommand(Args& args);

}  // namespace busway::cli
