#pragma once

// A small in-process host for a plugin's own unit tests. It loads the plugin file (dlopen)
// or takes a descriptor, implements bw_host_api with plain C++ objects, runs timers on a
// virtual clock (advance()), records deliveries so the test can ack or nack them, and keeps
// the plugin's log lines and metrics.
//
// It is not the bus: it does not read the manifest (so it applies no defaults: pass every
// option your code reads), does not check options against the schema and knows nothing of
// signatures. The conformance kit, `busway plugins check FILE`, does all that with the real
// host. Link the test with ${CMAKE_DL_LIBS}.
//
// Threading: call TestHost from one test thread. The plugin may call the host functions
// from its own threads; those are locked.

#include <algorithm>
#include <array>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <dlfcn.h>

#include "busway/plugin.h"
#include "busway/sdk/error.hpp"

namespace busway::sdk::testing {

using Config = std::vector<std::pair<std::string, std::string>>;

struct Message {
  Message() = default;
  // Message{"body"} or Message{"{}", "application/json"}.
  Message(std::string body_text,
          std::string media = "text/plain")  // NOLINT(google-explicit-constructor)
      : body(std::move(body_text)), media_type(std::move(media)) {}

  std::string body;
  std::string media_type = "text/plain";
  std::string id;
  std::string correlation_id;
  std::vector<std::pair<std::string, std::string>> headers;

  // Names compare case-insensitively, as in the bus.
  std::optional<std::string> header(std::string_view name) const {
    for (const auto& [key, value] : headers) {
      if (sameName(key, name)) return value;
    }
    return std::nullopt;
  }
  void setHeader(std::string_view name, std::string_view value) {
    for (auto& [key, old] : headers) {
      if (sameName(key, name)) {
        old = value;
        return;
      }
    }
    headers.emplace_back(name, value);
  }
  void removeHeader(std::string_view name) {
    headers.erase(std::remove_if(headers.begin(), headers.end(),
                                 [&](const auto& h) { return sameName(h.first, name); }),
                  headers.end());
  }

  static bool sameName(std::string_view a, std::string_view b) noexcept {
    const auto lower = [](char c) {
      return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
    };
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                              [&](char x, char y) { return lower(x) == lower(y); });
  }
};

struct SendResult {
  Status status = Status::ok;
  std::string error;
  std::optional<Message> reply;  // request-reply sends that succeeded
  bool ok() const noexcept { return status == Status::ok; }
};

struct OperationResult {
  Status status = Status::ok;
  std::string error;
  bool ok() const noexcept { return status == Status::ok; }
};

class TestHost {
 public:
  using EndpointId = std::size_t;

  TestHost() { api_ = makeApi(); }
  TestHost(const TestHost&) = delete;
  TestHost& operator=(const TestHost&) = delete;
  TestHost(TestHost&&) = delete;
  TestHost& operator=(TestHost&&) = delete;
  ~TestHost() {
    try {
      unload();
    } catch (...) {  // NOLINT(bugprone-empty-catch): a destructor must not throw
    }
  }

  // dlopen()s the plugin file, calls busway_plugin_entry and init. Throws std::runtime_error
  // with the reason when any step fails.
  void load(const std::string& path, const Config& config = {}) {
    if (library_ != nullptr || descriptor_ != nullptr)
      throw std::runtime_error("TestHost: a plugin is already loaded");
    library_ = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (library_ == nullptr) throw std::runtime_error("cannot load " + path + ": " + ::dlerror());
    void* symbol = ::dlsym(library_, BW_ENTRY_SYMBOL);
    if (symbol == nullptr) {
      unload();
      throw std::runtime_error(path + " has no " BW_ENTRY_SYMBOL
                                      " entry point: not a busway plugin");
    }
    // POSIX guarantees that a data pointer from dlsym converts to a function pointer.
    auto entry = reinterpret_cast<bw_plugin_entry_fn>(
        symbol);  // NOLINT(cppcoreguidelines-pro-type-reinterpret-cast)
    const bw_plugin_descriptor* descriptor = entry(BW_ABI_MAJOR, BW_ABI_MINOR);
    if (descriptor == nullptr) {
      unload();
      throw std::runtime_error(path + ": the entry point returned no descriptor");
    }
    try {
      load(descriptor, config);
    } catch (...) {
      unload();
      throw;
    }
  }

