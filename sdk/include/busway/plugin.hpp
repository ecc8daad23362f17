#pragma once

// busway C++ SDK: header-only C++20 on top of the C ABI in busway/plugin.h.
//
// A plugin is one class derived from busway::sdk::Plugin that lists its endpoint, format
// and transformer classes, plus one macro:
//
//   class OrdersEndpoint : public busway::sdk::Endpoint {
//    public:
//     static constexpr std::string_view scheme = "acme-erp";
//     OrdersEndpoint(AcmePlugin& plugin, const busway::sdk::Options& options);
//     void send(busway::sdk::Sending& sending) override;         // producer
//     void startConsumer(busway::sdk::Route route) override;     // consumer
//     void stopConsumer() override;
//   };
//
//   class AcmePlugin : public busway::sdk::Plugin {
//    public:
//     using Plugin::Plugin;  // AcmePlugin(busway::sdk::Host, const busway::sdk::Options& config)
//     using Endpoints = busway::sdk::List<OrdersEndpoint>;
//     using Formats = busway::sdk::List<>;        // optional, empty by default
//     using Transformers = busway::sdk::List<>;   // optional, empty by default
//   };
//
//   BUSWAY_PLUGIN(AcmePlugin);
//
// busway_add_plugin() (CMake) defines BUSWAY_PLUGIN_ID and BUSWAY_PLUGIN_VERSION from
// plugin.json, which the descriptor must repeat; without it use
// BUSWAY_PLUGIN_WITH_ID(AcmePlugin, "acme-erp", "1.2.0");
//
// THE BOUNDARY. Every function the SDK hands the host catches every exception. Throw
// busway::sdk::Error (or TransientError, InvalidError...) to choose the status; any other
// std::exception becomes BW_ERR_PERMANENT with what() as the message. Exceptions from
// void callbacks (stop, destroy, drain, timers, done callbacks) are logged and dropped.
//
// THREADING (the rules of plugin.h, in the SDK's words):
//  - Plugin constructor (init), drain and destructor (destroy): once each, control thread.
//  - Endpoint/Format/Transformer constructors and destructors, Endpoint::startConsumer and
//    stopConsumer: the bus's control thread, one call at a time.
//  - Endpoint::send, Format::marshal/unmarshal, Transformer::apply: concurrently from the
//    bus's worker threads. Shared state needs a mutex or atomics.
//  - Route::deliver, Host::*, Sending::complete/fail of a deferred send: any thread, any
//    time between the plugin's init and destroy.
//  - Done callbacks (Route::deliver) and timers (Host::schedule): any thread, and a done
//    callback may run before deliver() has returned. Never hold a lock around deliver()
//    that the done callback also takes.
//  - Nothing of the plugin runs after destroy: stop your threads in stopConsumer, drain
//    and the destructors. Timers cannot be cancelled: capture a Route or a weak_ptr in
//    them, never a raw `this` that may be destroyed first.
//
// THE ACK CONTRACT (at-least-once). A consumer acknowledges a message to its source only
// in the done callback of Route::deliver, and only when DeliveryResult::ok(). Otherwise,
// or when deliver() itself refuses, it leaves the message with the source for redelivery.

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "busway/plugin.h"
#include "busway/sdk/endpoint.hpp"
#include "busway/sdk/error.hpp"
#include "busway/sdk/host.hpp"
#include "busway/sdk/message.hpp"
#include "busway/sdk/options.hpp"

namespace busway::sdk {

// The ABI this SDK builds plugins for.
inline constexpr std::uint32_t kAbiMajor = BW_ABI_MAJOR;
inline constexpr std::uint32_t kAbiMinor = BW_ABI_MINOR;

// A list of classes, for Plugin::Endpoints, Formats and Transformers.
template <class... Types>
struct List {};

// The plugin: one instance per loaded plugin, between init and destroy. Holds what its
// endpoints share (connection pools, credentials from the plugin's configuration).
class Plugin {
 public:
  using Endpoints = List<>;
  using Formats = List<>;
  using Transformers = List<>;

