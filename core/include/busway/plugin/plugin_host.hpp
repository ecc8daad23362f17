#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "busway/plugin/manifest.hpp"
#include "busway/plugin/signature.hpp"
#include "busway/util/result.hpp"

class QObject;

namespace busway {

class BusContext;
struct LoadedPlugin;

// Whether plugins must be signed by a trusted key. Bundled plugins (shipped with busway,
// in the bundled folder) are exempt. Can be tightened on a running bus, never loosened.
struct PluginPolicy {
  bool require_signatures = false;
  std::string trust_dir;  // folder of trusted *.pub keys
};

// One plugin file found on the search path, known from its manifest alone until loaded.
struct PluginInfo {
  std::string path;
  bool bundled = false;
  std::optional<PluginManifest> manifest;  // empty when the file was refused
  std::string problem;                     // why it was refused or failed, for people
  SignatureCheck signature;
  enum class State { available, refused, loaded, failed } state = State::available;
};

const char* toString(PluginInfo::State state) noexcept;

// Finds, checks, loads and unloads plugins, and makes what they offer available to routes:
// each endpoint scheme becomes a Component (loaded on first use), each transformer a
// transformer kind. A bad file is refused with one line naming the file and the reason;
// the bus keeps running.
class PluginHost {
 public:
  enum class Mode {
    run,       // load plugins when a route needs them
    validate,  // never load: check URIs against manifests only (busway validate)
  };

  PluginHost(BusContext& context, std::vector<std::string> search_path, PluginPolicy policy,
             Mode mode = Mode::run, std::string bundled_dir = {});
  ~PluginHost();
  PluginHost(const PluginHost&) = delete;
  PluginHost& operator=(const PluginHost&) = delete;

  // Reads the manifests of every *.so on the search path (no plugin code runs) and
  // registers what they offer. Files seen before are skipped. Returns the problems found,
  // one line each (also logged).
  std::vector<std::string> scan();

  std::vector<PluginInfo> plugins() const;

  // Tightens the policy (e.g. start requiring signatures). Loosening is refused.
  Result<void> setPolicy(const PluginPolicy& policy);
  PluginPolicy policy() const;

  // Loads a plugin by id (if not loaded): verifies the signature per policy over the very
  // bytes that are loaded, checks the ABI, runs its init.
  Result<std::shared_ptr<LoadedPlugin>> load(const std::string& id);

  // Sets one of a plugin's own options (the manifest's "config"), checked against the
  // manifest: the plugin's init receives it when the plugin loads. Refused for a plugin
  // that is not installed or already loaded, and for an unknown option or a bad value.
  Result<void> configure(const std::string& id, const std::string& option,
                         const std::string& value);

  // Watches the plugin folders; new files are scanned and `on_change` runs (e.g. to reload
  // the routing table, so routes waiting for a scheme come up). Needs a Qt event loop.
  void watch(std::function<void()> on_change);

  // Asks every loaded plugin to finish its work (drain) and lets go of it: a plugin is
  // destroyed and unloaded once nothing made from it (an endpoint of a route) is left.
  void shutdown(std::chrono::milliseconds timeout);

  // Counters a loaded plugin reported through metric_add.
  std::map<std::string, double> metrics(const std::string& id) const;

  BusContext& context() noexcept { return context_; }
  Mode mode() const noexcept { return mode_; }

 private:
  struct Entry;
  Result<std::shared_ptr<LoadedPlugin>> loadLocked(Entry& entry);
  void registerOffers(Entry& entry);

  BusContext& context_;
  std::vector<std::string> search_path_;
  std::string bundled_dir_;
  Mode mode_;
  mutable std::mutex mutex_;
  PluginPolicy policy_;
  std::vector<std::unique_ptr<Entry>> entries_;
  std::map<std::string, Entry*> by_scheme_;
  std::unique_ptr<QObject> watcher_owner_;
};

// One "PLUGIN.OPTION=VALUE" as given on the command line (--plugin-option), applied with
// PluginHost::configure; the error names the setting.
Result<void> applyPluginSetting(PluginHost& host, const std::string& setting);

// The search path from BUSWAY_PLUGIN_PATH (colon-separated), else the default folder.
std::vector<std::string> defaultPluginPath();

}  // namespace busway
