// queue: asynchronous in-process channel between routes, bounded by count and bytes.
// When full, a producer either waits (its exchange is parked, no thread is blocked) or is
// refused with ErrorKind::rejected. Queues belong to the bus, not to a routing table, so
// their content survives a reload.
#include <deque>
#include <map>
#include <mutex>
#include <optional>

#include "busway/endpoint/component_registry.hpp"
#include "busway/runtime/bus_context.hpp"
#include "busway/util/log.hpp"
#include "core_components_impl.hpp"

namespace busway {
namespace {

enum class WhenFull { block, reject };

struct QueueLimits {
  std::size_t capacity = 10'000;
  std::uint64_t max_bytes = 64ull << 20;
  WhenFull when_full = WhenFull::block;
};

class QueueChannel : public std::enable_shared_from_this<QueueChannel> {
 public:
  QueueChannel(std::string name, boost::asio::any_io_executor executor)
      : name_(std::move(name)), executor_(std::move(executor)) {}

  // Changes the limits that are given and keeps the others.
  void setLimits(std::optional<std::size_t> capacity, std::optional<std::uint64_t> max_bytes,
                 std::optional<WhenFull> when_full) {
    std::lock_guard lock(mutex_);
    if (capacity) limits_.capacity = *capacity;
    if (max_bytes) limits_.max_bytes = *max_bytes;
    if (when_full) limits_.when_full = *when_full;
  }

  // Producer side. In-only: done as soon as the message is queued. In-out: done when a
  // consumer route has finished with it (the reply is the route's result).
  bool offer(const ExchangePtr& exchange, Done done) {
    std::unique_lock lock(mutex_);
    const bool in_out = exchange->pattern == ExchangePattern::in_out;
    Item item{exchange->message, in_out ? exchange : nullptr, in_out ? std::move(done) : Done{}};
    // Behind a parked producer is full too: a smaller message must not overtake it.
    if (!blocked_.empty() || isFull(item.message.body().size())) {
      if (limits_.when_full == WhenFull::reject) {
        exchange->fail(ErrorKind::rejected,
                       "queue:" + name_ + " is full (" + std::to_string(items_.size()) + " messages, " +
                           std::to_string(bytes_) + " bytes); raise capacity/max-bytes or add consumers",
                       "queue:" + name_);
        return true;
      }
      // Park the producer; it resumes when a consumer frees space.
      blocked_.push_back(Blocked{std::move(item), in_out ? Done{} : std::move(done)});
      return false;
    }
    push(std::move(item));
    dispatchLocked(lock);
    return !in_out;
  }

  void subscribe(const void* id, ProcessorPtr route, int concurrency) {
    std::unique_lock lock(mutex_);
    subscribers_.push_back(Subscriber{id, std::move(route), std::max(1, concurrency), 0});
    dispatchLocked(lock);
  }

  void unsubscribe(const void* id) {
    std::lock_guard lock(mutex_);
    std::erase_if(subscribers_, [id](const Subscriber& s) { return s.id == id; });
  }

  // Messages queued plus producers waiting for space.
  std::size_t depth() const {
    std::lock_guard lock(mutex_);
    return items_.size() + blocked_.size();
  }

 private:
  struct Item {
    Message message;
    ExchangePtr requester;  // in-out only
    Done done;              // in-out only
  };
  struct Blocked {
    Item item;
    Done resume;  // in-only producers waiting for space
  };
  struct Subscriber {
    const void* id;
    ProcessorPtr route;
    int capacity;
    int active;
  };

  bool isFull(std::size_t incoming_bytes) const {
    return items_.size() >= limits_.capacity || (!items_.empty() && bytes_ + incoming_bytes > limits_.max_bytes);
  }

  void push(Item item) {
    bytes_ += item.message.body().size();
    items_.push_back(std::move(item));
  }

  // Hands queued items to subscribers with spare capacity. Called with the lock held;
  // may release it to run completions of parked producers.
  void dispatchLocked(std::unique_lock<std::mutex>& lock) {
    for (;;) {
      Subscriber* target = nullptr;
      for (auto& s : subscribers_) {
        if (s.active < s.capacity && (target == nullptr || s.active < target->active)) target = &s;
      }
      if (target == nullptr || items_.empty()) break;
      Item item = std::move(items_.front());
      items_.pop_front();
      bytes_ -= item.message.body().size();
      ++target->active;
      boost::asio::post(executor_, [self = shared_from_this(), id = target->id, route = target->route,
                                    item = std::move(item)]() mutable { self->deliver(id, route, std::move(item)); });
    }
    // Space may have opened: admit parked producers in order.
    std::vector<Done> resumed;
    while (!blocked_.empty() && !isFull(blocked_.front().item.message.body().size())) {
      Blocked b = std::move(blocked_.front());
      blocked_.pop_front();
      if (b.resume) resumed.push_back(std::move(b.resume));
      push(std::move(b.item));
    }
    if (!resumed.empty()) {
      for (auto& r : resumed) boost::asio::post(executor_, std::move(r));
      if (!items_.empty()) dispatchLocked(lock);
    }
  }

