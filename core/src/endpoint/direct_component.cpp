// direct: synchronous in-process call of another route, on the caller's thread.
#include <map>
#include <mutex>

#include "busway/endpoint/component_registry.hpp"
#include "busway/runtime/bus_context.hpp"
#include "core_components_impl.hpp"

namespace busway {
namespace {

// The route consuming a direct: name. During a reload the new route's consumer attaches
// before the old one detaches, so callers never find the channel empty; if the new table
// is rolled back, detaching its consumer brings the old one back.
class DirectChannel {
 public:
  void attach(const void* owner, ProcessorPtr route) {
    std::lock_guard lock(mutex_);
    std::erase_if(attached_, [owner](const auto& a) { return a.first == owner; });
    attached_.emplace_back(owner, std::move(route));
  }
  void detach(const void* owner) {
    std::lock_guard lock(mutex_);
    std::erase_if(attached_, [owner](const auto& a) { return a.first == owner; });
  }
  // The most recently attached consumer.
  ProcessorPtr current() const {
    std::lock_guard lock(mutex_);
    return attached_.empty() ? nullptr : attached_.back().second;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::pair<const void*, ProcessorPtr>> attached_;
};

class DirectProducer final : public Processor {
 public:
  DirectProducer(std::shared_ptr<DirectChannel> channel, std::string name)
      : channel_(std::move(channel)), name_(std::move(name)) {}
  bool process(const ExchangePtr& exchange, Done done) override {
    const ProcessorPtr route = channel_->current();
    if (!route) {
      exchange->fail(ErrorKind::transient,
                     "no route consumes " + name_ + " (is the route stopped or missing?)", name_);
      return true;
    }
    return route->process(exchange, std::move(done));
  }

 private:
  std::shared_ptr<DirectChannel> channel_;
  std::string name_;
};

class DirectConsumer final : public Consumer {
 public:
  DirectConsumer(std::shared_ptr<DirectChannel> channel, ProcessorPtr route)
      : channel_(std::move(channel)), route_(std::move(route)) {}
  ~DirectConsumer() override { stop(); }
  Result<void> start() override {
    channel_->attach(this, route_);
    return {};
  }
  void stop() override { channel_->detach(this); }

 private:
  std::shared_ptr<DirectChannel> channel_;
  ProcessorPtr route_;
};

class DirectEndpoint final : public Endpoint {
 public:
  DirectEndpoint(Uri uri, std::shared_ptr<DirectChannel> channel)
      : Endpoint(std::move(uri)), channel_(std::move(channel)) {}
  Result<ProcessorPtr> createProducer() override {
    return ProcessorPtr(std::make_shared<DirectProducer>(channel_, uri().key()));
  }
  Result<std::unique_ptr<Consumer>> createConsumer(ProcessorPtr route) override {
    return std::unique_ptr<Consumer>(std::make_unique<DirectConsumer>(channel_, std::move(route)));
  }

 private:
  std::shared_ptr<DirectChannel> channel_;
};

class DirectComponent final : public Component {
 public:
  std::string_view scheme() const override { return "direct"; }
  std::vector<OptionSpec> options() const override { return {}; }
  Result<EndpointPtr> resolve(const Uri& uri, BusContext&) override {
    if (uri.path.empty())
      return Error(ErrorKind::invalid, "direct: needs a name, for example direct:validate-order");
    std::lock_guard lock(mutex_);
    auto& channel = channels_[uri.path];
    if (!channel) channel = std::make_shared<DirectChannel>();
    return EndpointPtr(std::make_shared<DirectEndpoint>(uri, channel));
  }

 private:
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<DirectChannel>> channels_;
};

}  // namespace

std::shared_ptr<Component> makeDirectComponent() { return std::make_shared<DirectComponent>(); }

}  // namespace busway
