#include "stub_component.hpp"

namespace busway::testkit {
namespace {

ErrorKind kindOf(const std::string& name) {
  if (name == "permanent") return ErrorKind::permanent;
  if (name == "invalid") return ErrorKind::invalid;
  if (name == "timeout") return ErrorKind::timeout;
  if (name == "rejected") return ErrorKind::rejected;
  return ErrorKind::transient;
}

class StubProducer final : public Processor {
 public:
  explicit StubProducer(std::shared_ptr<StubEndpointState> state) : state_(std::move(state)) {}
  bool process(const ExchangePtr& exchange, Done) override {
    state_->send(*exchange);
    return true;
  }
  bool synchronous() const noexcept override { return true; }

 private:
  std::shared_ptr<StubEndpointState> state_;
};

class StubConsumer final : public Consumer {
 public:
  StubConsumer(std::shared_ptr<StubEndpointState> state, ProcessorPtr route)
      : state_(std::move(state)), route_(std::move(route)) {}
  ~StubConsumer() override { stop(); }
  Result<void> start() override {
    state_->attach(route_);
    return {};
  }
  void stop() override { state_->detach(); }

 private:
  std::shared_ptr<StubEndpointState> state_;
  ProcessorPtr route_;
};

class StubEndpoint final : public Endpoint {
 public:
  StubEndpoint(Uri uri, std::shared_ptr<StubEndpointState> state)
      : Endpoint(std::move(uri)), state_(std::move(state)) {}
  Result<ProcessorPtr> createProducer() override {
    return ProcessorPtr(std::make_shared<StubProducer>(state_));
  }
  Result<std::unique_ptr<Consumer>> createConsumer(ProcessorPtr route) override {
    return std::unique_ptr<Consumer>(std::make_unique<StubConsumer>(state_, std::move(route)));
  }

 private:
  std::shared_ptr<StubEndpointState> state_;
};

}  // namespace

void StubEndpointState::configure(const StubSpec& spec) {
  const std::lock_guard lock(mutex_);
  spec_ = spec;
}

void StubEndpointState::send(Exchange& exchange) {
  std::unique_lock lock(mutex_);
  received_.push_back(exchange.message);
  const int attempt = ++sends_;
  const auto spec = spec_;
  arrived_.notify_all();
  lock.unlock();
  if (spec && attempt <= spec->fail_first) {
    exchange.fail(kindOf(spec->fail_kind),
                  "stub '" + name_ + "' fails send " + std::to_string(attempt) + " of the first " +
                      std::to_string(spec->fail_first) + ", as the test asked",
                  "stub:" + name_);
    return;
  }
  if (spec && spec->reply && exchange.pattern == ExchangePattern::in_out) {
    Message reply = exchange.message;
    reply.setBody(spec->reply->body, spec->reply->media_type);
    for (const auto& [name, value] : spec->reply->headers)
      reply.headers().set(name, HeaderValue(value));
    exchange.reply = std::move(reply);
  }
}

std::vector<Message> StubEndpointState::received() const {
  const std::lock_guard lock(mutex_);
  return received_;
}

std::size_t StubEndpointState::waitFor(std::size_t count,
                                       std::chrono::steady_clock::time_point deadline) const {
  std::unique_lock lock(mutex_);
  arrived_.wait_until(lock, deadline, [&] { return received_.size() >= count; });
  return received_.size();
}

void StubEndpointState::attach(ProcessorPtr route) {
  const std::lock_guard lock(mutex_);
  route_ = std::move(route);
}

void StubEndpointState::detach() {
  const std::lock_guard lock(mutex_);
  route_.reset();
}

ProcessorPtr StubEndpointState::route() const {
  const std::lock_guard lock(mutex_);
  return route_;
}

Result<EndpointPtr> StubComponent::resolve(const Uri& uri, BusContext&) {
  return EndpointPtr(std::make_shared<StubEndpoint>(uri, state(uri.path)));
}

std::shared_ptr<StubEndpointState> StubComponent::state(const std::string& name) {
  const std::lock_guard lock(mutex_);
  auto& slot = states_[name];
  if (!slot) slot = std::make_shared<StubEndpointState>(name);
  return slot;
}

bool StubComponent::has(const std::string& name) const {
  const std::lock_guard lock(mutex_);
  return states_.count(name) != 0;
}

}  // namespace busway::testkit
