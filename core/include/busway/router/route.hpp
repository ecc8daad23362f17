#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "busway/router/processor.hpp"
#include "busway/util/asio.hpp"

namespace busway {

// What a route does with a message whose pipeline failed: redeliver with backoff, then
// hand it to the dead-letter endpoint, or (no dead letter) report the failure to the source.
struct ErrorPolicy {
  int max_attempts = 1;
  std::chrono::milliseconds delay{1000};
  double backoff = 2.0;
  std::chrono::milliseconds max_delay{60'000};
  double jitter = 0.1;
  bool retry_all = false;    // false: only transient, timeout and rejected errors are retried
  ProcessorPtr dead_letter;  // null: no dead-letter channel
  std::string dead_letter_name;

  bool retries(const Error& error) const noexcept;
  std::chrono::milliseconds delayBefore(int attempt) const;  // attempt >= 2
};

// Steps that hold messages between exchanges (aggregate) complete what they hold when
// their route retires, so a reload or a stop never strands a message in memory.
class Stateful {
 public:
  virtual ~Stateful() = default;
  virtual void flush() = 0;
  // Messages held or still being worked on because of this step.
  virtual std::size_t pending() const = 0;
};

struct RouteStats {
  std::uint64_t received = 0;
  std::uint64_t completed = 0;
  std::uint64_t failed = 0;  // reported to the source as failed
  std::uint64_t dead_lettered = 0;
  std::uint64_t redeliveries = 0;
  std::uint64_t in_flight = 0;
};

// A compiled route: its pipeline wrapped in the error handler, with the counting that
// metrics and graceful stop need. This is the processor a consumer feeds.
class Route final : public Processor, public std::enable_shared_from_this<Route> {
 public:
  Route(std::string id, ProcessorPtr pipeline, ErrorPolicy policy,
        boost::asio::any_io_executor executor,
        std::vector<std::shared_ptr<Stateful>> stateful = {});

  bool process(const ExchangePtr& exchange, Done done) override;

  const std::string& id() const noexcept { return id_; }
  RouteStats stats() const;
  // Blocks until no exchange is in flight or `timeout` passes; true when idle.
  bool waitIdle(std::chrono::milliseconds timeout);
  // Completes what stateful steps hold (see Stateful).
  void flush();

 private:
  bool attempt(const ExchangePtr& exchange, const std::shared_ptr<const Message>& original,
               Done& done);
  // Decides what happens after an attempt; returns true when finished synchronously.
  bool settle(const ExchangePtr& exchange, const std::shared_ptr<const Message>& original,
              Done& done, bool async);
  void finished();

  const std::string id_;
  const std::string* interned_id_;
  ProcessorPtr pipeline_;
  Processor* sync_pipeline_ = nullptr;  // the pipeline, when it always finishes synchronously
  ErrorPolicy policy_;
  boost::asio::any_io_executor executor_;
  std::vector<std::shared_ptr<Stateful>> stateful_;

  std::atomic<std::uint64_t> received_{0}, completed_{0}, failed_{0}, dead_lettered_{0},
      redeliveries_{0};
  std::atomic<std::uint64_t> in_flight_{0};
  std::atomic<int> idle_waiters_{0};  // notify only when a drain is waiting
  std::mutex idle_mutex_;
  std::condition_variable idle_;
};

}  // namespace busway
