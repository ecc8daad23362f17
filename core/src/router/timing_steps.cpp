// throttle and delay: wait on Asio timers, never on a thread.
#include "busway/util/text.hpp"
#include "steps.hpp"

namespace busway {
namespace {
bool resumeAfter(boost::asio::any_io_executor executor, std::chrono::steady_clock::duration wait,
                 Done done) {
  auto timer = std::make_shared<boost::asio::steady_timer>(executor, wait);
  timer->async_wait([timer, done = std::move(done)](const boost::system::error_code&) { done(); });
  return false;
}
}  // namespace

bool ThrottleStep::process(const ExchangePtr& exchange, Done done) {
  using clock = std::chrono::steady_clock;
  const auto now = clock::now();
  clock::time_point slot = now;
  {
    std::lock_guard lock(mutex_);
    // Messages that passed a whole period ago no longer count.
    while (!passed_.empty() && passed_.front() + per_ <= now) passed_.pop_front();
    // Up to rate_ messages may pass at once; the next waits until the oldest of them is a
    // period old. Never before a message already waiting, so the order is kept.
    if (static_cast<std::int64_t>(passed_.size()) >= rate_) slot = passed_.front() + per_;
    if (!passed_.empty()) slot = std::max(slot, passed_.back());
    if (slot > now && reject_) {
      exchange->fail(
          ErrorKind::rejected,
          "throttled: more than " + std::to_string(rate_) + " messages per " + formatDuration(per_),
          "throttle");
      return true;
    }
    passed_.push_back(slot);
    if (static_cast<std::int64_t>(passed_.size()) > rate_) passed_.pop_front();
  }
  if (slot <= now) return true;
  return resumeAfter(executor_, slot - now, std::move(done));
}

bool DelayStep::process(const ExchangePtr& exchange, Done done) {
  std::chrono::milliseconds wait = fixed_;
  if (computed_) {
    auto value = computed_->evaluate(*exchange);
    if (!value) {
      exchange->fail(std::move(value).error());
      return true;
    }
    const auto ms = parseDuration(toText(*value));
    if (!ms) {
      exchange->fail(ErrorKind::invalid,
                     "delay expression gave '" + toText(*value) + "', not a duration", "delay");
      return true;
    }
    wait = *ms;
  }
  if (wait.count() <= 0) return true;
  return resumeAfter(executor_, wait, std::move(done));
}

}  // namespace busway