  void deliver(const void* id, const ProcessorPtr& route, Item item) {
    ExchangePtr exchange = item.requester ? item.requester : makeExchange(std::move(item.message));
    auto finished = [self = shared_from_this(), id, exchange, done = std::move(item.done)]() {
      if (done) done();
      else if (exchange->failed()) {
        // In-only: the producer was answered when the message was queued, so the failure
        // is the consuming route's to handle; its error handler has already run.
        logWarn("queue:" + self->name_, "message " + exchange->message.id() + " failed: " + exchange->error->describe());
      }
      std::unique_lock lock(self->mutex_);
      for (auto& s : self->subscribers_) {
        if (s.id == id) --s.active;
      }
      self->dispatchLocked(lock);
    };
    runToCompletion(*route, exchange, std::move(finished));
  }

  const std::string name_;
  boost::asio::any_io_executor executor_;
  mutable std::mutex mutex_;
  QueueLimits limits_;
  std::deque<Item> items_;
  std::uint64_t bytes_ = 0;
  std::deque<Blocked> blocked_;
  std::vector<Subscriber> subscribers_;
};

class QueueProducer final : public Processor {
 public:
  explicit QueueProducer(std::shared_ptr<QueueChannel> channel) : channel_(std::move(channel)) {}
  bool process(const ExchangePtr& exchange, Done done) override { return channel_->offer(exchange, std::move(done)); }

 private:
  std::shared_ptr<QueueChannel> channel_;
};

class QueueConsumer final : public Consumer {
 public:
  QueueConsumer(std::shared_ptr<QueueChannel> channel, ProcessorPtr route, int concurrency)
      : channel_(std::move(channel)), route_(std::move(route)), concurrency_(concurrency) {}
  ~QueueConsumer() override { stop(); }
  Result<void> start() override {
    channel_->subscribe(this, route_, concurrency_);
    return {};
  }
  void stop() override { channel_->unsubscribe(this); }

 private:
  std::shared_ptr<QueueChannel> channel_;
  ProcessorPtr route_;
  int concurrency_;
};

std::vector<OptionSpec> queueOptions() {
  using T = OptionSpec::Type;
  return {
      {"capacity", T::integer, "10000", false, {}, "most messages held before the queue is full"},
      {"max-bytes", T::size, "64MB", false, {}, "most body bytes held before the queue is full"},
      {"when-full", T::enumeration, "block", false, {"block", "reject"},
       "block: the producer waits for space (no thread is held); reject: the producer fails with 'rejected'"},
      {"consumers", T::integer, "1", false, {}, "messages a consuming route processes at the same time"},
  };
}

struct RequestedLimits {
  std::optional<std::size_t> capacity;
  std::optional<std::uint64_t> max_bytes;
  std::optional<WhenFull> when_full;
};

class QueueEndpoint final : public Endpoint {
 public:
  QueueEndpoint(Uri uri, std::shared_ptr<QueueChannel> channel, int consumers, RequestedLimits limits)
      : Endpoint(std::move(uri)), channel_(std::move(channel)), consumers_(consumers), limits_(limits) {}
  void activate() override {
    if (limits_.capacity || limits_.max_bytes || limits_.when_full) {
      channel_->setLimits(limits_.capacity, limits_.max_bytes, limits_.when_full);
    }
  }
  Result<ProcessorPtr> createProducer() override { return ProcessorPtr(std::make_shared<QueueProducer>(channel_)); }
  Result<std::unique_ptr<Consumer>> createConsumer(ProcessorPtr route) override {
    return std::unique_ptr<Consumer>(std::make_unique<QueueConsumer>(channel_, std::move(route), consumers_));
  }

 private:
  std::shared_ptr<QueueChannel> channel_;
  int consumers_;
  RequestedLimits limits_;
};

class QueueComponent final : public Component {
 public:
  std::string_view scheme() const override { return "queue"; }
  std::vector<OptionSpec> options() const override { return queueOptions(); }
  Result<EndpointPtr> resolve(const Uri& uri, BusContext& context) override {
    if (uri.path.empty()) return Error(ErrorKind::invalid, "queue: needs a name, for example queue:orders");
    const auto specs = queueOptions();
    const UriOptions options(uri, specs);
    if (options.integer("capacity") < 1) return Error(ErrorKind::invalid, "queue option 'capacity' must be at least 1");
    if (options.integer("consumers") < 1) return Error(ErrorKind::invalid, "queue option 'consumers' must be at least 1");
    std::lock_guard lock(mutex_);
    auto& channel = channels_[uri.path];
    if (!channel) channel = std::make_shared<QueueChannel>(uri.path, context.executor());
    // Limits given on any URI of the queue apply to the queue once its table runs (see
    // activate); limits a URI does not give (typically on the producer side) stay as they
    // are: a URI that only says when-full does not reset the capacity.
    RequestedLimits limits;
    if (options.has("capacity")) limits.capacity = static_cast<std::size_t>(options.integer("capacity"));
    if (options.has("max-bytes")) limits.max_bytes = options.size("max-bytes");
    if (options.has("when-full")) limits.when_full = options.text("when-full") == "reject" ? WhenFull::reject : WhenFull::block;
    return EndpointPtr(std::make_shared<QueueEndpoint>(uri, channel, static_cast<int>(options.integer("consumers")), limits));
  }

  std::size_t pendingMessages() const override {
    std::lock_guard lock(mutex_);
    std::size_t total = 0;
    for (const auto& [name, channel] : channels_) total += channel->depth();
    return total;
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<QueueChannel>> channels_;
};

}  // namespace

std::shared_ptr<Component> makeQueueComponent() { return std::make_shared<QueueComponent>(); }

}  // namespace busway
