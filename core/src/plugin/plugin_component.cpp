// Plugin endpoints seen as core Components: options come from the manifest (so URIs are
// checked without loading anything); the library is loaded when a route first resolves one.
#include "busway/endpoint/component_registry.hpp"
#include "busway/plugin/plugin_host.hpp"
#include "busway/runtime/bus_context.hpp"
#include "plugin_internal.hpp"

namespace busway {
namespace {

bw_str str(std::string_view s) { return bw_str{s.data(), s.size()}; }

class PluginProducer final : public Processor {
 public:
  PluginProducer(std::shared_ptr<const Endpoint> owner, const bw_endpoint_api* api, void* endpoint,
                 std::string where)
      : owner_(std::move(owner)), api_(api), endpoint_(endpoint), where_(std::move(where)) {}

  bool process(const ExchangePtr& exchange, Done done) override {
    auto* sending = new bw_sending(exchange);
    sending->wants_reply = exchange->pattern == ExchangePattern::in_out;
    sending->where = where_;
    sending->done = std::move(done);
    ErrorBuffer error;
    const bw_status status = api_->send(endpoint_, sending, &error.error);
    if (status == BW_PENDING) {
      int expected = 0;
      if (sending->state.compare_exchange_strong(expected, 2)) return false;  // completes later
      // Completed while send() ran: finish here, synchronously.
      delete sending;
      return true;
    }
    delete sending;
    if (status != BW_OK)
      exchange->fail(toErrorKind(status), errorText(error.error, status), where_);
    return true;
  }

 private:
  std::shared_ptr<const Endpoint> owner_;  // keeps the plugin's endpoint alive while we send
  const bw_endpoint_api* api_;
  void* endpoint_;
  std::string where_;
};

class PluginConsumer final : public Consumer {
 public:
  PluginConsumer(std::shared_ptr<const Endpoint> owner, const bw_endpoint_api* api, void* endpoint,
                 ProcessorPtr route, boost::asio::any_io_executor executor, bool inline_routes,
                 std::string where)
      : owner_(std::move(owner)),
        api_(api),
        endpoint_(endpoint),
        route_(std::make_shared<bw_route>()) {
    route_->route = std::move(route);
    route_->executor = std::move(executor);
    route_->run_inline = inline_routes;
    route_->where = std::move(where);
  }
  ~PluginConsumer() override { stop(); }

  Result<void> start() override {
    if (consumer_ != nullptr) return {};
    route_->open = true;
    ErrorBuffer error;
    const bw_status status = api_->start(endpoint_, route_.get(), &consumer_, &error.error);
    if (status != BW_OK) {
      consumer_ = nullptr;
      return Error(ErrorKind::unavailable,
                   route_->where + ": could not start: " + errorText(error.error, status));
    }
    return {};
  }

  void stop() override {
    route_->open = false;
    if (consumer_ != nullptr) {
      api_->stop(consumer_);
      consumer_ = nullptr;
    }
  }

 private:
  std::shared_ptr<const Endpoint> owner_;  // keeps the plugin's endpoint alive while consuming
  const bw_endpoint_api* api_;
  void* endpoint_;
  // Shared: deliveries in flight keep the route handle alive after stop().
  std::shared_ptr<bw_route> route_;
  void* consumer_ = nullptr;
};

// Owns the plugin's endpoint handle. Producers and consumers made from it share that
// ownership: a compiled route keeps its producers, not the endpoint objects.
class PluginEndpoint final : public Endpoint, public std::enable_shared_from_this<PluginEndpoint> {
 public:
  PluginEndpoint(Uri uri, LoadedPluginPtr plugin, const bw_endpoint_api* api, void* handle,
                 boost::asio::any_io_executor executor, bool inline_routes)
      : Endpoint(std::move(uri)),
        plugin_(plugin),
        api_(api),
        handle_(handle),
        executor_(std::move(executor)),
        inline_routes_(inline_routes) {}
  ~PluginEndpoint() override {
    if (api_->destroy != nullptr) api_->destroy(handle_);
  }

