// aggregate: collects messages that share a correlation value and, once a group is
// complete (size, timeout or predicate), runs the nested pipeline on the combined message.
#include "steps.hpp"

namespace busway {

AggregateStep::~AggregateStep() {
  std::lock_guard lock(mutex_);
  for (auto& [key, group] : groups_) {
    if (group.timer) group.timer->cancel();
  }
}

void AggregateStep::apply(Exchange& exchange) {
  auto correlation = options_.correlation->evaluate(exchange);
  if (!correlation) {
    exchange.fail(std::move(correlation).error());
    return;
  }
  if (isNull(*correlation)) {
    exchange.fail(ErrorKind::invalid,
                  "aggregate: the correlation expression '" + options_.correlation->text() +
                      "' gave no value for message " + exchange.message.id(),
                  options_.where);
    return;
  }
  const std::string key = toText(*correlation);
  std::optional<Group> ready;
  const char* reason = nullptr;
  {
    std::lock_guard lock(mutex_);
    auto [it, created] = groups_.try_emplace(key);
    Group& group = it->second;
    group.messages.push_back(exchange.message);
    // After a flush (the table was replaced or the bus is stopping) nothing may wait here:
    // a message that still arrives completes at once, alone.
    if (retired_) reason = "flush";
    if (created && options_.timeout.count() > 0) {
      group.generation = next_generation_++;
      group.timer = std::make_shared<boost::asio::steady_timer>(executor_, options_.timeout);
      group.timer->async_wait([weak = weak_from_this(), key,
                               generation = group.generation](const boost::system::error_code& ec) {
        if (ec) return;
        if (auto self = weak.lock()) self->onTimeout(key, generation);
      });
    }
    if (reason != nullptr) {
      // completed below
    } else if (options_.size > 0 && group.messages.size() >= options_.size) {
      reason = "size";
    } else if (options_.complete_when) {
      auto combined = options_.strategy.combine(group.messages.back(), group.messages);
      if (combined) {
        Exchange probe(std::move(*combined));
        auto done = options_.complete_when->test(probe);
        if (done && *done) reason = "predicate";
      }
    }
    if (reason != nullptr) {
      ready = std::move(group);
      groups_.erase(it);
    }
  }
  // The incoming message is held by the aggregate now; its own journey ends here.
  exchange.stopped = true;
  if (ready) complete(key, std::move(*ready), reason);
}

void AggregateStep::onTimeout(const std::string& key, std::uint64_t generation) {
  std::optional<Group> ready;
  {
    std::lock_guard lock(mutex_);
    const auto it = groups_.find(key);
    if (it == groups_.end() || it->second.generation != generation) return;
    ready = std::move(it->second);
    groups_.erase(it);
  }
  complete(key, std::move(*ready), "timeout");
}

void AggregateStep::flush() {
  std::map<std::string, Group> all;
  {
    std::lock_guard lock(mutex_);
    all.swap(groups_);
    retired_ = true;
  }
  for (auto& [key, group] : all) complete(key, std::move(group), "flush");
}

void AggregateStep::complete(const std::string& key, Group group, const char* reason) {
  if (group.timer) group.timer->cancel();
  auto combined = options_.strategy.combine(group.messages.back(), group.messages);
  if (!combined) {
    logError(options_.where,
             "aggregate '" + key + "' could not be combined: " + combined.error().describe());
    return;
  }
  Message message = std::move(*combined);
  message.setId(Message::newId());
  message.setCorrelationId(key);
  message.headers().set("aggregate.size", static_cast<std::int64_t>(group.messages.size()));
  message.headers().set("aggregate.completed-by", std::string(reason));
  message.headers().set("aggregate.key", key);
  auto exchange = makeExchange(std::move(message));
  running_.fetch_add(1);
  boost::asio::post(executor_, [self = shared_from_this(), exchange] {
    runToCompletion(*self->pipeline_, exchange, [self, exchange] {
      if (exchange->failed()) {
        logError(self->options_.where, "aggregated message " + exchange->message.id() +
                                           " failed: " + exchange->error->describe());
      }
      self->running_.fetch_sub(1);
    });
  });
}

std::size_t AggregateStep::pending() const {
  std::lock_guard lock(mutex_);
  std::size_t held = 0;
  for (const auto& [key, group] : groups_) held += group.messages.size();
  return held + running_.load();
}

}  // namespace busway
