#include "busway/plugin/plugin_host.hpp"

#include <QDir>
#include <QFileSystemWatcher>
#include <QObject>
#include <QTimer>
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <dlfcn.h>
#include <sys/mman.h>
#include <unistd.h>

#include "busway/endpoint/component_registry.hpp"
#include "busway/router/transformer.hpp"
#include "busway/runtime/bus_context.hpp"
#include "busway/util/log.hpp"
#include "busway/util/text.hpp"
#include "plugin_internal.hpp"

namespace busway {
namespace fs = std::filesystem;

const char* toString(PluginInfo::State state) noexcept {
  switch (state) {
    case PluginInfo::State::available: return "available";
    case PluginInfo::State::refused: return "refused";
    case PluginInfo::State::loaded: return "loaded";
    case PluginInfo::State::failed: return "failed";
  }
  return "?";
}

std::vector<std::string> defaultPluginPath() {
  std::vector<std::string> out;
  if (const char* env = std::getenv("BUSWAY_PLUGIN_PATH"); env != nullptr && *env != '\0') {
    std::string_view rest(env);
    while (!rest.empty()) {
      const auto colon = rest.find(':');
      if (colon != 0) out.emplace_back(rest.substr(0, colon));
      if (colon == std::string_view::npos) break;
      rest.remove_prefix(colon + 1);
    }
    return out;
  }
#ifdef BUSWAY_DEFAULT_PLUGIN_DIR
  out.emplace_back(BUSWAY_DEFAULT_PLUGIN_DIR);
#endif
  return out;
}

struct PluginHost::Entry {
  PluginInfo info;
  std::shared_ptr<LoadedPlugin> loaded;
  std::vector<std::pair<std::string, std::string>> config;  // set by configure()
};

LoadedPlugin::~LoadedPlugin() {
  host.timers->close();
  if (initialised && descriptor->destroy != nullptr) descriptor->destroy(state);
  if (library != nullptr) ::dlclose(library);
  if (memfd >= 0) ::close(memfd);
}

namespace {

Result<std::string> readWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error(ErrorKind::invalid, path + ": cannot read: " + std::strerror(errno));
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

std::string readSignatureText(const std::string& path) {
  std::ifstream in(path + ".sig", std::ios::binary);
  if (!in) return {};
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string abiText(std::uint32_t major, std::uint32_t minor) {
  return std::to_string(major) + "." + std::to_string(minor);
}

// The plugin's ABI against ours: same major, and a minor we know.
std::string abiProblem(std::uint32_t major, std::uint32_t minor) {
  if (major == BW_ABI_MAJOR && minor <= BW_ABI_MINOR) return {};
  return "built for plugin ABI " + abiText(major, minor) + ", but this busway speaks ABI " +
         abiText(BW_ABI_MAJOR, BW_ABI_MINOR) + " (it loads plugins of ABI " +
         std::to_string(BW_ABI_MAJOR) + ".0 to " + abiText(BW_ABI_MAJOR, BW_ABI_MINOR) +
         "); rebuild the plugin against this busway's SDK";
}

class PluginTransformer final : public Transformer {
 public:
  PluginTransformer(LoadedPluginPtr plugin, const bw_transformer_api* api, void* handle,
                    std::string name)
      : plugin_(std::move(plugin)), api_(api), handle_(handle), name_(std::move(name)) {}
  ~PluginTransformer() override {
    if (api_->destroy != nullptr) api_->destroy(handle_);
  }
  Result<void> apply(Exchange& exchange) const override {
    bw_message message(&exchange.message);
    ErrorBuffer error;
    const bw_status status = api_->apply(handle_, &message, &error.error);
    if (status != BW_OK) return Error(toErrorKind(status), errorText(error.error, status), name_);
    return {};
  }

 private:
  LoadedPluginPtr plugin_;
  const bw_transformer_api* api_;
  void* handle_;
  std::string name_;
};

class PluginFormatStep final : public Transformer {
 public:
  PluginFormatStep(LoadedPluginPtr plugin, std::shared_ptr<void> handle, const bw_format_api* api,
                   bool marshal, std::string name)
      : plugin_(std::move(plugin)),
        handle_(std::move(handle)),
        api_(api),
        marshal_(marshal),
        name_(std::move(name)) {}
  Result<void> apply(Exchange& exchange) const override {
    bw_message message(&exchange.message);
    ErrorBuffer error;
    const bw_status status = marshal_ ? api_->marshal(handle_.get(), &message, &error.error)
                                      : api_->unmarshal(handle_.get(), &message, &error.error);
    if (status != BW_OK) return Error(toErrorKind(status), errorText(error.error, status), name_);
    return {};
  }

 private:
  LoadedPluginPtr plugin_;  // declared first: destroyed last, after the handle
  std::shared_ptr<void> handle_;
  const bw_format_api* api_;
  bool marshal_;
  std::string name_;
};

// `busway validate` checks transformer names without loading anything.
class UnloadedTransformer final : public Transformer {
 public:
  Result<void> apply(Exchange&) const override {
    return Error(ErrorKind::unavailable, "plugin not loaded (validation only)");
  }
};

}  // namespace

PluginHost::PluginHost(BusContext& context, std::vector<std::string> search_path,
                       PluginPolicy policy, Mode mode, std::string bundled_dir)
    : context_(context),
      search_path_(std::move(search_path)),
      bundled_dir_(std::move(bundled_dir)),
      mode_(mode),
      policy_(std::move(policy)) {}

PluginHost::~PluginHost() { shutdown(std::chrono::seconds(5)); }

std::vector<std::string> PluginHost::scan() {
  std::vector<std::string> problems;
  std::lock_guard lock(mutex_);
  std::vector<std::string> folders = search_path_;
  if (!bundled_dir_.empty()) folders.insert(folders.begin(), bundled_dir_);
  for (const auto& folder : folders) {
    std::error_code ec;
    if (!fs::is_directory(folder, ec)) continue;
    std::vector<fs::path> files;
    for (const auto& item : fs::directory_iterator(folder, ec)) {
      if (item.is_regular_file() && item.path().extension() == ".so") files.push_back(item.path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& file : files) {
      const std::string path = fs::weakly_canonical(file, ec).string();
      const bool known = std::any_of(entries_.begin(), entries_.end(),
                                     [&](const auto& e) { return e->info.path == path; });
      if (known) continue;
      auto entry = std::make_unique<Entry>();
      entry->info.path = path;
      entry->info.bundled = !bundled_dir_.empty() && folder == bundled_dir_;
      auto manifest = readManifest(path);
      if (!manifest) {
        entry->info.state = PluginInfo::State::refused;
        entry->info.problem = manifest.error().message;
      } else if (const auto abi = abiProblem(manifest->abi_major, manifest->abi_minor);
                 !abi.empty()) {
        entry->info.state = PluginInfo::State::refused;
        entry->info.problem = path + ": " + abi;
        entry->info.manifest = std::move(*manifest);
      } else {
        entry->info.manifest = std::move(*manifest);
        const auto& id = entry->info.manifest->id;
        for (const auto& other : entries_) {
          if (other->info.manifest && other->info.manifest->id == id &&
              other->info.state != PluginInfo::State::refused) {
            entry->info.state = PluginInfo::State::refused;
            entry->info.problem = path + ": plugin id '" + id + "' is already installed from " +
                                  other->info.path + "; remove one of them";
          }
        }
      }
      if (entry->info.state != PluginInfo::State::refused && policy_.require_signatures &&
          !entry->info.bundled) {
        // Checked again over the loaded bytes at load time; this is for listing.
        auto store = TrustStore::loadFolder(policy_.trust_dir);
        auto bytes = readWholeFile(path);
        if (store && bytes) entry->info.signature = store->verify(*bytes, readSignatureText(path));
      }
      if (entry->info.state != PluginInfo::State::refused) registerOffers(*entry);
      if (!entry->info.problem.empty()) {
        problems.push_back(entry->info.problem);
        logWarn("plugins", "refused " + entry->info.problem);
      } else {
        Log::write(LogLevel::debug, "plugins",
                   "found " + entry->info.manifest->id + " " + entry->info.manifest->version +
                       " (" + path + ")");
      }
      entries_.push_back(std::move(entry));
    }
  }
  return problems;
}

void PluginHost::registerOffers(Entry& entry) {
  const PluginManifest& manifest = *entry.info.manifest;
  auto& registry = context_.components();
  for (const auto& offer : manifest.endpoints) {
    if (Component* existing = registry.find(offer.name)) {
      (void)existing;
      const auto it = by_scheme_.find(offer.name);
      const std::string holder =
          it != by_scheme_.end() ? it->second->info.path : std::string("busway core");
      entry.info.state = PluginInfo::State::refused;
      entry.info.problem = entry.info.path + ": scheme '" + offer.name +
                           "' is already offered by " + holder + "; remove one of the two plugins";
      return;
    }
  }
  for (const auto& offer : manifest.endpoints) {
    (void)registry.add(makePluginEndpointComponent(*this, manifest.id, entry.info.path, offer),
                       "plugin " + manifest.id + " (" + entry.info.path + ")");
    by_scheme_[offer.name] = &entry;
  }
  auto& transformers = context_.transformers();
  const std::string id = manifest.id;
  for (const auto& offer : manifest.transformers) {
    const std::string name = offer.name;
    const auto options = offer.options;
    transformers.add(
        name,
        [this, id, name, options](const std::map<std::string, std::string>& given)
            -> Result<std::shared_ptr<const Transformer>> {
          if (mode_ == Mode::validate)
            return std::shared_ptr<const Transformer>(std::make_shared<UnloadedTransformer>());
          auto loaded = load(id);
          if (!loaded)
            return Error(ErrorKind::unavailable, "transformer '" + name + "' of plugin '" + id +
                                                     "' is unavailable: " + loaded.error().message);
          const bw_transformer_api* api = (*loaded)->transformerApi(name);
          if (api == nullptr)
            return Error(ErrorKind::unavailable,
                         "plugin '" + id + "' does not implement transformer '" + name + "'");
          OptionArray array(
              std::vector<std::pair<std::string, std::string>>(given.begin(), given.end()),
              options);
          void* handle = nullptr;
          ErrorBuffer error;
          const bw_status status =
              api->create((*loaded)->state, array.data(), array.size(), &handle, &error.error);
          if (status != BW_OK) return Error(toErrorKind(status), errorText(error.error, status));
          return std::shared_ptr<const Transformer>(
              std::make_shared<PluginTransformer>(*loaded, api, handle, "transform:" + name));
        });
  }
  // A data format is used as two transformers: marshal:NAME and unmarshal:NAME.
  for (const auto& offer : manifest.formats) {
    for (const bool marshal : {true, false}) {
      const std::string name = offer.name;
      const auto options = offer.options;
      transformers.add(
          (marshal ? "marshal:" : "unmarshal:") + name,
          [this, id, name, options, marshal](const std::map<std::string, std::string>& given)
              -> Result<std::shared_ptr<const Transformer>> {
            // Options are checked against the manifest (names, types) before anything loads.
            Uri given_options;
            given_options.scheme = name;
            given_options.options.assign(given.begin(), given.end());
            if (auto checked = checkOptions(given_options, options); !checked)
              return std::move(checked).error();
            if (mode_ == Mode::validate)
              return std::shared_ptr<const Transformer>(std::make_shared<UnloadedTransformer>());
            auto loaded = load(id);
            if (!loaded)
              return Error(ErrorKind::unavailable,
                           "format '" + name + "' of plugin '" + id +
                               "' is unavailable: " + loaded.error().message);
            const bw_format_api* api = (*loaded)->formatApi(name);
            if (api == nullptr)
              return Error(ErrorKind::unavailable,
                           "plugin '" + id + "' does not implement format '" + name + "'");
            OptionArray array(
                std::vector<std::pair<std::string, std::string>>(given.begin(), given.end()),
                options);
            void* handle = nullptr;
            ErrorBuffer error;
            const bw_status status =
                api->create((*loaded)->state, array.data(), array.size(), &handle, &error.error);
            if (status != BW_OK) return Error(toErrorKind(status), errorText(error.error, status));
            std::shared_ptr<void> shared(handle, [destroy = api->destroy](void* h) {
              if (destroy != nullptr) destroy(h);
            });
            return std::shared_ptr<const Transformer>(std::make_shared<PluginFormatStep>(
                *loaded, std::move(shared), api, marshal,
                std::string(marshal ? "marshal:" : "unmarshal:") + name));
          });
    }
  }
}

std::vector<PluginInfo> PluginHost::plugins() const {
  std::lock_guard lock(mutex_);
  std::vector<PluginInfo> out;
  for (const auto& e : entries_) out.push_back(e->info);
  return out;
}

std::map<std::string, double> PluginHost::metrics(const std::string& id) const {
  std::lock_guard lock(mutex_);
  for (const auto& entry : entries_) {
    if (entry->loaded && entry->loaded->id == id) {
      std::lock_guard guard(entry->loaded->host.metrics_mutex);
      return entry->loaded->host.metrics;
    }
  }
  return {};
}

Result<void> PluginHost::setPolicy(const PluginPolicy& policy) {
  std::lock_guard lock(mutex_);
  if (policy_.require_signatures && !policy.require_signatures) {
    return Error(ErrorKind::invalid,
                 "the plugin signature policy can be tightened on a running bus, not loosened; "
                 "restart the bus to relax it");
  }
  if (policy_.require_signatures && policy.trust_dir != policy_.trust_dir) {
    return Error(ErrorKind::invalid,
                 "the trust store of a running bus that requires signatures cannot be replaced; "
                 "restart the bus");
  }
  policy_ = policy;
  return {};
}

PluginPolicy PluginHost::policy() const {
  std::lock_guard lock(mutex_);
  return policy_;
}

Result<std::shared_ptr<LoadedPlugin>> PluginHost::load(const std::string& id) {
  std::lock_guard lock(mutex_);
  for (auto& entry : entries_) {
    if (entry->info.manifest && entry->info.manifest->id == id &&
        entry->info.state != PluginInfo::State::refused) {
      return loadLocked(*entry);
    }
  }
  return Error(ErrorKind::unavailable, "no plugin with id '" + id + "' is installed");
}

Result<void> PluginHost::configure(const std::string& id, const std::string& option,
                                   const std::string& value) {
  std::lock_guard lock(mutex_);
  std::vector<std::string> ids;
  for (auto& entry : entries_) {
    if (!entry->info.manifest || entry->info.state == PluginInfo::State::refused) continue;
    const PluginManifest& manifest = *entry->info.manifest;
    ids.push_back(manifest.id);
    if (manifest.id != id) continue;
    if (entry->loaded) {
      return Error(ErrorKind::invalid, "plugin '" + id +
                                           "' is loaded already; its options take effect "
                                           "only when busway starts");
    }
    std::vector<std::string> names;
    for (const auto& spec : manifest.config) names.push_back(spec.name);
    if (names.empty()) {
      return Error(ErrorKind::invalid, "plugin '" + id + "' has no options of its own");
    }
    Uri given;
    given.scheme = id;
    given.options = {{option, value}};
    // One option at a time: whether the required ones are all set is known only at load.
    auto one_at_a_time = manifest.config;
    for (auto& spec : one_at_a_time) spec.required = false;
    if (auto checked = checkOptions(given, one_at_a_time); !checked) {
      std::string known;
      for (const auto& name : names) known += (known.empty() ? "" : ", ") + name;
      return Error(ErrorKind::invalid, "plugin '" + id + "': " + checked.error().message +
                                           " (its options: " + known + ")");
    }
    auto& config = entry->config;
    config.erase(std::remove_if(config.begin(), config.end(),
                                [&](const auto& set) { return set.first == option; }),
                 config.end());
    config.emplace_back(option, value);
    return {};
  }
  return Error(ErrorKind::invalid, "no plugin '" + id + "' is installed" + didYouMean(id, ids) +
                                       "; `busway plugins list` shows them");
}

Result<void> applyPluginSetting(PluginHost& host, const std::string& setting) {
  const auto dot = setting.find('.');
  const auto equals = setting.find('=');
  if (dot == std::string::npos || equals == std::string::npos || dot == 0 || dot > equals ||
      equals == dot + 1) {
    return Error(ErrorKind::invalid,
                 "--plugin-option " + setting +
                     ": expected PLUGIN.OPTION=VALUE, for example http.client-threads=32");
  }
  auto configured =
      host.configure(setting.substr(0, dot), setting.substr(dot + 1, equals - dot - 1),
                     setting.substr(equals + 1));
  if (!configured) {
    return Error(ErrorKind::invalid,
                 "--plugin-option " + setting + ": " + configured.error().message);
  }
  return {};
}

Result<std::shared_ptr<LoadedPlugin>> PluginHost::loadLocked(Entry& entry) {
  PluginInfo& info = entry.info;
  if (entry.loaded) return entry.loaded;
  if (info.state == PluginInfo::State::failed) return Error(ErrorKind::unavailable, info.problem);
  const auto fail = [&info](std::string problem) -> Result<std::shared_ptr<LoadedPlugin>> {
    info.state = PluginInfo::State::failed;
    info.problem = info.path + ": " + std::move(problem);
    logError("plugins", "refused " + info.problem);
    return Error(ErrorKind::unavailable, info.problem);
  };
  if (mode_ == Mode::validate)
    return Error(ErrorKind::unavailable, "plugins are not loaded while validating");

  // The bytes that are checked are the bytes that are loaded: read once, verify, then load
  // from an anonymous in-memory file, so swapping the file on disk in between changes nothing.
  auto bytes = readWholeFile(info.path);
  if (!bytes) return fail(bytes.error().message);
  if (policy_.require_signatures && !info.bundled) {
    auto store = TrustStore::loadFolder(policy_.trust_dir);
    if (!store) return fail("cannot check its signature: " + store.error().message);
    info.signature = store->verify(*bytes, readSignatureText(info.path));
    if (!info.signature.valid)
      return fail("refused by the signature policy: " + info.signature.problem);
  }
  auto section = readManifestSectionFromBytes(*bytes, info.path);
  if (!section) return fail(section.error().message);
  auto manifest = PluginManifest::fromJson(*section);
  if (!manifest) return fail("bad manifest: " + manifest.error().message);
  if (manifest->id != info.manifest->id || manifest->version != info.manifest->version) {
    return fail("the file changed since it was scanned (now " + manifest->id + " " +
                manifest->version + "); rescan");
  }
  if (const auto abi = abiProblem(manifest->abi_major, manifest->abi_minor); !abi.empty())
    return fail(abi);

  const int fd = ::memfd_create(("busway-plugin-" + manifest->id).c_str(), MFD_CLOEXEC);
  if (fd < 0) return fail(std::string("memfd_create failed: ") + std::strerror(errno));
  std::size_t written = 0;
  while (written < bytes->size()) {
    const ssize_t n = ::write(fd, bytes->data() + written, bytes->size() - written);
    if (n <= 0) {
      ::close(fd);
      return fail(std::string("could not stage the library in memory: ") + std::strerror(errno));
    }
    written += static_cast<std::size_t>(n);
  }
  const std::string fd_path = "/proc/self/fd/" + std::to_string(fd);
  void* library = ::dlopen(fd_path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr) {
    ::close(fd);
    const char* why = ::dlerror();
    return fail(std::string("the dynamic loader refused it: ") +
                (why != nullptr ? why : "unknown reason"));
  }
  auto plugin = std::make_shared<LoadedPlugin>();
  plugin->memfd = fd;
  plugin->id = manifest->id;
  plugin->path = info.path;
  plugin->library = library;
  plugin->manifest = std::move(*manifest);
  plugin->host.plugin_id = plugin->id;
  plugin->host.executor = context_.executor();
  // On refusal below, `plugin` goes away and its destructor unloads the library.

  auto* entry_fn = reinterpret_cast<bw_plugin_entry_fn>(::dlsym(library, BW_ENTRY_SYMBOL));
  if (entry_fn == nullptr) {
    return fail(std::string("missing entry point '") + BW_ENTRY_SYMBOL +
                "': not built with the busway SDK (BUSWAY_PLUGIN macro)");
  }
  const bw_plugin_descriptor* descriptor = entry_fn(BW_ABI_MAJOR, BW_ABI_MINOR);
  if (descriptor == nullptr) {
    return fail("its entry point returned no descriptor (it refuses this host's ABI " +
                abiText(BW_ABI_MAJOR, BW_ABI_MINOR) + ")");
  }
  if (descriptor->struct_size < sizeof(bw_plugin_descriptor)) {
    return fail("its descriptor is too small (" + std::to_string(descriptor->struct_size) +
                " bytes); the file is damaged or not built with this SDK");
  }
  if (const auto abi = abiProblem(descriptor->abi_major, descriptor->abi_minor); !abi.empty()) {
    return fail("its code says: " + abi);
  }
  if (descriptor->id == nullptr || plugin->id != descriptor->id || descriptor->version == nullptr ||
      plugin->manifest.version != descriptor->version) {
    return fail("its code and its manifest disagree about its id or version");
  }
  plugin->descriptor = descriptor;
  if (descriptor->init != nullptr) {
    for (const auto& spec : plugin->manifest.config) {
      const bool set = std::any_of(entry.config.begin(), entry.config.end(),
                                   [&](const auto& given) { return given.first == spec.name; });
      if (spec.required && !set) {
        return fail("its option '" + spec.name + "' is required (" + spec.doc +
                    "); set it with --plugin-option " + plugin->id + "." + spec.name + "=VALUE");
      }
    }
    OptionArray config(entry.config, plugin->manifest.config);
    ErrorBuffer error;
    const bw_status status = descriptor->init(hostApi(), &plugin->host, config.data(),
                                              config.size(), &plugin->state, &error.error);
    if (status != BW_OK) return fail("its init failed: " + errorText(error.error, status));
  }
  plugin->initialised = true;
  info.state = PluginInfo::State::loaded;
  logInfo("plugins",
          "loaded " + plugin->id + " " + plugin->manifest.version + " from " + info.path +
              (info.signature.valid ? " (signed by " + info.signature.signer + ")" : ""));
  entry.loaded = std::move(plugin);
  return entry.loaded;
}

void PluginHost::watch(std::function<void()> on_change) {
  watcher_owner_ = std::make_unique<QObject>();
  auto* watcher = new QFileSystemWatcher(watcher_owner_.get());
  auto* debounce = new QTimer(watcher_owner_.get());
  debounce->setSingleShot(true);
  debounce->setInterval(300);
  for (const auto& folder : search_path_) {
    if (QDir(QString::fromStdString(folder)).exists())
      watcher->addPath(QString::fromStdString(folder));
  }
  QObject::connect(watcher, &QFileSystemWatcher::directoryChanged, watcher_owner_.get(),
                   [debounce](const QString&) { debounce->start(); });
  QObject::connect(debounce, &QTimer::timeout, watcher_owner_.get(), [this, on_change] {
    const std::size_t before = plugins().size();
    scan();
    if (plugins().size() != before && on_change) on_change();
  });
}

void PluginHost::shutdown(std::chrono::milliseconds timeout) {
  std::vector<std::shared_ptr<LoadedPlugin>> loaded;
  {
    std::lock_guard lock(mutex_);
    for (auto& entry : entries_) {
      if (entry->loaded) loaded.push_back(std::move(entry->loaded));
    }
  }
  for (auto& plugin : loaded) {
    if (plugin->initialised && plugin->descriptor->drain != nullptr) {
      plugin->descriptor->drain(plugin->state, static_cast<std::uint64_t>(timeout.count()));
    }
  }
  // Dropping our references destroys and unloads every plugin nothing else holds.
}

}  // namespace busway