  // `config`: the plugin's own options (manifest "config"), checked by the host.
  Plugin(Host host, const Options& config) : host_(host) { static_cast<void>(config); }
  Plugin(const Plugin&) = delete;
  Plugin& operator=(const Plugin&) = delete;
  Plugin(Plugin&&) = delete;
  Plugin& operator=(Plugin&&) = delete;
  virtual ~Plugin() = default;

  // Stop taking new work and finish what is in flight, within `timeout`. Endpoints have
  // been stopped by then; this is for plugin-wide work (flushing a shared batch).
  virtual void drain(std::chrono::milliseconds timeout) { static_cast<void>(timeout); }

  Host host() const noexcept { return host_; }

 private:
  Host host_;
};

namespace detail {

template <class>
inline constexpr bool kAlwaysFalse = false;

// A NUL-terminated copy of a compile-time name, for the C tables' `const char*`.
template <std::size_t N>
constexpr std::array<char, N + 1> terminated(std::string_view text) {
  std::array<char, N + 1> out{};
  for (std::size_t i = 0; i < N; ++i) out[i] = text[i];
  out[N] = '\0';
  return out;
}

template <class P>
struct PluginState {
  Host host;
  std::unique_ptr<P> plugin;
};

// Builds an endpoint/format/transformer with the constructor it declares.
template <class T, class P>
std::unique_ptr<T> construct(PluginState<P>& state, const Options& options) {
  if constexpr (std::is_constructible_v<T, P&, const Options&>) {
    return std::make_unique<T>(*state.plugin, options);
  } else if constexpr (std::is_constructible_v<T, Host, const Options&>) {
    return std::make_unique<T>(state.host, options);
  } else {
    static_assert(kAlwaysFalse<T>,
                  "give the class a public constructor T(YourPlugin&, const busway::sdk::Options&) "
                  "or T(busway::sdk::Host, const busway::sdk::Options&)");
    return nullptr;
  }
}

inline auto reporter(const Host& host, const char* what) {
  return [host, what](std::string_view error) { host.error(what, " failed: ", error); };
}

template <class P, class E>
struct EndpointAdapter {
  static_assert(std::is_base_of_v<Endpoint, E>,
                "an endpoint class must derive from busway::sdk::Endpoint");
  static_assert(std::is_convertible_v<decltype(E::scheme), std::string_view>,
                "an endpoint class needs `static constexpr std::string_view scheme = \"...\";`");
  static constexpr std::string_view kScheme = E::scheme;
  static_assert(!kScheme.empty(), "an endpoint's scheme must not be empty");
  static constexpr auto kSchemeText = terminated<kScheme.size()>(kScheme);
  // An override has the subclass's member-pointer type; the base's means "not offered".
  // (Keep the overrides public.)
  static constexpr bool kConsumes =
      !std::is_same_v<decltype(&E::startConsumer), decltype(&Endpoint::startConsumer)>;
  static constexpr bool kProduces = !std::is_same_v<decltype(&E::send), decltype(&Endpoint::send)>;
  static_assert(kConsumes || kProduces,
                "an endpoint must override startConsumer(), send() or both");

  struct Instance {
    PluginState<P>* plugin = nullptr;
    std::unique_ptr<E> endpoint;
    std::shared_ptr<RouteState> consumer;  // set while consuming
  };

  static bw_status create(void* plugin_state, bw_str uri, bw_str path, const bw_option* options,
                          std::size_t option_count, void** endpoint_out, bw_error* error) noexcept {
    return guard(error, [&] {
      auto* state = static_cast<PluginState<P>*>(plugin_state);
      const Options parsed(options, option_count, view(uri), view(path));
      auto instance = std::make_unique<Instance>();
      instance->plugin = state;
      instance->endpoint = construct<E>(*state, parsed);
      *endpoint_out = instance.release();
      return Status::ok;
    });
  }

  static void destroy(void* endpoint) noexcept {
    std::unique_ptr<Instance> instance(static_cast<Instance*>(endpoint));
    if (!instance) return;
    const Host host = instance->plugin->host;
    stopConsuming(*instance);  // the host should have stopped it; make sure nothing outlives us
    guardVoid(reporter(host, "destroying an endpoint"), [&] { instance.reset(); });
  }

