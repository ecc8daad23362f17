// queue: asynchronous in-process channel between routes, bounded by count and bytes.
// When full, a producer either waits (its exchange is parked, no thread is blocked) or is
// refused with ErrorKind::rejected. Queues belong to the bus, not to a routing table, so
// their content survives a reload.
//
// A durable queue (queue:NAME?durable=true) writes every in-only message to the store's
// segment log before its producer is answered, and removes it from the log only when the
// consuming route has finished with it (completed, or dead-lettered). A crash or a stop
// leaves what was not finished in the log; the next start delivers it again.
#include <deque>
#include <map>
#include <mutex>
#include <optional>

#include "busway/endpoint/component_registry.hpp"
#include "busway/runtime/bus_context.hpp"
#include "busway/store/message_codec.hpp"
#include "busway/store/segment_log.hpp"
#include "busway/util/log.hpp"
#include "busway/util/text.hpp"
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

  // From now on, in-only messages go through the store. Messages the store still holds for
  // this queue (not acknowledged before the last stop or crash) are queued first.
  void makeDurable(store::SegmentLog* log, std::chrono::milliseconds retry_delay) {
    std::unique_lock lock(mutex_);
    retry_delay_ = retry_delay;
    if (log_ != nullptr) return;
    log_ = log;
    std::size_t recovered = 0;
    for (auto& stored : log_->takeRecovered(name_)) {
      auto message = store::decodeMessage(stored.payload);
      if (!message) {
        logError("queue:" + name_, "stored message " + std::to_string(stored.seq) +
                                       " cannot be read (" + message.error().message +
                                       "); it stays in the store, see 'busway store verify'");
        continue;
      }
      Item item{std::move(*message), nullptr, {}, stored.seq};
      push(std::move(item));
      ++recovered;
    }
    if (recovered > 0) {
      logInfo("queue:" + name_, "resuming " + std::to_string(recovered) +
                                    " stored message(s) not acknowledged before the last stop");
    }
    dispatchLocked(lock);
  }

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
    Item item{exchange->message, in_out ? exchange : nullptr, in_out ? std::move(done) : Done{}, 0};
    // Behind a parked producer is full too: a smaller message must not overtake it.
    if (!blocked_.empty() || isFull(item.message.body().size())) {
      if (limits_.when_full == WhenFull::reject) {
        exchange->fail(ErrorKind::rejected,
                       "queue:" + name_ + " is full (" + std::to_string(items_.size()) +
                           " messages, " + std::to_string(bytes_) +
                           " bytes); raise capacity/max-bytes or add consumers",
                       "queue:" + name_);
        return true;
      }
      // Park the producer; it resumes when a consumer frees space.
      blocked_.push_back(
          Blocked{std::move(item), in_out ? Done{} : std::move(done), in_out ? nullptr : exchange});
      return false;
    }
    if (log_ != nullptr && !in_out) {
      // Answered only once the store has it on disk.
      std::vector<Admitted> admitted;
      admitted.push_back(Admitted{std::move(item), std::move(done), exchange});
      storeLocked(lock, std::move(admitted));
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

  // Messages held only in memory: queued (unless stored), being stored, or parked producers.
  std::size_t depth() const {
    std::lock_guard lock(mutex_);
    return (log_ != nullptr ? 0 : items_.size()) + storing_ + blocked_.size();
  }

 private:
  struct Item {
    Message message;
    ExchangePtr requester;  // in-out only
    Done done;              // in-out only
    std::uint64_t seq = 0;  // durable: the record in the store, acknowledged when handled
  };
  struct Blocked {
    Item item;
    Done resume;           // in-only producers waiting for space
    ExchangePtr producer;  // in-only: told when the store refuses the message
  };
  struct Admitted {
    Item item;
    Done done;
    ExchangePtr producer;
  };

  // Writes admitted in-only messages to the store; each is queued and its producer answered
  // once it is on disk (or failed when the store refuses it). Releases the lock.
  void storeLocked(std::unique_lock<std::mutex>& lock, std::vector<Admitted> admitted) {
    for (const auto& a : admitted) {
      ++storing_;
      storing_bytes_ += a.item.message.body().size();
    }
    store::SegmentLog* log = log_;
    lock.unlock();
    for (auto& a : admitted) {
      std::string payload = store::encodeMessage(a.item.message);
      auto shared = std::make_shared<Admitted>(std::move(a));
      log->append(name_, std::move(payload),
                  [self = shared_from_this(), shared](Result<std::uint64_t> seq) {
                    self->stored(std::move(*shared), std::move(seq));
                  });
    }
  }

  void stored(Admitted a, Result<std::uint64_t> seq) {
    {
      std::unique_lock lock(mutex_);
      --storing_;
      storing_bytes_ -= a.item.message.body().size();
      if (seq) {
        a.item.seq = *seq;
        push(std::move(a.item));
        dispatchLocked(lock);
      }
    }
    if (!seq) {
      Error error = std::move(seq).error();
      error.where = "queue:" + name_;
      if (a.producer) a.producer->fail(std::move(error));
    }
    if (a.done) boost::asio::post(executor_, std::move(a.done));
  }
  struct Subscriber {
    const void* id;
    ProcessorPtr route;
    int capacity;
    int active;
  };

  bool isFull(std::size_t incoming_bytes) const {
    const std::size_t held = items_.size() + storing_;
    return held >= limits_.capacity ||
           (held > 0 && bytes_ + storing_bytes_ + incoming_bytes > limits_.max_bytes);
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
      boost::asio::post(executor_, [self = shared_from_this(), id = target->id,
                                    route = target->route, item = std::move(item)]() mutable {
        self->deliver(id, route, std::move(item));
      });
    }
    // Space may have opened: admit parked producers in order.
    std::vector<Done> resumed;
    std::vector<Admitted> to_store;
    while (!blocked_.empty() && !isFull(blocked_.front().item.message.body().size())) {
      Blocked b = std::move(blocked_.front());
      blocked_.pop_front();
      if (log_ != nullptr && !b.item.requester) {
        ++storing_;  // counted now so the next parked producer sees it; storeLocked counts again
        storing_bytes_ += b.item.message.body().size();
        to_store.push_back(Admitted{std::move(b.item), std::move(b.resume), std::move(b.producer)});
        continue;
      }
      if (b.resume) resumed.push_back(std::move(b.resume));
      push(std::move(b.item));
    }
    if (!to_store.empty()) {
      for (const auto& a : to_store) {
        --storing_;
        storing_bytes_ -= a.item.message.body().size();
      }
      for (auto& r : resumed) boost::asio::post(executor_, std::move(r));
      storeLocked(lock, std::move(to_store));
      return;
    }
    if (!resumed.empty()) {
      for (auto& r : resumed) boost::asio::post(executor_, std::move(r));
      if (!items_.empty()) dispatchLocked(lock);
    }
  }

  void deliver(const void* id, const ProcessorPtr& route, Item item) {
    const std::uint64_t seq = item.seq;
    std::optional<Message> original;
    if (seq != 0) original = item.message;
    ExchangePtr exchange = item.requester ? item.requester : makeExchange(std::move(item.message));
    auto finished = [self = shared_from_this(), id, exchange, done = std::move(item.done), seq,
                     original]() {
      if (done)
        done();
      else if (seq != 0) {
        if (!exchange->failed()) {
          // Completed, or safe in the dead-letter channel: the store may forget it.
          self->log_->ack(seq);
        } else {
          // Not handled: it stays in the store and comes again after retry-delay.
          logWarn("queue:" + self->name_,
                  "message " + exchange->message.id() + " failed (" + exchange->error->describe() +
                      "); it stays in the store and is delivered again in " +
                      formatDuration(self->retry_delay_));
          auto timer =
              std::make_shared<boost::asio::steady_timer>(self->executor_, self->retry_delay_);
          timer->async_wait(
              [self, timer, seq, message = *original](const boost::system::error_code&) mutable {
                std::unique_lock lock(self->mutex_);
                self->push(Item{std::move(message), nullptr, {}, seq});
                self->dispatchLocked(lock);
              });
        }
      } else if (exchange->failed()) {
        // In-only: the producer was answered when the message was queued, so the failure
        // is the consuming route's to handle; its error handler has already run.
        logWarn("queue:" + self->name_,
                "message " + exchange->message.id() + " failed: " + exchange->error->describe());
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
  store::SegmentLog* log_ = nullptr;  // durable: the store's queue log (owned by the BusContext)
  std::chrono::milliseconds retry_delay_{5000};
  std::size_t storing_ = 0;  // admitted, being written to the store
  std::uint64_t storing_bytes_ = 0;
};

class QueueProducer final : public Processor {
 public:
  explicit QueueProducer(std::shared_ptr<QueueChannel> channel) : channel_(std::move(channel)) {}
  bool process(const ExchangePtr& exchange, Done done) override {
    return channel_->offer(exchange, std::move(done));
  }

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
      {"when-full",
       T::enumeration,
       "block",
       false,
       {"block", "reject"},
       "block: the producer waits for space (no thread is held); reject: the producer fails with "
       "'rejected'"},
      {"consumers",
       T::integer,
       "1",
       false,
       {},
       "messages a consuming route processes at the same time"},
      {"durable",
       T::boolean,
       "false",
       false,
       {},
       "true: in-only messages are written to the store (--data-dir) before the producer is "
       "answered and survive a crash "
       "or restart; removed only when the consuming route has handled them"},
      {"retry-delay",
       T::duration,
       "5s",
       false,
       {},
       "durable: a message whose route failed it (after its error handler) is delivered again "
       "after this delay"},
  };
}

struct RequestedLimits {
  std::optional<std::size_t> capacity;
  std::optional<std::uint64_t> max_bytes;
  std::optional<WhenFull> when_full;
};

class QueueEndpoint final : public Endpoint {
 public:
  QueueEndpoint(Uri uri, std::shared_ptr<QueueChannel> channel, int consumers,
                RequestedLimits limits, bool durable, store::SegmentLog* log,
                std::chrono::milliseconds retry_delay)
      : Endpoint(std::move(uri)),
        channel_(std::move(channel)),
        consumers_(consumers),
        limits_(limits),
        durable_(durable),
        log_(log),
        retry_delay_(retry_delay) {}
  void activate() override {
    if (limits_.capacity || limits_.max_bytes || limits_.when_full) {
      channel_->setLimits(limits_.capacity, limits_.max_bytes, limits_.when_full);
    }
    if (log_ != nullptr) channel_->makeDurable(log_, retry_delay_);
  }
  // An in-only message on a memory queue was answered when it was queued: nobody can be
  // told later whether it was handled. A durable queue keeps it until it was.
  bool acknowledges() const override { return durable_; }
  Result<ProcessorPtr> createProducer() override {
    return ProcessorPtr(std::make_shared<QueueProducer>(channel_));
  }
  Result<std::unique_ptr<Consumer>> createConsumer(ProcessorPtr route) override {
    return std::unique_ptr<Consumer>(
        std::make_unique<QueueConsumer>(channel_, std::move(route), consumers_));
  }

 private:
  std::shared_ptr<QueueChannel> channel_;
  int consumers_;
  RequestedLimits limits_;
  bool durable_;
  store::SegmentLog* log_;
  std::chrono::milliseconds retry_delay_;
};

class QueueComponent final : public Component {
 public:
  std::string_view scheme() const override { return "queue"; }
  std::vector<OptionSpec> options() const override { return queueOptions(); }
  Result<EndpointPtr> resolve(const Uri& uri, BusContext& context) override {
    if (uri.path.empty())
      return Error(ErrorKind::invalid, "queue: needs a name, for example queue:orders");
    const auto specs = queueOptions();
    const UriOptions options(uri, specs);
    if (options.integer("capacity") < 1)
      return Error(ErrorKind::invalid, "queue option 'capacity' must be at least 1");
    if (options.integer("consumers") < 1)
      return Error(ErrorKind::invalid, "queue option 'consumers' must be at least 1");
    std::lock_guard lock(mutex_);
    auto& channel = channels_[uri.path];
    if (!channel) channel = std::make_shared<QueueChannel>(uri.path, context.executor());
    // Limits given on any URI of the queue apply to the queue once its table runs (see
    // activate); limits a URI does not give (typically on the producer side) stay as they
    // are: a URI that only says when-full does not reset the capacity.
    RequestedLimits limits;
    if (options.has("capacity"))
      limits.capacity = static_cast<std::size_t>(options.integer("capacity"));
    if (options.has("max-bytes")) limits.max_bytes = options.size("max-bytes");
    if (options.has("when-full"))
      limits.when_full = options.text("when-full") == "reject" ? WhenFull::reject : WhenFull::block;
    store::SegmentLog* log = nullptr;
    if (options.boolean("durable") && context.hasDataDir()) {
      auto opened = context.queueLog();
      if (!opened)
        return Error(ErrorKind::permanent,
                     "queue:" + uri.path +
                         " is durable but the store cannot be opened: " + opened.error().message);
      log = *opened;
    }
    return EndpointPtr(std::make_shared<QueueEndpoint>(
        uri, channel, static_cast<int>(options.integer("consumers")), limits,
        options.boolean("durable"), log, options.duration("retry-delay")));
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
