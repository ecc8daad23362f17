#pragma once

// The host's side of the C ABI: what the opaque handles of busway/plugin.h are, and the
// adapters that make a plugin's endpoints, formats and transformers look like core ones.

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "busway/endpoint/endpoint.hpp"
#include "busway/message/exchange.hpp"
#include "busway/plugin.h"
#include "busway/plugin/manifest.hpp"
#include "busway/router/processor.hpp"
#include "busway/util/asio.hpp"

// A message crossing the boundary: either owned (made by message_new, or handed to a
// plugin) or a view of an exchange's message (a producer's sending, a reply).
struct bw_message {
  busway::Message owned;
  busway::Message* target = &owned;
  // Header values that are not strings are rendered to text on request; the texts live
  // here until the message changes, as plugin.h promises.
  std::deque<std::string> texts;

  bw_message() = default;
  explicit bw_message(busway::Message message) : owned(std::move(message)) {}
  explicit bw_message(busway::Message* borrowed) : target(borrowed) {}
  bw_message(const bw_message&) = delete;
  bw_message& operator=(const bw_message&) = delete;
};

namespace busway {
// Timers a plugin scheduled. Shared with the timer handlers, which may run after the
// plugin is gone (cancelled handlers still run): they must find this, not freed memory.
struct PluginTimers {
  std::mutex mutex;
  std::condition_variable idle;
  std::map<std::uint64_t, std::shared_ptr<boost::asio::steady_timer>> pending;
  std::uint64_t next = 1;
  int running = 0;      // callbacks in plugin code right now
  bool closed = false;  // set before the plugin is destroyed: no callback starts after it

  // Cancels what is pending and waits for running callbacks to return.
  void close();
};
}  // namespace busway

struct bw_host {
  std::string plugin_id;
  boost::asio::any_io_executor executor;
  std::shared_ptr<busway::PluginTimers> timers = std::make_shared<busway::PluginTimers>();
  std::mutex metrics_mutex;
  std::map<std::string, double> metrics;
};

struct bw_route {
  busway::ProcessorPtr route;
  boost::asio::any_io_executor executor;
  std::atomic<bool> open{true};
  // The manifest's "inline_routes": deliver runs the route on the caller's thread.
  bool run_inline = false;
  std::string where;  // "plugin-id scheme:" for messages
};

struct bw_sending {
  busway::ExchangePtr exchange;
  busway::Done done;
  bw_message message;
  bool wants_reply = false;
  std::string where;
  // 0: send() running; 1: completed while send() ran; 2: send() returned pending.
  std::atomic<int> state{0};

  explicit bw_sending(busway::ExchangePtr ex)
      : exchange(std::move(ex)), message(&exchange->message) {}
};

namespace busway {

class PluginHost;

// A plugin in memory: its library handle, descriptor and state. Shared by everything made
// from it (endpoints, transformers): the plugin is destroyed and its library unloaded when
// the last of them goes, never while the bus still uses a piece of it.
struct LoadedPlugin {
  LoadedPlugin() = default;
  ~LoadedPlugin();
  LoadedPlugin(const LoadedPlugin&) = delete;
  LoadedPlugin& operator=(const LoadedPlugin&) = delete;

  std::string id;
  std::string path;
  PluginManifest manifest;
  void* library = nullptr;
  // The in-memory file the library was loaded from, open for as long as the library is:
  // the dynamic loader knows libraries by path, and a closed descriptor's number (hence
  // its /proc/self/fd path) would be reused by the next plugin.
  int memfd = -1;
  const bw_plugin_descriptor* descriptor = nullptr;
  void* state = nullptr;
  bw_host host;
  bool initialised = false;

  const bw_endpoint_api* endpointApi(const std::string& scheme) const;
  const bw_format_api* formatApi(const std::string& name) const;
  const bw_transformer_api* transformerApi(const std::string& name) const;
};

const bw_host_api* hostApi();
bw_status toStatus(ErrorKind kind) noexcept;
ErrorKind toErrorKind(bw_status status) noexcept;
std::string errorText(const bw_error& error, bw_status status);

// Options of a URI (or transformer) with defaults from the schema, as C structs whose
// strings live as long as this object.
class OptionArray {
 public:
  OptionArray(const std::vector<std::pair<std::string, std::string>>& given,
              const std::vector<OptionSpec>& specs);
  const bw_option* data() const noexcept { return options_.data(); }
  std::size_t size() const noexcept { return options_.size(); }

 private:
  std::vector<std::pair<std::string, std::string>> values_;
  std::vector<bw_option> options_;
};

// Error buffer on the stack for one call.
struct ErrorBuffer {
  char text[1024] = {0};
  bw_error error{sizeof(bw_error), text, sizeof text};
};

using LoadedPluginPtr = std::shared_ptr<LoadedPlugin>;

std::shared_ptr<Component> makePluginEndpointComponent(PluginHost& host, std::string plugin_id,
                                                       std::string path,
                                                       PluginManifest::Offer offer);

}  // namespace busway
