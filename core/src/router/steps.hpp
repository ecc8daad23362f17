#pragma once

// The processors behind each step of a routing table. Internal to core: the route
// compiler builds them; nothing else needs their types.

#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "busway/endpoint/component_registry.hpp"
#include "busway/expression/expression.hpp"
#include "busway/router/processor.hpp"
#include "busway/router/route.hpp"
#include "busway/router/transformer.hpp"
#include "busway/util/asio.hpp"
#include "busway/util/log.hpp"

namespace busway {

// A step that always finishes on the caller's stack. Pipelines call apply() directly,
// which saves building a continuation for the common cheap steps.
class SyncStep : public Processor {
 public:
  virtual void apply(Exchange& exchange) = 0;
  bool process(const ExchangePtr& exchange, Done) final {
    apply(*exchange);
    return true;
  }
  bool synchronous() const noexcept final { return true; }
  void runSynchronously(const ExchangePtr& exchange) final { apply(*exchange); }
};

struct PipelineStep {
  ProcessorPtr processor;
  const std::string* name =
      nullptr;  // interned "kind" or "kind:id", for history; null: not recorded
};

class Pipeline final : public Processor, public std::enable_shared_from_this<Pipeline> {
 public:
  Pipeline(const std::string* route, std::vector<PipelineStep> steps);
  bool process(const ExchangePtr& exchange, Done done) override;
  bool synchronous() const noexcept override { return synchronous_; }
  void runSynchronously(const ExchangePtr& exchange) override;
  bool empty() const noexcept { return steps_.empty(); }

 private:
  struct Entry {
    ProcessorPtr processor;
    bool sync;
    const std::string* name;
  };
  bool runFrom(const ExchangePtr& exchange, std::size_t index, Done& done);
  void record(Exchange& exchange, const std::string* name) const;

  const std::string* route_;
  std::vector<Entry> steps_;
  bool synchronous_ = true;
};

// ---- combining several messages into one (multicast, split, aggregate) ----
struct AggregationStrategy {
  enum class Kind { none, json_array, concat, xml, first, last };
  Kind kind = Kind::last;
  std::string separator = "\n";
  std::string root = "aggregate";

  static std::optional<Kind> parse(const std::string& name);
  // Combines `parts` (in order) into one message based on `base` (headers, ids).
  Result<Message> combine(const Message& base, const std::vector<Message>& parts) const;
};

// ---- sending ----
class ToStep final : public Processor {
 public:
  ToStep(ProcessorPtr producer, std::string target, bool in_out)
      : producer_(std::move(producer)), target_(std::move(target)), in_out_(in_out) {}
  bool process(const ExchangePtr& exchange, Done done) override;

 private:
  ProcessorPtr producer_;
  std::string target_;
  bool in_out_;
};

// Endpoints resolved at run time (computed recipient lists), cached by URI.
class DynamicEndpoints {
 public:
  DynamicEndpoints(ComponentRegistry& registry, std::map<std::string, std::string> known_ids)
      : registry_(registry), known_ids_(std::move(known_ids)) {}
  Result<ProcessorPtr> producerFor(const std::string& ref_or_uri);

 private:
  ComponentRegistry& registry_;
  std::map<std::string, std::string> known_ids_;  // endpoint id -> uri
  std::mutex mutex_;
  std::map<std::string, ProcessorPtr> cache_;
};

class RecipientListStep final : public Processor {
 public:
  RecipientListStep(std::vector<std::pair<std::string, ProcessorPtr>> fixed, ExpressionPtr computed,
                    char delimiter, bool parallel, std::shared_ptr<DynamicEndpoints> dynamic,
                    boost::asio::any_io_executor executor)
      : fixed_(std::move(fixed)),
        computed_(std::move(computed)),
        delimiter_(delimiter),
        parallel_(parallel),
        dynamic_(std::move(dynamic)),
        executor_(std::move(executor)) {}
  bool process(const ExchangePtr& exchange, Done done) override;

 private:
  std::vector<std::pair<std::string, ProcessorPtr>> fixed_;
  ExpressionPtr computed_;
  char delimiter_;
  bool parallel_;
  std::shared_ptr<DynamicEndpoints> dynamic_;
  boost::asio::any_io_executor executor_;
};

// Runs `branches` on copies of the exchange's message (as exchanges of `pattern`),
// sequentially or in parallel, and hands back the copies in branch order. Shared by
// multicast and recipient-list.
void fanOut(const ExchangePtr& exchange, ExchangePattern pattern,
            std::vector<ProcessorPtr> branches, bool parallel,
            boost::asio::any_io_executor executor, std::chrono::milliseconds timeout,
            std::function<void(std::vector<ExchangePtr>&, bool timed_out)> finish);

class MulticastStep final : public Processor {
 public:
  MulticastStep(std::vector<ProcessorPtr> branches, bool parallel, AggregationStrategy strategy,
                std::chrono::milliseconds timeout, boost::asio::any_io_executor executor)
      : branches_(std::move(branches)),
        parallel_(parallel),
        strategy_(std::move(strategy)),
        timeout_(timeout),
        executor_(std::move(executor)) {}
  bool process(const ExchangePtr& exchange, Done done) override;

