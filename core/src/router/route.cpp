#include "busway/router/route.hpp"

#include <cmath>
#include <random>

#include "busway/util/log.hpp"
#include "busway/util/text.hpp"

namespace busway {

bool ErrorPolicy::retries(const Error& error) const noexcept {
  if (retry_all) return true;
  return error.kind == ErrorKind::transient || error.kind == ErrorKind::timeout ||
         error.kind == ErrorKind::rejected;
}

std::chrono::milliseconds ErrorPolicy::delayBefore(int attempt) const {
  double wait = static_cast<double>(delay.count()) * std::pow(backoff, std::max(0, attempt - 2));
  if (jitter > 0) {
    // Jitter spreads redeliveries of many messages that failed together.
    thread_local std::minstd_rand random{std::random_device{}()};
    std::uniform_real_distribution<double> spread(-jitter, jitter);
    wait *= 1.0 + spread(random);
  }
  // max-delay is a promise: no wait is longer, jitter included.
  wait = std::min(wait, static_cast<double>(max_delay.count()));
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::max(0.0, wait)));
}

Route::Route(std::string id, ProcessorPtr pipeline, ErrorPolicy policy,
             boost::asio::any_io_executor executor, std::vector<std::shared_ptr<Stateful>> stateful)
    : id_(std::move(id)),
      interned_id_(intern(id_)),
      pipeline_(std::move(pipeline)),
      policy_(std::move(policy)),
      executor_(std::move(executor)),
      stateful_(std::move(stateful)) {
  if (pipeline_->synchronous()) sync_pipeline_ = pipeline_.get();
}

bool Route::process(const ExchangePtr& exchange, Done done) {
  received_.fetch_add(1, std::memory_order_relaxed);
  in_flight_.fetch_add(1, std::memory_order_relaxed);
  // Redelivery starts again from the message as it arrived; keep it only when needed.
  std::shared_ptr<const Message> original;
  if (policy_.max_attempts > 1 || policy_.dead_letter)
    original = std::make_shared<const Message>(exchange->message);
  return attempt(exchange, original, done);
}

bool Route::attempt(const ExchangePtr& exchange, const std::shared_ptr<const Message>& original,
                    Done& done) {
  if (sync_pipeline_ != nullptr) {
    // Every step finishes on this stack: no continuation to build.
    sync_pipeline_->runSynchronously(exchange);
    return settle(exchange, original, done, false);
  }
  auto resume = [self = shared_from_this(), exchange, original, done]() mutable {
    if (self->settle(exchange, original, done, true)) done();
  };
  if (!pipeline_->process(exchange, std::move(resume))) return false;
  return settle(exchange, original, done, false);
}