  static bw_status start(void* endpoint, bw_route* route, void** consumer_out,
                         bw_error* error) noexcept {
    auto* instance = static_cast<Instance*>(endpoint);
    return guard(error, [&] {
      if (instance->consumer) {
        throw Error(Status::invalid, "endpoint '" + std::string(kScheme) +
                                         "' is already consuming; start one consumer per endpoint");
      }
      auto state = std::make_shared<RouteState>(instance->plugin->host, route);
      try {
        instance->endpoint->startConsumer(Route(state));
      } catch (...) {
        state->stop();  // copies the endpoint kept must not deliver for a consumer that never
                        // started
        throw;
      }
      instance->consumer = std::move(state);
      *consumer_out = instance;
      return Status::ok;
    });
  }

  static void stop(void* consumer) noexcept {
    if (consumer != nullptr) stopConsuming(*static_cast<Instance*>(consumer));
  }

  static void stopConsuming(Instance& instance) noexcept {
    if (!instance.consumer) return;
    const auto state = std::move(instance.consumer);
    {
      // Refuse new deliveries first: a poller racing with stop gets `rejected` and leaves
      // the message with its source.
      const std::lock_guard<std::mutex> lock(state->mutex);
      state->stopped = true;
    }
    guardVoid(reporter(instance.plugin->host, "stopping a consumer"),
              [&] { instance.endpoint->stopConsumer(); });
    state->stop();  // returns when no deliver call is inside the host any more
  }

  static bw_status send(void* endpoint, bw_sending* sending, bw_error* error) noexcept {
    auto* instance = static_cast<Instance*>(endpoint);
    Sending handle(instance->plugin->host, sending);
    const bw_status status = guard(error, [&] {
      instance->endpoint->send(handle);
      return Status::ok;
    });
    std::optional<Completion> result;
    if (handle.deferred_) {
      auto& deferred = *handle.deferred_;
      const std::lock_guard<std::mutex> lock(deferred.mutex);
      deferred.returned = true;
      // Threw after defer(): the synchronous error is the answer; a later completion is dropped.
      if (status != BW_OK) deferred.abandoned = true;
      result = std::move(deferred.early);
      if (status == BW_OK && !result) return BW_PENDING;
    } else {
      result = std::move(handle.sync_);
    }
    if (status != BW_OK || !result) return status;
    // Finished before returning (synchronously, or a deferred send that completed early).
    if (result->status != Status::ok) {
      writeError(error, result->error);
      return toC(result->status);
    }
    if (!result->reply) return BW_OK;
    return guard(error, [&] {
      // plugin.h: a synchronous reply is written into the message being sent.
      if (handle.wantsReply()) handle.message().assign(result->reply);
      return Status::ok;
    });
  }

  static constexpr bw_endpoint_api api{
      sizeof(bw_endpoint_api),
      kSchemeText.data(),
      &create,
      &destroy,
      kConsumes ? &start : nullptr,
      kConsumes ? &stop : nullptr,
      kProduces ? &send : nullptr,
  };
};

// Formats and transformers share their shape: create/destroy plus in-place operations.
template <class P, class T>
struct Instance {
  Host host;
  std::unique_ptr<T> object;
};

template <class P, class T>
bw_status createObject(void* plugin_state, const bw_option* options, std::size_t count, void** out,
                       bw_error* error) noexcept {
  return guard(error, [&] {
    auto* state = static_cast<PluginState<P>*>(plugin_state);
    auto instance = std::make_unique<Instance<P, T>>();
    instance->host = state->host;
    instance->object = construct<T>(*state, Options(options, count));
    *out = instance.release();
    return Status::ok;
  });
}

template <class P, class T>
void destroyObject(void* object) noexcept {
  std::unique_ptr<Instance<P, T>> instance(static_cast<Instance<P, T>*>(object));
  if (!instance) return;
  const Host host = instance->host;
  guardVoid(reporter(host, "destroying a format or transformer"), [&] { instance.reset(); });
}

template <class T>
constexpr std::string_view nameOf() {
  static_assert(
      std::is_convertible_v<decltype(T::name), std::string_view>,
      "a format or transformer class needs `static constexpr std::string_view name = \"...\";`");
  return T::name;
}

template <class P, class F>
struct FormatAdapter {
  static_assert(std::is_base_of_v<Format, F>,
                "a format class must derive from busway::sdk::Format");
  static constexpr std::string_view kName = nameOf<F>();
  static_assert(!kName.empty(), "a format's name must not be empty");
  static constexpr auto kNameText = terminated<kName.size()>(kName);