 private:
  std::vector<ProcessorPtr> branches_;
  bool parallel_;
  AggregationStrategy strategy_;
  std::chrono::milliseconds timeout_;
  boost::asio::any_io_executor executor_;
};

// ---- choosing ----
class FilterStep final : public SyncStep {
 public:
  explicit FilterStep(ExpressionPtr predicate) : predicate_(std::move(predicate)) {}
  void apply(Exchange& exchange) override;

 private:
  ExpressionPtr predicate_;
};

class ChoiceStep final : public Processor {
 public:
  struct Branch {
    ExpressionPtr predicate;
    ProcessorPtr pipeline;
  };
  ChoiceStep(std::vector<Branch> whens, ProcessorPtr otherwise);
  bool process(const ExchangePtr& exchange, Done done) override;
  bool synchronous() const noexcept override { return synchronous_; }
  void runSynchronously(const ExchangePtr& exchange) override;

 private:
  // The branch for `exchange`, or null (none matched, or the predicate failed).
  Processor* select(Exchange& exchange) const;

  std::vector<Branch> whens_;
  ProcessorPtr otherwise_;  // may be null
  bool synchronous_ = true;
};

// <try>: runs its steps; when one fails with an error that a <catch> takes (by kind), the
// error moves into the headers busway.failure.kind/reason/where and the catch's steps run
// instead, so the route goes on. An error no catch takes fails the route as usual.
class TryStep final : public Processor {
 public:
  struct Catch {
    std::vector<ErrorKind> kinds;  // empty: every kind
    ProcessorPtr pipeline;
  };
  TryStep(ProcessorPtr body, std::vector<Catch> catches)
      : body_(std::move(body)), catches_(std::move(catches)) {}
  bool process(const ExchangePtr& exchange, Done done) override;

 private:
  // After the body: runs the matching catch; true when finished synchronously.
  bool handle(const ExchangePtr& exchange, const Done& done) const;

  ProcessorPtr body_;
  std::vector<Catch> catches_;
};

// ---- splitting and aggregating ----
class SplitStep final : public Processor {
 public:
  enum class Mode { expression, lines, tokenize };
  struct Options {
    Mode mode = Mode::lines;
    ExpressionPtr expression;
    std::string token;
    bool parallel = false;
    std::size_t max_in_flight = 16;
    bool stop_on_error = true;
    AggregationStrategy strategy;  // kind none: the original message continues
  };
  SplitStep(Options options, ProcessorPtr pipeline, boost::asio::any_io_executor executor)
      : options_(std::move(options)),
        pipeline_(std::move(pipeline)),
        executor_(std::move(executor)) {}
  bool process(const ExchangePtr& exchange, Done done) override;

 private:
  Options options_;
  ProcessorPtr pipeline_;
  boost::asio::any_io_executor executor_;
};

class AggregateStep final : public SyncStep,
                            public Stateful,
                            public std::enable_shared_from_this<AggregateStep> {
 public:
  struct Options {
    ExpressionPtr correlation;
    std::size_t size = 0;                  // 0: no size completion
    std::chrono::milliseconds timeout{0};  // 0: no timeout completion
    ExpressionPtr complete_when;           // may be null
    AggregationStrategy strategy;
    std::string where;
  };
  AggregateStep(Options options, ProcessorPtr pipeline, boost::asio::any_io_executor executor)
      : options_(std::move(options)),
        pipeline_(std::move(pipeline)),
        executor_(std::move(executor)) {}
  ~AggregateStep() override;
  void apply(Exchange& exchange) override;
  void flush() override;
  std::size_t pending() const override;

 private:
  struct Group {
    std::vector<Message> messages;
    std::shared_ptr<boost::asio::steady_timer> timer;
    std::uint64_t generation = 0;
  };
  void complete(const std::string& key, Group group, const char* reason);
  void onTimeout(const std::string& key, std::uint64_t generation);

  Options options_;
  ProcessorPtr pipeline_;
  boost::asio::any_io_executor executor_;
  mutable std::mutex mutex_;
  std::map<std::string, Group> groups_;
  std::uint64_t next_generation_ = 1;
  bool retired_ = false;                 // flushed: holds nothing from now on
  std::atomic<std::size_t> running_{0};  // completed groups still in the nested pipeline
};

// ---- enriching and tapping ----
class EnrichStep final : public Processor {
 public:
  enum class Merge { replace, merge, header, field };
  EnrichStep(ProcessorPtr producer, std::string target, Merge merge, std::string name)
      : producer_(std::move(producer)),
        target_(std::move(target)),
        merge_(merge),
        name_(std::move(name)) {}
  bool process(const ExchangePtr& exchange, Done done) override;