bool Route::settle(const ExchangePtr& exchange, const std::shared_ptr<const Message>& original,
                   Done& done, bool) {
  if (!exchange->failed()) {
    completed_.fetch_add(1, std::memory_order_relaxed);
    finished();
    return true;
  }
  const Error error = *exchange->error;
  for (auto& undo : exchange->on_failure) undo();
  exchange->on_failure.clear();
  if (original && exchange->attempt < policy_.max_attempts && policy_.retries(error)) {
    const int next = exchange->attempt + 1;
    const auto wait = policy_.delayBefore(next);
    redeliveries_.fetch_add(1, std::memory_order_relaxed);
    if (Log::enabled(LogLevel::debug)) {
      Log::write(LogLevel::debug, id_,
                 "message " + original->id() + " failed (" + error.describe() + "); attempt " +
                     std::to_string(next) + " of " + std::to_string(policy_.max_attempts) + " in " +
                     formatDuration(wait));
    }
    auto timer = std::make_shared<boost::asio::steady_timer>(executor_, wait);
    timer->async_wait([self = shared_from_this(), timer, exchange, original, done,
                       next](const boost::system::error_code&) mutable {
      exchange->message = *original;
      exchange->message.headers().set("busway.attempt", static_cast<std::int64_t>(next));
      exchange->error.reset();
      exchange->stopped = false;
      exchange->reply.reset();
      exchange->attempt = next;
      if (self->attempt(exchange, original, done)) done();
    });
    return false;
  }
  if (original && policy_.dead_letter) {
    // The dead letter carries the message as it arrived, why it failed, how often it was
    // tried and the steps it went through on its last attempt.
    Message letter = *original;
    auto& h = letter.headers();
    h.set("busway.failure.reason", error.message);
    h.set("busway.failure.kind", std::string(toString(error.kind)));
    h.set("busway.failure.where", error.where);
    h.set("busway.failure.route", id_);
    h.set("busway.failure.attempts", static_cast<std::int64_t>(exchange->attempt));
    std::string steps;
    for (const auto& entry : exchange->message.history()) {
      if (!steps.empty()) steps += " > ";
      steps += (entry.route ? *entry.route : std::string("?")) + "/" +
               (entry.step ? *entry.step : std::string("?"));
      if (entry.failed) steps += "!";
    }
    h.set("busway.failure.history", steps);
    auto dead = makeExchange(std::move(letter));
    auto after = [self = shared_from_this(), exchange, dead, error, done]() mutable {
      if (dead->failed()) {
        self->failed_.fetch_add(1, std::memory_order_relaxed);
        exchange->fail(error.kind,
                       error.message + "; and the dead-letter endpoint " +
                           self->policy_.dead_letter_name +
                           " refused it too: " + dead->error->message,
                       error.where);
        logError(self->id_, "message " + exchange->message.id() +
                                " could not be dead-lettered: " + exchange->error->describe());
      } else {
        self->dead_lettered_.fetch_add(1, std::memory_order_relaxed);
        logWarn(self->id_, "message " + exchange->message.id() + " sent to dead letter " +
                               self->policy_.dead_letter_name + " after " +
                               std::to_string(exchange->attempt) +
                               " attempt(s): " + error.describe());
        if (exchange->pattern == ExchangePattern::in_out) {
          // The requester is waiting for an answer that will not come: it gets the failure,
          // while the message itself is safe in the dead-letter channel.
          exchange->fail(error.kind,
                         "dead-lettered to " + self->policy_.dead_letter_name + " after " +
                             std::to_string(exchange->attempt) + " attempt(s): " + error.message,
                         error.where);
        } else {
          // Safe in the dead-letter channel: the source may consider it handled.
          exchange->error.reset();
          exchange->stopped = true;
        }
      }
      self->finished();
      done();
    };
    Done after_copy = after;
    if (!policy_.dead_letter->process(dead, std::move(after_copy))) return false;
    after();
    return false;  // `after` already called done
  }
  failed_.fetch_add(1, std::memory_order_relaxed);
  logWarn(id_, "message " + exchange->message.id() + " failed after " +
                   std::to_string(exchange->attempt) + " attempt(s): " + error.describe());
  finished();
  return true;
}

void Route::finished() {
  if (in_flight_.fetch_sub(1, std::memory_order_acq_rel) == 1 &&
      idle_waiters_.load(std::memory_order_acquire) > 0) {
    std::lock_guard lock(idle_mutex_);
    idle_.notify_all();
  }
}

bool Route::waitIdle(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const auto idle = [this] {
    if (in_flight_.load(std::memory_order_acquire) != 0) return false;
    for (const auto& s : stateful_) {
      if (s->pending() != 0) return false;
    }
    return true;
  };
  idle_waiters_.fetch_add(1);
  std::unique_lock lock(idle_mutex_);
  // Stateful steps do not signal, and a finish may race with the waiter count: poll at
  // a short interval as well.
  bool result = true;
  while (!idle()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      result = false;
      break;
    }
    idle_.wait_for(lock, std::chrono::milliseconds(10));
  }
  idle_waiters_.fetch_sub(1);
  return result;
}

void Route::flush() {
  for (auto& s : stateful_) s->flush();
}

RouteStats Route::stats() const {
  RouteStats s;
  s.received = received_.load();
  s.completed = completed_.load();
  s.failed = failed_.load();
  s.dead_lettered = dead_lettered_.load();
  s.redeliveries = redeliveries_.load();
  s.in_flight = in_flight_.load();
  return s;
}

}  // namespace busway
