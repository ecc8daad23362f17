// multicast, recipient-list, enrich and wire-tap: steps that send copies elsewhere.
#include "busway/util/text.hpp"
#include "steps.hpp"

namespace busway {
namespace {

struct FanOut : std::enable_shared_from_this<FanOut> {
  std::vector<ProcessorPtr> branches;
  std::vector<ExchangePtr> children;
  std::function<void(std::vector<ExchangePtr>&, bool)> finish;
  std::atomic<std::size_t> remaining{0};
  std::atomic<bool> finished{false};
  std::shared_ptr<boost::asio::steady_timer> timer;

  void complete(bool timed_out) {
    if (finished.exchange(true)) return;
    if (timer) timer->cancel();
    finish(children, timed_out);
  }

  // Sequential: each branch starts when the one before it is done.
  void runFrom(std::size_t index) {
    for (; index < branches.size(); ++index) {
      auto resume = [self = shared_from_this(), index] { self->runFrom(index + 1); };
      if (!branches[index]->process(children[index], std::move(resume))) return;
    }
    complete(false);
  }
};

}  // namespace

void fanOut(const ExchangePtr& exchange, ExchangePattern pattern,
            std::vector<ProcessorPtr> branches, bool parallel,
            boost::asio::any_io_executor executor, std::chrono::milliseconds timeout,
            std::function<void(std::vector<ExchangePtr>&, bool timed_out)> finish) {
  auto state = std::make_shared<FanOut>();
  state->branches = std::move(branches);
  state->finish = std::move(finish);
  for (std::size_t i = 0; i < state->branches.size(); ++i) {
    auto child = childExchange(*exchange, pattern);
    child->message = exchange->message.derive();
    child->message.headers().set("busway.branch", static_cast<std::int64_t>(i));
    state->children.push_back(std::move(child));
  }
  if (state->branches.empty()) {
    state->complete(false);
    return;
  }
  if (!parallel) {
    state->runFrom(0);
    return;
  }
  state->remaining = state->branches.size();
  if (timeout.count() > 0) {
    state->timer = std::make_shared<boost::asio::steady_timer>(executor, timeout);
    state->timer->async_wait([state](const boost::system::error_code& ec) {
      if (!ec) state->complete(true);
    });
  }
  for (std::size_t i = 0; i < state->branches.size(); ++i) {
    boost::asio::post(executor, [state, i] {
      runToCompletion(*state->branches[i], state->children[i], [state] {
        if (state->remaining.fetch_sub(1) == 1) state->complete(false);
      });
    });
  }
}

namespace {
// The worst outcome of the branches becomes the outcome of the whole.
bool propagateFailure(Exchange& parent, const std::vector<ExchangePtr>& children,
                      const char* what) {
  for (std::size_t i = 0; i < children.size(); ++i) {
    if (children[i]->failed()) {
      Error error = *children[i]->error;
      error.message = std::string(what) + " " + std::to_string(i + 1) + " of " +
                      std::to_string(children.size()) + " failed: " + error.message;
      parent.fail(std::move(error));
      return true;
    }
  }
  return false;
}
}  // namespace

bool MulticastStep::process(const ExchangePtr& exchange, Done done) {
  fanOut(exchange, exchange->pattern, branches_, parallel_, executor_, timeout_,
         [exchange, done, strategy = &strategy_, timeout = timeout_](
             std::vector<ExchangePtr>& children, bool timed_out) {
           if (timed_out) {
             exchange->fail(ErrorKind::timeout,
                            "multicast branches did not finish within " +
                                std::to_string(timeout.count()) + "ms",
                            "multicast");
           } else if (!propagateFailure(*exchange, children, "multicast branch")) {
             std::vector<Message> results;
             results.reserve(children.size());
             for (auto& child : children) results.push_back(child->replyMessage());
             auto combined = strategy->combine(exchange->message, results);
             if (combined)
               exchange->message = std::move(*combined);
             else
               exchange->fail(std::move(combined).error());
           }
           done();
         });
  return false;
}

Result<ProcessorPtr> DynamicEndpoints::producerFor(const std::string& ref_or_uri) {
  std::lock_guard lock(mutex_);
  if (const auto it = cache_.find(ref_or_uri); it != cache_.end()) return it->second;
  const auto known = known_ids_.find(ref_or_uri);
  const std::string uri = known != known_ids_.end() ? known->second : ref_or_uri;
  if (uri.find(':') == std::string::npos) {
    return Error(ErrorKind::permanent,
                 "recipient '" + ref_or_uri + "' is neither a declared endpoint id nor a URI");
  }
  auto endpoint = registry_.resolve(uri);
  if (!endpoint) return std::move(endpoint).error();
  auto producer = (*endpoint)->createProducer();
  if (!producer) return std::move(producer).error();
  // Resolved while the table runs: its settings apply at once.
  (*endpoint)->activate();
  cache_.emplace(ref_or_uri, *producer);
  return *producer;
}

bool RecipientListStep::process(const ExchangePtr& exchange, Done done) {
  std::vector<ProcessorPtr> producers;
  if (computed_) {
    auto value = computed_->evaluate(*exchange);
    if (!value) {
      exchange->fail(std::move(value).error());
      return true;
    }
    // splitList gives views into `recipients`: keep it alive while they are used.
    const std::string recipients = toText(*value);
    for (const auto item : splitList(recipients, delimiter_)) {
      auto producer = dynamic_->producerFor(std::string(item));
      if (!producer) {
        Error error = std::move(producer).error();
        error.where = "recipient-list";
        exchange->fail(std::move(error));
        return true;
      }
      producers.push_back(*producer);
    }
  } else {
    for (const auto& [name, producer] : fixed_) producers.push_back(producer);
  }
  // Recipients get copies handed over (in-only) even when our caller waits for a reply:
  // their replies are not used, and waiting for them would tie this route to, say, the
  // reader of a queue.
  fanOut(exchange, ExchangePattern::in_only, std::move(producers), parallel_, executor_,
         std::chrono::milliseconds(0), [exchange, done](std::vector<ExchangePtr>& children, bool) {
           propagateFailure(*exchange, children, "recipient");
           done();
         });
  return false;
}

bool EnrichStep::process(const ExchangePtr& exchange, Done done) {
  auto child = childExchange(*exchange, ExchangePattern::in_out);
  auto merge = [exchange, child, this]() {
    if (child->failed()) {
      Error error = *child->error;
      error.message = "enrich from " + target_ + " failed: " + error.message;
      exchange->fail(std::move(error));
      return;
    }
    const Message& reply = child->replyMessage();
    Message& message = exchange->message;
    switch (merge_) {
      case Merge::replace: message.setBody(reply.bodyPtr()); break;
      case Merge::header: message.headers().set(name_, std::string(reply.bodyText())); break;
      case Merge::merge:
      case Merge::field: {
        std::string error;
        const auto* base = message.body().json(&error);
        if (base == nullptr || !base->is_object()) {
          exchange->fail(ErrorKind::invalid,
                         "enrich: the message body is not a JSON object" +
                             (error.empty() ? std::string() : " (" + error + ")"),
                         "enrich");
          return;
        }
        const auto* extra = reply.body().json(&error);
        nlohmann::json merged = *base;
        if (merge_ == Merge::field) {
          merged[name_] = extra != nullptr ? *extra : nlohmann::json(std::string(reply.bodyText()));
        } else if (extra != nullptr && extra->is_object()) {
          merged.update(*extra);
        } else {
          exchange->fail(ErrorKind::invalid,
                         "enrich: the reply from " + target_ + " is not a JSON object", "enrich");
          return;
        }
        message.setBody(Body::fromJson(merged));
        break;
      }
    }
  };
  Done resume = [merge, done] {
    merge();
    done();
  };
  if (!producer_->process(child, std::move(resume))) return false;
  merge();
  return true;
}

void WireTapStep::apply(Exchange& exchange) {
  auto copy = childExchange(exchange, ExchangePattern::in_only);
  copy->message = exchange.message.derive();
  boost::asio::post(executor_, [producer = producer_, copy, target = target_] {
    runToCompletion(*producer, copy, [copy, target] {
      // A tap never fails the route it listens to; its own failure is only logged.
      if (copy->failed())
        logWarn("wire-tap", "copy of " + copy->message.id() + " to " + target +
                                " failed: " + copy->error->describe());
    });
  });
}

}  // namespace busway