 private:
  ProcessorPtr producer_;
  std::string target_;
  Merge merge_;
  std::string name_;
};

class WireTapStep final : public SyncStep {
 public:
  WireTapStep(ProcessorPtr producer, std::string target, boost::asio::any_io_executor executor)
      : producer_(std::move(producer)),
        target_(std::move(target)),
        executor_(std::move(executor)) {}
  void apply(Exchange& exchange) override;

 private:
  ProcessorPtr producer_;
  std::string target_;
  boost::asio::any_io_executor executor_;
};

// ---- timing ----
class ThrottleStep final : public Processor {
 public:
  ThrottleStep(std::int64_t rate, std::chrono::milliseconds per, bool reject,
               boost::asio::any_io_executor executor)
      : rate_(rate), per_(per), reject_(reject), executor_(std::move(executor)) {}
  bool process(const ExchangePtr& exchange, Done done) override;

 private:
  const std::int64_t rate_;
  const std::chrono::milliseconds per_;
  const bool reject_;
  boost::asio::any_io_executor executor_;
  std::mutex mutex_;
  // When the last (at most rate_) messages passed or are due to pass, oldest first. A
  // message may pass once the one rate_ places before it passed at least per_ ago, so no
  // window of length per_ ever sees more than rate_ messages.
  std::deque<std::chrono::steady_clock::time_point> passed_;
};

class DelayStep final : public Processor {
 public:
  DelayStep(std::chrono::milliseconds fixed, ExpressionPtr computed,
            boost::asio::any_io_executor executor)
      : fixed_(fixed), computed_(std::move(computed)), executor_(std::move(executor)) {}
  bool process(const ExchangePtr& exchange, Done done) override;

 private:
  std::chrono::milliseconds fixed_;
  ExpressionPtr computed_;
  boost::asio::any_io_executor executor_;
};

// ---- changing the message ----
class SetHeaderStep final : public SyncStep {
 public:
  SetHeaderStep(std::string name, ExpressionPtr value)
      : name_(std::move(name)), value_(std::move(value)) {}
  void apply(Exchange& exchange) override;

 private:
  std::string name_;
  ExpressionPtr value_;
};

class BusContext;

// Drops a message whose key (an expression) was seen before within `expire`: the keys live
// in the store (store::IdempotencyStore), so duplicates are recognised across restarts. A
// failed attempt releases its key; the same message coming again (a redelivery after a
// crash) is not a duplicate.
class IdempotentStep final : public SyncStep {
 public:
  IdempotentStep(ExpressionPtr key, std::string repository, std::chrono::milliseconds expire,
                 BusContext& context)
      : key_(std::move(key)),
        repository_(std::move(repository)),
        expire_(expire),
        context_(context) {}
  void apply(Exchange& exchange) override;

 private:
  ExpressionPtr key_;
  std::string repository_;
  std::chrono::milliseconds expire_;
  BusContext& context_;
};

class RemoveHeaderStep final : public SyncStep {
 public:
  explicit RemoveHeaderStep(std::string name) : name_(std::move(name)) {}
  void apply(Exchange& exchange) override { exchange.message.headers().erase(name_); }

 private:
  std::string name_;
};

class SetBodyStep final : public SyncStep {
 public:
  SetBodyStep(ExpressionPtr expression, std::optional<Template> body, std::string media_type)
      : expression_(std::move(expression)),
        template_(std::move(body)),
        media_type_(std::move(media_type)) {}
  void apply(Exchange& exchange) override;

 private:
  ExpressionPtr expression_;
  std::optional<Template> template_;
  std::string media_type_;  // empty: keep the current one
};

class TransformStep final : public SyncStep {
 public:
  TransformStep(std::shared_ptr<const Transformer> transformer, std::string name)
      : transformer_(std::move(transformer)), name_(std::move(name)) {}
  void apply(Exchange& exchange) override;

 private:
  std::shared_ptr<const Transformer> transformer_;
  std::string name_;
};

class LogStep final : public SyncStep {
 public:
  LogStep(Template message, LogLevel level, std::string category)
      : message_(std::move(message)), level_(level), category_(std::move(category)) {}
  void apply(Exchange& exchange) override;

 private:
  Template message_;
  LogLevel level_;
  std::string category_;
};

class StopStep final : public SyncStep {
 public:
  void apply(Exchange& exchange) override { exchange.stopped = true; }
};

class ReplyStep final : public SyncStep {
 public:
  ReplyStep(std::optional<Template> body, std::optional<std::int64_t> status,
            std::string media_type)
      : body_(std::move(body)), status_(status), media_type_(std::move(media_type)) {}
  void apply(Exchange& exchange) override;

 private:
  std::optional<Template> body_;
  std::optional<std::int64_t> status_;
  std::string media_type_;
};

// A copy of `exchange` for a branch: same message (shared body), its own error state.
ExchangePtr childExchange(const Exchange& exchange, ExchangePattern pattern);

}  // namespace busway
