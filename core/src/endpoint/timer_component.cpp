// timer: fires messages on a schedule. Each message carries headers timer.name and
// timer.count (1, 2, ...). A timer is a source that cannot be acknowledged.
#include <atomic>

#include "busway/endpoint/component_registry.hpp"
#include "busway/runtime/bus_context.hpp"
#include "core_components_impl.hpp"

namespace busway {
namespace {

std::vector<OptionSpec> timerOptions() {
  using T = OptionSpec::Type;
  return {
      {"period", T::duration, "1s", false, {}, "time between two messages"},
      {"count", T::integer, "0", false, {}, "messages to fire in all; 0 = no limit"},
      {"delay", T::duration, "0ms", false, {}, "wait before the first message"},
  };
}

class TimerConsumer final : public Consumer, public std::enable_shared_from_this<TimerConsumer> {
 public:
  TimerConsumer(std::string name, boost::asio::any_io_executor executor, ProcessorPtr route,
                std::chrono::milliseconds period, std::int64_t count,
                std::chrono::milliseconds delay)
      : name_(std::move(name)),
        timer_(executor),
        route_(std::move(route)),
        period_(period),
        count_(count),
        delay_(delay) {}

  Result<void> start() override {
    running_ = true;
    next_ = std::chrono::steady_clock::now() + delay_;
    schedule();
    return {};
  }

  void stop() override {
    running_ = false;
    boost::asio::post(timer_.get_executor(),
                      [self = shared_from_this()] { self->timer_.cancel(); });
  }

 private:
  void schedule() {
    timer_.expires_at(next_);
    timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec || !self->running_) return;
      self->fire();
    });
  }

  void fire() {
    const std::int64_t n = ++fired_;
    Message message;
    message.headers().set("timer.name", name_);
    message.headers().set("timer.count", n);
    runToCompletion(*route_, makeExchange(std::move(message)), [] {});
    if (count_ > 0 && n >= count_) return;
    // Fixed rate: the schedule does not drift with processing time.
    next_ += period_;
    schedule();
  }

  const std::string name_;
  boost::asio::steady_timer timer_;
  ProcessorPtr route_;
  const std::chrono::milliseconds period_;
  const std::int64_t count_;
  const std::chrono::milliseconds delay_;
  std::chrono::steady_clock::time_point next_;
  std::int64_t fired_ = 0;
  std::atomic<bool> running_{false};
};

// Consumers are owned through unique_ptr by routes, but the timer's callbacks need a
// shared owner; this handle bridges the two.
class TimerHandle final : public Consumer {
 public:
  explicit TimerHandle(std::shared_ptr<TimerConsumer> timer) : timer_(std::move(timer)) {}
  ~TimerHandle() override { timer_->stop(); }
  Result<void> start() override { return timer_->start(); }
  void stop() override { timer_->stop(); }

 private:
  std::shared_ptr<TimerConsumer> timer_;
};

class TimerEndpoint final : public Endpoint {
 public:
  TimerEndpoint(Uri uri, boost::asio::any_io_executor executor)
      : Endpoint(std::move(uri)), executor_(std::move(executor)) {}
  Result<ProcessorPtr> createProducer() override {
    return Error(ErrorKind::invalid,
                 "timer: can only start a route (from), not receive messages (to)");
  }
  Result<std::unique_ptr<Consumer>> createConsumer(ProcessorPtr route) override {
    const auto specs = timerOptions();
    const UriOptions options(uri(), specs);
    auto timer = std::make_shared<TimerConsumer>(
        uri().path, executor_, std::move(route), options.duration("period"),
        options.integer("count"), options.duration("delay"));
    return std::unique_ptr<Consumer>(std::make_unique<TimerHandle>(std::move(timer)));
  }
  bool acknowledges() const override { return false; }

 private:
  boost::asio::any_io_executor executor_;
};

class TimerComponent final : public Component {
 public:
  std::string_view scheme() const override { return "timer"; }
  std::vector<OptionSpec> options() const override { return timerOptions(); }
  Result<EndpointPtr> resolve(const Uri& uri, BusContext& context) override {
    const auto specs = timerOptions();
    const UriOptions options(uri, specs);
    if (options.duration("period").count() <= 0) {
      return Error(ErrorKind::invalid, "timer option 'period' must be greater than 0");
    }
    if (options.integer("count") < 0)
      return Error(ErrorKind::invalid, "timer option 'count' must not be negative");
    return EndpointPtr(std::make_shared<TimerEndpoint>(uri, context.executor()));
  }
};

}  // namespace

std::shared_ptr<Component> makeTimerComponent() { return std::make_shared<TimerComponent>(); }

}  // namespace busway