  // Uses a descriptor directly (a plugin compiled into the test).
  void load(const bw_plugin_descriptor* descriptor, const Config& config = {}) {
    if (descriptor_ != nullptr) throw std::runtime_error("TestHost: a plugin is already loaded");
    if (descriptor->abi_major != BW_ABI_MAJOR || descriptor->abi_minor > BW_ABI_MINOR) {
      throw std::runtime_error("plugin built for ABI " + std::to_string(descriptor->abi_major) +
                               "." + std::to_string(descriptor->abi_minor) + ", this host offers " +
                               std::to_string(BW_ABI_MAJOR) + "." + std::to_string(BW_ABI_MINOR));
    }
    descriptor_ = descriptor;
    const OptionArray options(config);
    ErrorBuffer error;
    const bw_status status =
        descriptor->init(&api_, host(), options.data(), options.size(), &plugin_, error.get());
    if (status != BW_OK) {
      descriptor_ = nullptr;
      throw std::runtime_error("plugin init failed (" + std::string(toString(fromC(status))) +
                               "): " + error.text());
    }
  }

  // The host table and handle the plugin gets, to build an sdk::Host in tests.
  const bw_host_api& api() const noexcept { return api_; }
  bw_host* handle() noexcept { return host(); }

  const bw_plugin_descriptor& descriptor() const {
    if (descriptor_ == nullptr) throw std::logic_error("TestHost: no plugin loaded");
    return *descriptor_;
  }

  // "scheme:path?name=value&name=value" (values percent-decoded). Throws std::runtime_error
  // when the plugin has no such scheme or refuses the URI.
  EndpointId createEndpoint(std::string_view uri) {
    const auto colon = uri.find(':');
    if (colon == std::string_view::npos)
      throw std::invalid_argument("endpoint URI without a scheme: " + std::string(uri));
    const std::string scheme(uri.substr(0, colon));
    std::string_view rest = uri.substr(colon + 1);
    const auto question = rest.find('?');
    const std::string path(rest.substr(0, question));
    Config config;
    if (question != std::string_view::npos) config = parseQuery(rest.substr(question + 1));
    const bw_endpoint_api* api = findEndpoint(scheme);
    const OptionArray options(config);
    ErrorBuffer error;
    void* endpoint = nullptr;
    const bw_status status = api->create(plugin_, detail::str(uri), detail::str(path),
                                         options.data(), options.size(), &endpoint, error.get());
    if (status != BW_OK) {
      throw std::runtime_error("endpoint '" + std::string(uri) + "' refused (" +
                               toString(fromC(status)) + "): " + error.text());
    }
    auto record = std::make_unique<EndpointRecord>();
    record->api = api;
    record->endpoint = endpoint;
    record->route.owner = this;
    endpoints_.push_back(std::move(record));
    return endpoints_.size() - 1;
  }

  // Sends `message`. A send that returns BW_PENDING is waited for: due timers run on the
  // virtual clock (up to `max_wait` of it), then up to 5 s of real time for the plugin's
  // own threads.
  SendResult send(EndpointId id, Message message, bool wants_reply = false,
                  std::chrono::milliseconds max_wait = std::chrono::hours(1)) {
    EndpointRecord& record = endpoint(id);
    if (record.api->send == nullptr)
      return SendResult{Status::unsupported, "the endpoint does not produce", {}};
    if (message.id.empty()) message.id = nextId();
    auto sending = std::make_unique<SendRecord>();
    sending->owner = this;
    sending->message = std::move(message);
    sending->wants_reply = wants_reply;
    ErrorBuffer error;
    const bw_status status =
        record.api->send(record.endpoint, asSending(sending.get()), error.get());
    if (status == BW_PENDING) {
      const auto deadline = now() + max_wait;
      while (!sending->isDone() && runNextTimer(deadline)) {
      }
      std::unique_lock<std::mutex> lock(mutex_);
      if (!changed_.wait_for(lock, std::chrono::seconds(5), [&] { return sending->done; })) {
        // The plugin may still complete it later: leak the record rather than let it write freed
        // memory.
        static_cast<void>(sending.release());
        return SendResult{Status::timeout, "the pending send was not completed", {}};
      }
      return sending->result();
    }
    if (status != BW_OK) return SendResult{fromC(status), error.text(), {}};
    SendResult result;
    if (wants_reply) result.reply = sending->message;
    return result;
  }

