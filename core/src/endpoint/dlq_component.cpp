// dlq: the durable dead-letter channel. As a producer (an error handler's dead-letter
// target, or any `to`), it stores the message with its busway.failure.* headers in the
// store's SQLite file and answers only after the commit. As a consumer, a route reading
// dlq:NAME receives the dead letters an admin marked with `busway dlq replay`; one that is
// handled is deleted, one that fails again goes back to the stored state.
#include <atomic>
#include <chrono>

#include "busway/endpoint/component_registry.hpp"
#include "busway/runtime/bus_context.hpp"
#include "busway/store/dead_letters.hpp"
#include "busway/store/message_codec.hpp"
#include "busway/util/log.hpp"
#include "core_components_impl.hpp"

namespace busway {
namespace {

class DlqProducer final : public Processor {
 public:
  DlqProducer(std::string name, store::DeadLetterStore* store,
              boost::asio::any_io_executor executor)
      : name_(std::move(name)), store_(store), executor_(std::move(executor)) {}

  bool process(const ExchangePtr& exchange, Done done) override {
    if (store_ == nullptr) {
      exchange->fail(ErrorKind::unavailable,
                     "dlq:" + name_ + " has no store (busway run --data-dir)", "dlq:" + name_);
      return true;
    }
    const Message& m = exchange->message;
    store::DeadLetter letter;
    letter.queue = name_;
    letter.at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
    letter.message_id = m.id();
    letter.route = m.headers().text("busway.failure.route");
    letter.kind = m.headers().text("busway.failure.kind");
    letter.reason = m.headers().text("busway.failure.reason");
    if (const auto* a = m.headers().find("busway.failure.attempts");
        a != nullptr && std::holds_alternative<std::int64_t>(*a)) {
      letter.attempts = std::get<std::int64_t>(*a);
    }
    letter.payload = store::encodeMessage(m);
    store_->add(std::move(letter), [exchange, done = std::move(done), executor = executor_,
                                    name = name_](Result<std::int64_t> id) mutable {
      if (!id)
        exchange->fail(ErrorKind::transient,
                       "dlq:" + name + " could not store the message: " + id.error().message,
                       "dlq:" + name);
      boost::asio::post(executor, std::move(done));
    });
    return false;
  }

 private:
  std::string name_;
  store::DeadLetterStore* store_;
  boost::asio::any_io_executor executor_;
};

// Polls for dead letters marked for replay and hands them to the route.
class DlqConsumer final : public Consumer {
 public:
  DlqConsumer(std::string name, store::DeadLetterStore* store, ProcessorPtr route,
              boost::asio::any_io_executor executor, std::chrono::milliseconds poll)
      : state_(std::make_shared<State>()) {
    state_->name = std::move(name);
    state_->store = store;
    state_->route = std::move(route);
    state_->executor = std::move(executor);
    state_->poll = poll;
  }
  ~DlqConsumer() override { stop(); }

  Result<void> start() override {
    if (state_->store == nullptr)
      return Error(ErrorKind::unavailable,
                   "dlq:" + state_->name + " has no store (busway run --data-dir)");
    state_->running = true;
    schedule(state_);
    return {};
  }
  void stop() override { state_->running = false; }

 private:
  struct State {
    std::string name;
    store::DeadLetterStore* store = nullptr;
    ProcessorPtr route;
    boost::asio::any_io_executor executor;
    std::chrono::milliseconds poll{1000};
    std::atomic<bool> running{false};
    std::atomic<int> in_flight{0};
  };

  static void schedule(const std::shared_ptr<State>& state) {
    auto timer = std::make_shared<boost::asio::steady_timer>(state->executor, state->poll);
    timer->async_wait([state, timer](const boost::system::error_code&) { poll(state); });
  }

  static void poll(const std::shared_ptr<State>& state) {
    if (!state->running) return;
    if (state->in_flight.load() == 0) {
      auto letters = state->store->takeReplays(state->name);
      if (!letters) logError("dlq:" + state->name, letters.error().message);
      for (auto& letter : letters ? *letters : std::vector<store::DeadLetter>{}) {
        auto message = store::decodeMessage(letter.payload);
        if (!message) {
          (void)state->store->replayed(letter.id, false, message.error().message);
          continue;
        }
        message->headers().set("busway.replay.id", letter.id);
        auto exchange = makeExchange(std::move(*message));
        state->in_flight.fetch_add(1);
        const std::int64_t id = letter.id;
        runToCompletion(*state->route, exchange, [state, exchange, id] {
          const bool ok = !exchange->failed();
          if (auto r =
                  state->store->replayed(id, ok, ok ? std::string() : exchange->error->describe());
              !r) {
            logError("dlq:" + state->name, r.error().message);
          }
          logInfo("dlq:" + state->name,
                  "dead letter " + std::to_string(id) +
                      (ok ? " replayed" : " failed again: " + exchange->error->describe()));
          state->in_flight.fetch_sub(1);
        });
      }
    }
    schedule(state);
  }

  std::shared_ptr<State> state_;
};

class DlqEndpoint final : public Endpoint {
 public:
  DlqEndpoint(Uri uri, store::DeadLetterStore* store, BusContext& context,
              std::chrono::milliseconds poll)
      : Endpoint(std::move(uri)), store_(store), context_(context), poll_(poll) {}
  Result<ProcessorPtr> createProducer() override {
    return ProcessorPtr(std::make_shared<DlqProducer>(uri().path, store_, context_.executor()));
  }
  Result<std::unique_ptr<Consumer>> createConsumer(ProcessorPtr route) override {
    return std::unique_ptr<Consumer>(std::make_unique<DlqConsumer>(
        uri().path, store_, std::move(route), context_.executor(), poll_));
  }

 private:
  store::DeadLetterStore* store_;
  BusContext& context_;
  std::chrono::milliseconds poll_;
};

std::vector<OptionSpec> dlqOptions() {
  using T = OptionSpec::Type;
  return {{"poll",
           T::duration,
           "1s",
           false,
           {},
           "how often a route reading dlq:NAME looks for dead letters marked for replay"}};
}

class DlqComponent final : public Component {
 public:
  std::string_view scheme() const override { return "dlq"; }
  std::vector<OptionSpec> options() const override { return dlqOptions(); }
  Result<EndpointPtr> resolve(const Uri& uri, BusContext& context) override {
    if (uri.path.empty())
      return Error(ErrorKind::invalid, "dlq: needs a name, for example dlq:orders");
    const auto specs = dlqOptions();
    const UriOptions options(uri, specs);
    store::DeadLetterStore* store = nullptr;
    if (context.hasDataDir()) {
      auto opened = context.deadLetters();
      if (!opened)
        return Error(ErrorKind::permanent,
                     "dlq:" + uri.path +
                         ": the dead-letter store cannot be opened: " + opened.error().message);
      store = *opened;
    }
    return EndpointPtr(
        std::make_shared<DlqEndpoint>(uri, store, context, options.duration("poll")));
  }
};

}  // namespace

std::shared_ptr<Component> makeDlqComponent() { return std::make_shared<DlqComponent>(); }

}  // namespace busway