  Result<ProcessorPtr> createProducer() override {
    if (api_->send == nullptr) {
      return Error(ErrorKind::invalid, uri().scheme + ": (plugin " + plugin_->id +
                                           ") only starts routes (from), it cannot be sent to");
    }
    return ProcessorPtr(
        std::make_shared<PluginProducer>(shared_from_this(), api_, handle_, uri().redacted()));
  }
  Result<std::unique_ptr<Consumer>> createConsumer(ProcessorPtr route) override {
    if (api_->start == nullptr || api_->stop == nullptr) {
      return Error(ErrorKind::invalid,
                   uri().scheme + ": (plugin " + plugin_->id +
                       ") only receives messages (to), it cannot start a route");
    }
    return std::unique_ptr<Consumer>(std::make_unique<PluginConsumer>(
        shared_from_this(), api_, handle_, std::move(route), executor_, inline_routes_,
        plugin_->id + " " + uri().redacted()));
  }

 private:
  LoadedPluginPtr plugin_;  // keeps the library loaded while this endpoint exists
  const bw_endpoint_api* api_;
  void* handle_;
  boost::asio::any_io_executor executor_;
  bool inline_routes_;  // the manifest's "inline_routes"
};

// Used by `busway validate`: the URI was checked against the manifest, nothing is loaded.
class UnloadedEndpoint final : public Endpoint {
 public:
  UnloadedEndpoint(Uri uri, bool consumer, bool producer, std::string plugin)
      : Endpoint(std::move(uri)),
        consumer_(consumer),
        producer_(producer),
        plugin_(std::move(plugin)) {}
  Result<ProcessorPtr> createProducer() override {
    if (!producer_)
      return Error(ErrorKind::invalid,
                   uri().scheme + ": (plugin " + plugin_ + ") cannot be sent to");
    return ProcessorPtr();
  }
  Result<std::unique_ptr<Consumer>> createConsumer(ProcessorPtr) override {
    if (!consumer_)
      return Error(ErrorKind::invalid,
                   uri().scheme + ": (plugin " + plugin_ + ") cannot start a route");
    return std::unique_ptr<Consumer>();
  }

 private:
  bool consumer_;
  bool producer_;
  std::string plugin_;
};

class PluginEndpointComponent final : public Component {
 public:
  PluginEndpointComponent(PluginHost& host, std::string plugin_id, std::string path,
                          PluginManifest::Offer offer)
      : host_(host),
        plugin_id_(std::move(plugin_id)),
        path_(std::move(path)),
        offer_(std::move(offer)) {}

  std::string_view scheme() const override { return offer_.name; }
  std::vector<OptionSpec> options() const override { return offer_.options; }

  Result<EndpointPtr> resolve(const Uri& uri, BusContext& context) override {
    if (host_.mode() == PluginHost::Mode::validate) {
      return EndpointPtr(
          std::make_shared<UnloadedEndpoint>(uri, offer_.consumer, offer_.producer, plugin_id_));
    }
    auto loaded = host_.load(plugin_id_);
    if (!loaded) {
      return Error(ErrorKind::unavailable,
                   uri.scheme + ": is offered by plugin '" + plugin_id_ + "' (" + path_ +
                       "), which is unavailable: " + loaded.error().message);
    }
    LoadedPluginPtr plugin = *loaded;
    const bw_endpoint_api* api = plugin->endpointApi(offer_.name);
    if (api == nullptr || api->create == nullptr) {
      return Error(ErrorKind::unavailable, "plugin '" + plugin_id_ + "' lists scheme '" +
                                               offer_.name +
                                               "' in its manifest but does not implement it");
    }
    OptionArray options(uri.options, offer_.options);
    void* handle = nullptr;
    ErrorBuffer error;
    const bw_status status = api->create(plugin->state, str(uri.text), str(uri.path),
                                         options.data(), options.size(), &handle, &error.error);
    if (status != BW_OK) return Error(toErrorKind(status), errorText(error.error, status));
    return EndpointPtr(std::make_shared<PluginEndpoint>(uri, plugin, api, handle,
                                                        context.executor(), offer_.inline_routes));
  }

 private:
  PluginHost& host_;
  std::string plugin_id_;
  std::string path_;
  PluginManifest::Offer offer_;
};

}  // namespace

std::shared_ptr<Component> makePluginEndpointComponent(PluginHost& host, std::string plugin_id,
                                                       std::string path,
                                                       PluginManifest::Offer offer) {
  return std::make_shared<PluginEndpointComponent>(host, std::move(plugin_id), std::move(path),
                                                   std::move(offer));
}

}  // namespace busway