  void startConsumer(EndpointId id) {
    EndpointRecord& record = endpoint(id);
    if (record.api->start == nullptr) throw std::runtime_error("the endpoint does not consume");
    ErrorBuffer error;
    const bw_status status =
        record.api->start(record.endpoint, asRoute(&record.route), &record.consumer, error.get());
    if (status != BW_OK) {
      throw std::runtime_error("start failed (" + std::string(toString(fromC(status))) +
                               "): " + error.text());
    }
    record.consuming = true;
  }
  void stopConsumer(EndpointId id) {
    EndpointRecord& record = endpoint(id);
    if (!record.consuming) return;
    record.api->stop(record.consumer);
    record.consuming = false;
  }
  void destroyEndpoint(EndpointId id) {
    EndpointRecord& record = endpoint(id);
    stopConsumer(id);
    record.api->destroy(record.endpoint);
    record.endpoint = nullptr;
  }

  // Deliveries made by consumers, in order. Each must be acked or nacked once.
  std::size_t deliveryCount() const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return deliveries_.size();
  }
  Message delivered(std::size_t index) const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return deliveries_.at(index).message;
  }
  bool deliveredInOut(std::size_t index) const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return deliveries_.at(index).in_out;
  }
  std::size_t unfinishedDeliveries() const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return static_cast<std::size_t>(std::count_if(deliveries_.begin(), deliveries_.end(),
                                                  [](const Delivery& d) { return !d.finished; }));
  }
  // The bus finished with delivery `index` (the plugin should now ack its source).
  void ack(std::size_t index, const std::optional<Message>& reply = std::nullopt) {
    finishDelivery(index, BW_OK, reply, {});
  }
  // The bus could not take delivery `index` (the plugin should leave it with its source).
  void nack(std::size_t index, Status status = Status::transient,
            const std::string& error = "nacked by the test") {
    finishDelivery(index, toC(status), std::nullopt, error);
  }
  // Ack every delivery at once, inside deliver() (the done-before-return case).
  void setAutoAck(bool on) {
    const std::lock_guard<std::mutex> lock(mutex_);
    auto_ack_ = on;
  }
  // Refuse deliveries at once (BW_ERR_REJECTED), as a full or stopping bus does.
  void setRefuseDeliveries(bool on) {
    const std::lock_guard<std::mutex> lock(mutex_);
    refuse_ = on;
  }

  // Moves the virtual clock forward, running every timer that falls due, in order.
  void advance(std::chrono::milliseconds by) {
    const auto target = now() + by;
    while (runNextTimer(target)) {
    }
    const std::lock_guard<std::mutex> lock(mutex_);
    now_ = std::max(now_, target);
  }
  std::chrono::milliseconds now() const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return now_;
  }
  std::size_t pendingTimers() const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return timers_.size();
  }

  OperationResult transform(std::string_view name, Message& message, const Config& options = {}) {
    const bw_transformer_api* api =
        findByName(descriptor().transformers, descriptor().transformer_count, name);
    return withObject(api, options, [&](void* object, bw_error* error) {
      return api->apply(object, asMessage(&message), error);
    });
  }
  OperationResult marshal(std::string_view name, Message& message, const Config& options = {}) {
    const bw_format_api* api = findByName(descriptor().formats, descriptor().format_count, name);
    return withObject(api, options, [&](void* object, bw_error* error) {
      return api->marshal(object, asMessage(&message), error);
    });
  }
  OperationResult unmarshal(std::string_view name, Message& message, const Config& options = {}) {
    const bw_format_api* api = findByName(descriptor().formats, descriptor().format_count, name);
    return withObject(api, options, [&](void* object, bw_error* error) {
      return api->unmarshal(object, asMessage(&message), error);
    });
  }

  // "info: text" lines, in order.
  std::vector<std::string> logs() const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return logs_;
  }
  bool logged(std::string_view fragment) const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return std::any_of(logs_.begin(), logs_.end(), [&](const std::string& line) {
      return line.find(fragment) != std::string::npos;
    });
  }
  double metric(const std::string& name) const {
    const std::lock_guard<std::mutex> lock(mutex_);
    const auto it = metrics_.find(name);
    return it == metrics_.end() ? 0.0 : it->second;
  }
  // Echo log lines to stderr as they come (on by default).
  void setEcho(bool on) { echo_ = on; }

  void drain(std::chrono::milliseconds timeout) {
    if (descriptor_ != nullptr && plugin_ != nullptr)
      descriptor_->drain(plugin_, static_cast<std::uint64_t>(timeout.count()));
  }

  // Stops consumers, nacks what is unfinished, destroys endpoints, then drain, destroy and
  // dlclose. Timers still pending are dropped without running (their contexts leak, because
  // bw_host_api has no way to dispose of them without running plugin code).
  void unload() {
    for (std::size_t i = 0; i < endpoints_.size(); ++i) {
      if (endpoints_[i]->endpoint != nullptr) stopConsumer(i);
    }
    for (std::size_t i = 0; i < deliveries_.size(); ++i) {
      if (!deliveries_[i].finished)
        finishDelivery(i, BW_ERR_TRANSIENT, std::nullopt, "the test host is unloading");
    }
    for (std::size_t i = 0; i < endpoints_.size(); ++i) {
      if (endpoints_[i]->endpoint != nullptr) destroyEndpoint(i);
    }
    endpoints_.clear();
    if (descriptor_ != nullptr && plugin_ != nullptr) {
      descriptor_->drain(plugin_, 1000);
      descriptor_->destroy(plugin_);
    }
    plugin_ = nullptr;
    descriptor_ = nullptr;
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      timers_.clear();
      deliveries_.clear();
    }
    if (library_ != nullptr) ::dlclose(library_);
    library_ = nullptr;
  }

 private:
  // The opaque handles of plugin.h are these objects, cast.
  struct RouteRecord {
    TestHost* owner = nullptr;
  };
  struct EndpointRecord {
    const bw_endpoint_api* api = nullptr;
    void* endpoint = nullptr;
    void* consumer = nullptr;
    bool consuming = false;
    RouteRecord route;
  };
  struct Delivery {
    Message message;
    bool in_out = false;
    bool finished = false;
    bw_delivery_done_fn done = nullptr;
    void* context = nullptr;
  };
  struct Timer {
    std::chrono::milliseconds due;
    std::uint64_t sequence;
    void (*fn)(void*);
    void* context;
  };
  struct SendRecord {
    TestHost* owner = nullptr;
    Message message;
    bool wants_reply = false;
    bool done = false;
    Status status = Status::ok;
    std::string error;
    std::optional<Message> reply;
    bool isDone() const {
      const std::lock_guard<std::mutex> lock(owner->mutex_);
      return done;
    }
    SendResult result() const {
      return SendResult{status, error, status == Status::ok && wants_reply ? reply : std::nullopt};
    }
  };

  class ErrorBuffer {
   public:
    ErrorBuffer() : error_{sizeof(bw_error), buffer_.data(), buffer_.size()} {}
    bw_error* get() { return &error_; }
    std::string text() const { return std::string(buffer_.data()); }

   private:
    std::array<char, 1024> buffer_{};
    bw_error error_;
  };

  class OptionArray {
   public:
    explicit OptionArray(const Config& config) {
      for (const auto& [name, value] : config)
        options_.push_back(bw_option{sizeof(bw_option), detail::str(name), detail::str(value)});
    }
    const bw_option* data() const { return options_.empty() ? nullptr : options_.data(); }
    std::size_t size() const { return options_.size(); }

   private:
    std::vector<bw_option> options_;
  };

  static bw_message* asMessage(Message* m) { return reinterpret_cast<bw_message*>(m); }
  static Message* fromMessage(bw_message* m) { return reinterpret_cast<Message*>(m); }
  static const Message* fromMessage(const bw_message* m) {
    return reinterpret_cast<const Message*>(m);
  }
  static bw_route* asRoute(RouteRecord* r) { return reinterpret_cast<bw_route*>(r); }
  static bw_sending* asSending(SendRecord* s) { return reinterpret_cast<bw_sending*>(s); }
  static SendRecord* fromSending(bw_sending* s) { return reinterpret_cast<SendRecord*>(s); }
  static const SendRecord* fromSending(const bw_sending* s) {
    return reinterpret_cast<const SendRecord*>(s);
  }
  bw_host* host() { return reinterpret_cast<bw_host*>(this); }
  static TestHost* fromHost(bw_host* h) { return reinterpret_cast<TestHost*>(h); }

  static Config parseQuery(std::string_view query) {
    Config out;
    while (!query.empty()) {
      const auto amp = query.find('&');
      const auto pair = query.substr(0, amp);
      const auto eq = pair.find('=');
      if (!pair.empty())
        out.emplace_back(decode(pair.substr(0, eq)),
                         eq == std::string_view::npos ? "" : decode(pair.substr(eq + 1)));
      if (amp == std::string_view::npos) break;
      query.remove_prefix(amp + 1);
    }
    return out;
  }
  static std::string decode(std::string_view text) {
    std::string out;
    const auto hex = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    for (std::size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '%' && i + 2 < text.size() && hex(text[i + 1]) >= 0 && hex(text[i + 2]) >= 0) {
        out.push_back(static_cast<char>(hex(text[i + 1]) * 16 + hex(text[i + 2])));
        i += 2;
      } else {
        out.push_back(text[i] == '+' ? ' ' : text[i]);
      }
    }
    return out;
  }

  std::string nextId() {
    const std::lock_guard<std::mutex> lock(mutex_);
    return "test-" + std::to_string(++ids_);
  }

  EndpointRecord& endpoint(EndpointId id) {
    if (id >= endpoints_.size() || endpoints_[id]->endpoint == nullptr)
      throw std::out_of_range("TestHost: no endpoint " + std::to_string(id));
    return *endpoints_[id];
  }

  const bw_endpoint_api* findEndpoint(const std::string& scheme) const {
    const auto& d = descriptor();
    for (std::size_t i = 0; i < d.endpoint_count; ++i) {
      if (d.endpoints[i] != nullptr && scheme == d.endpoints[i]->scheme) return d.endpoints[i];
    }
    throw std::runtime_error("the plugin offers no endpoint scheme '" + scheme + "'");
  }
  template <class Api>
  static const Api* findByName(const Api* const* list, std::size_t count, std::string_view name) {
    for (std::size_t i = 0; i < count; ++i) {
      if (list[i] != nullptr && name == list[i]->name) return list[i];
    }
    throw std::runtime_error("the plugin offers nothing named '" + std::string(name) + "'");
  }
  template <class Api, class Call>
  OperationResult withObject(const Api* api, const Config& config, Call&& call) {
    const OptionArray options(config);
    ErrorBuffer error;
    void* object = nullptr;
    bw_status status = api->create(plugin_, options.data(), options.size(), &object, error.get());
    if (status == BW_OK) {
      status = call(object, error.get());
      api->destroy(object);
    }
    return OperationResult{fromC(status), status == BW_OK ? std::string() : error.text()};
  }

  // Runs the earliest timer due at or before `limit`; false when there is none.
  bool runNextTimer(std::chrono::milliseconds limit) {
    Timer timer{};
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      const auto next =
          std::min_element(timers_.begin(), timers_.end(), [](const Timer& a, const Timer& b) {
            return a.due != b.due ? a.due < b.due : a.sequence < b.sequence;
          });
      if (next == timers_.end() || next->due > limit) return false;
      timer = *next;
      timers_.erase(next);
      now_ = std::max(now_, timer.due);
    }
    timer.fn(timer.context);
    return true;
  }

  void finishDelivery(std::size_t index, bw_status status, const std::optional<Message>& reply,
                      const std::string& error) {
    Delivery* delivery = nullptr;
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      delivery = &deliveries_.at(index);
      if (delivery->finished)
        throw std::logic_error("delivery " + std::to_string(index) +
                               " was already acked or nacked");
      delivery->finished = true;
    }
    Message reply_copy = reply.value_or(Message{});
    delivery->done(delivery->context, status,
                   reply && delivery->in_out ? asMessage(&reply_copy) : nullptr,
                   detail::str(error));
  }

  // ---- bw_host_api ----------------------------------------------------------------------
  static bw_host_api makeApi() {
    bw_host_api api{};
    api.struct_size = sizeof(bw_host_api);
    api.abi_major = BW_ABI_MAJOR;
    api.abi_minor = BW_ABI_MINOR;
    api.log = [](bw_host* h, int level, bw_str message) {
      static constexpr std::array<const char*, 5> kNames{"trace", "debug", "info", "warn", "error"};
      const char* name =
          level >= 0 && level < 5 ? kNames.at(static_cast<std::size_t>(level)) : "log";
      std::string line = std::string(name) + ": " + std::string(detail::view(message));
      TestHost* self = fromHost(h);
      if (self->echo_) std::fprintf(stderr, "[plugin] %s\n", line.c_str());
      const std::lock_guard<std::mutex> lock(self->mutex_);
      self->logs_.push_back(std::move(line));
    };
    api.message_new = [](bw_host* h) {
      auto* message = new Message();
      message->id = fromHost(h)->nextId();
      return asMessage(message);
    };
    api.message_free = [](bw_message* m) { delete fromMessage(m); };
    api.message_body = [](const bw_message* m) { return detail::str(fromMessage(m)->body); };
    api.message_media_type = [](const bw_message* m) {
      return detail::str(fromMessage(m)->media_type);
    };
    api.message_set_body = [](bw_message* m, bw_str body, bw_str media_type) -> bw_status {
      Message* msg = fromMessage(m);
      std::string new_body(
          detail::view(body));  // copies first: the arguments may alias the message
      std::string new_type(detail::view(media_type));
      msg->body = std::move(new_body);
      if (!new_type.empty()) msg->media_type = std::move(new_type);
      return BW_OK;
    };
    api.message_id = [](const bw_message* m) { return detail::str(fromMessage(m)->id); };
    api.message_correlation_id = [](const bw_message* m) {
      return detail::str(fromMessage(m)->correlation_id);
    };
    api.message_set_correlation_id = [](bw_message* m, bw_str id) -> bw_status {
      fromMessage(m)->correlation_id = std::string(detail::view(id));
      return BW_OK;
    };
    api.message_header_count = [](const bw_message* m) { return fromMessage(m)->headers.size(); };
    api.message_header_at = [](const bw_message* m, std::size_t index, bw_str* name,
                               bw_str* value) {
      const auto& headers = fromMessage(m)->headers;
      if (index >= headers.size()) return 0;
      *name = detail::str(headers[index].first);
      *value = detail::str(headers[index].second);
      return 1;
    };
    api.message_header_get = [](const bw_message* m, bw_str name, bw_str* value) {
      for (const auto& [key, text] : fromMessage(m)->headers) {
        if (Message::sameName(key, detail::view(name))) {
          *value = detail::str(text);
          return 1;
        }
      }
      return 0;
    };
    api.message_header_set = [](bw_message* m, bw_str name, bw_str value) -> bw_status {
      fromMessage(m)->setHeader(std::string(detail::view(name)), std::string(detail::view(value)));
      return BW_OK;
    };
    api.message_header_set_int = [](bw_message* m, bw_str name, std::int64_t value) -> bw_status {
      fromMessage(m)->setHeader(std::string(detail::view(name)), std::to_string(value));
      return BW_OK;
    };
    api.message_header_remove = [](bw_message* m, bw_str name) -> bw_status {
      fromMessage(m)->removeHeader(std::string(detail::view(name)));
      return BW_OK;
    };
    api.deliver = [](bw_route* r, bw_message* message_owned, int in_out, bw_delivery_done_fn done,
                     void* context) -> bw_status {
      TestHost* self = reinterpret_cast<RouteRecord*>(r)->owner;
      const std::unique_ptr<Message> message(fromMessage(message_owned));
      bool auto_ack = false;
      std::size_t index = 0;
      {
        const std::lock_guard<std::mutex> lock(self->mutex_);
        if (self->refuse_) return BW_ERR_REJECTED;
        self->deliveries_.push_back(Delivery{*message, in_out != 0, false, done, context});
        index = self->deliveries_.size() - 1;
        auto_ack = self->auto_ack_;
      }
      if (auto_ack)
        self->finishDelivery(index, BW_OK,
                             in_out != 0 ? std::optional<Message>(*message) : std::nullopt, {});
      return BW_OK;
    };
    api.sending_complete = [](bw_sending* s, bw_status status, bw_message* reply_owned,
                              bw_str error) {
      SendRecord* sending = fromSending(s);
      const std::unique_ptr<Message> reply(reply_owned == nullptr ? nullptr
                                                                  : fromMessage(reply_owned));
      const std::lock_guard<std::mutex> lock(sending->owner->mutex_);
      sending->done = true;
      sending->status = fromC(status);
      sending->error = std::string(detail::view(error));
      if (reply) sending->reply = *reply;
      sending->owner->changed_.notify_all();
    };
    api.sending_message = [](bw_sending* s) -> bw_message* {
      return reinterpret_cast<bw_message*>(&fromSending(s)->message);
    };
    api.sending_wants_reply = [](const bw_sending* s) {
      return fromSending(s)->wants_reply ? 1 : 0;
    };
    api.schedule = [](bw_host* h, std::uint64_t delay_ms, void (*fn)(void*),
                      void* context) -> bw_status {
      TestHost* self = fromHost(h);
      const std::lock_guard<std::mutex> lock(self->mutex_);
      self->timers_.push_back(Timer{self->now_ + std::chrono::milliseconds(delay_ms),
                                    ++self->timer_sequence_, fn, context});
      return BW_OK;
    };
    api.metric_add = [](bw_host* h, bw_str name, double value) {
      TestHost* self = fromHost(h);
      const std::lock_guard<std::mutex> lock(self->mutex_);
      self->metrics_[std::string(detail::view(name))] += value;
    };
    return api;
  }

  bw_host_api api_{};
  void* library_ = nullptr;
  const bw_plugin_descriptor* descriptor_ = nullptr;
  void* plugin_ = nullptr;
  std::vector<std::unique_ptr<EndpointRecord>> endpoints_;

  mutable std::mutex mutex_;  // guards what the plugin may touch from its own threads
  std::condition_variable changed_;
  std::deque<Delivery> deliveries_;  // a deque: references stay valid while the plugin adds more
  std::vector<Timer> timers_;
  std::uint64_t timer_sequence_ = 0;
  std::chrono::milliseconds now_{0};
  std::vector<std::string> logs_;
  std::map<std::string, double, std::less<>> metrics_;
  std::uint64_t ids_ = 0;
  bool auto_ack_ = false;
  bool refuse_ = false;
  bool echo_ = true;
};

}  // namespace busway::sdk::testing