  static bw_status marshal(void* format, bw_message* message, bw_error* error) noexcept {
    auto* instance = static_cast<Instance<P, F>*>(format);
    return guard(error, [&] {
      instance->object->marshal(MessageRef(instance->host.api(), message));
      return Status::ok;
    });
  }
  static bw_status unmarshal(void* format, bw_message* message, bw_error* error) noexcept {
    auto* instance = static_cast<Instance<P, F>*>(format);
    return guard(error, [&] {
      instance->object->unmarshal(MessageRef(instance->host.api(), message));
      return Status::ok;
    });
  }

  static constexpr bw_format_api api{
      sizeof(bw_format_api), kNameText.data(), &createObject<P, F>,
      &destroyObject<P, F>,  &marshal,         &unmarshal,
  };
};

template <class P, class T>
struct TransformerAdapter {
  static_assert(std::is_base_of_v<Transformer, T>,
                "a transformer class must derive from busway::sdk::Transformer");
  static constexpr std::string_view kName = nameOf<T>();
  static_assert(!kName.empty(), "a transformer's name must not be empty");
  static constexpr auto kNameText = terminated<kName.size()>(kName);

  static bw_status apply(void* transformer, bw_message* message, bw_error* error) noexcept {
    auto* instance = static_cast<Instance<P, T>*>(transformer);
    return guard(error, [&] {
      instance->object->apply(MessageRef(instance->host.api(), message));
      return Status::ok;
    });
  }

  static constexpr bw_transformer_api api{
      sizeof(bw_transformer_api), kNameText.data(), &createObject<P, T>,
      &destroyObject<P, T>,       &apply,
  };
};

template <class P, class L>
struct Tables;
template <class P, class... Es, class... Fs, class... Ts>
struct Tables<P, List<List<Es...>, List<Fs...>, List<Ts...>>> {
  static constexpr std::array<const bw_endpoint_api*, sizeof...(Es)> endpoints{
      &EndpointAdapter<P, Es>::api...};
  static constexpr std::array<const bw_format_api*, sizeof...(Fs)> formats{
      &FormatAdapter<P, Fs>::api...};
  static constexpr std::array<const bw_transformer_api*, sizeof...(Ts)> transformers{
      &TransformerAdapter<P, Ts>::api...};
};

template <class P>
struct PluginAdapter {
  static_assert(std::is_base_of_v<Plugin, P>,
                "BUSWAY_PLUGIN needs a class derived from busway::sdk::Plugin");
  static_assert(std::is_constructible_v<P, Host, const Options&>,
                "the plugin class needs a public constructor P(busway::sdk::Host, const "
                "busway::sdk::Options&) "
                "(write `using Plugin::Plugin;`)");

  static bw_status init(const bw_host_api* host_api, bw_host* host, const bw_option* config,
                        std::size_t count, void** plugin_state_out, bw_error* error) noexcept {
    // The host checked the ABI version before calling us; a table shorter than this SDK's
    // would mean a host that lies about its minor version, so refuse rather than read past it.
    if (host_api == nullptr || host_api->struct_size < sizeof(bw_host_api) ||
        host_api->abi_major != BW_ABI_MAJOR || host_api->abi_minor < BW_ABI_MINOR) {
      const auto major = host_api == nullptr ? 0U : host_api->abi_major;
      const auto minor = host_api == nullptr ? 0U : host_api->abi_minor;
      writeError(error, "this plugin needs a host with ABI " + std::to_string(BW_ABI_MAJOR) + "." +
                            std::to_string(BW_ABI_MINOR) + " or a later " +
                            std::to_string(BW_ABI_MAJOR) + ".x; the host offers " +
                            std::to_string(major) + "." + std::to_string(minor));
      return BW_ERR_UNSUPPORTED;
    }
    return guard(error, [&] {
      auto state = std::make_unique<PluginState<P>>();
      state->host = Host(host_api, host);
      state->plugin = std::make_unique<P>(state->host, Options(config, count));
      *plugin_state_out = state.release();
      return Status::ok;
    });
  }

  static void drain(void* plugin_state, std::uint64_t timeout_ms) noexcept {
    auto* state = static_cast<PluginState<P>*>(plugin_state);
    const auto timeout = std::chrono::milliseconds(static_cast<std::chrono::milliseconds::rep>(
        std::min<std::uint64_t>(timeout_ms, static_cast<std::uint64_t>(INT64_MAX))));
    guardVoid(reporter(state->host, "draining the plugin"), [&] { state->plugin->drain(timeout); });
  }

  static void destroy(void* plugin_state) noexcept {
    std::unique_ptr<PluginState<P>> state(static_cast<PluginState<P>*>(plugin_state));
    if (!state) return;
    const Host host = state->host;
    guardVoid(reporter(host, "destroying the plugin"), [&] { state.reset(); });
    // The host has dropped the timers still pending; free what they would have run.
    detail::dropPendingTasks();
  }

  using Lists = List<typename P::Endpoints, typename P::Formats, typename P::Transformers>;
  static constexpr auto& endpoints = Tables<P, Lists>::endpoints;
  static constexpr auto& formats = Tables<P, Lists>::formats;
  static constexpr auto& transformers = Tables<P, Lists>::transformers;
};

template <class P>
constexpr bw_plugin_descriptor makeDescriptor(const char* id, const char* version) {
  using A = PluginAdapter<P>;
  return bw_plugin_descriptor{
      sizeof(bw_plugin_descriptor),
      BW_ABI_MAJOR,
      BW_ABI_MINOR,
      id,
      version,
      &A::init,
      &A::drain,
      &A::destroy,
      A::endpoints.empty() ? nullptr : A::endpoints.data(),
      A::endpoints.size(),
      A::formats.empty() ? nullptr : A::formats.data(),
      A::formats.size(),
      A::transformers.empty() ? nullptr : A::transformers.data(),
      A::transformers.size(),
  };
}

}  // namespace detail
}  // namespace busway::sdk

// Exports the plugin: defines busway_plugin_entry, returning a descriptor in static storage
// (constant-initialised: the entry point runs no code of the plugin, as plugin.h demands).
// The descriptor is returned whatever ABI the host reports, so that a host that cannot
// load it can name both versions in its refusal. Use once per plugin, at namespace scope,
// followed by a semicolon.
#define BUSWAY_PLUGIN_WITH_ID(PluginClass, Id, Version)                                      \
  extern "C" BW_EXPORT const bw_plugin_descriptor* busway_plugin_entry(uint32_t, uint32_t) { \
    static constexpr bw_plugin_descriptor kBuswayDescriptor =                                \
        ::busway::sdk::detail::makeDescriptor<PluginClass>(Id, Version);                     \
    return &kBuswayDescriptor;                                                               \
  }                                                                                          \
  static_assert(true, "BUSWAY_PLUGIN(...) is followed by a semicolon")

#if defined(BUSWAY_PLUGIN_ID) && defined(BUSWAY_PLUGIN_VERSION)
#define BUSWAY_PLUGIN(PluginClass) \
  BUSWAY_PLUGIN_WITH_ID(PluginClass, BUSWAY_PLUGIN_ID, BUSWAY_PLUGIN_VERSION)
#else
#define BUSWAY_PLUGIN(PluginClass)                                                         \
  static_assert(                                                                           \
      sizeof(PluginClass) == 0,                                                            \
      "BUSWAY_PLUGIN_ID and BUSWAY_PLUGIN_VERSION are not defined: build the plugin with " \
      "busway_add_plugin() (it reads them from plugin.json), or use "                      \
      "BUSWAY_PLUGIN_WITH_ID(Class, \"id\", \"version\")")
#endif
