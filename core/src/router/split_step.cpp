// split: cuts a message into parts and runs the nested pipeline on each. Lines and tokens
// are cut as they are processed (the parts are views into the shared body until each
// becomes a message), so a large body is never held twice.
#include "steps.hpp"

namespace busway {
namespace {

// Produces the parts one at a time.
class PartSource {
 public:
  virtual ~PartSource() = default;
  virtual std::optional<Message> next() = 0;
  virtual std::optional<std::size_t> total() const { return std::nullopt; }
};

class TokenSource final : public PartSource {
 public:
  TokenSource(const Message& whole, std::string token)
      : whole_(whole), body_(whole.bodyPtr()), rest_(body_->bytes()), token_(std::move(token)) {}
  std::optional<Message> next() override {
    while (!rest_.empty()) {
      const auto at = rest_.find(token_);
      std::string_view piece = rest_.substr(0, at);
      rest_ = at == std::string_view::npos ? std::string_view() : rest_.substr(at + token_.size());
      if (token_ == "\n" && !piece.empty() && piece.back() == '\r') piece.remove_suffix(1);
      if (piece.empty()) continue;  // blank lines and a trailing delimiter make no parts
      Message part = whole_.derive();
      part.setBody(std::string(piece), body_->mediaType() == media::octets
                                           ? std::string(media::text)
                                           : body_->mediaType());
      return part;
    }
    return std::nullopt;
  }

 private:
  const Message& whole_;
  BodyPtr body_;
  std::string_view rest_;
  std::string token_;
};

class SelectionSource final : public PartSource {
 public:
  SelectionSource(const Message& whole, std::vector<Value> values, bool xml)
      : whole_(whole), values_(std::move(values)), xml_(xml) {}
  std::optional<Message> next() override {
    if (index_ >= values_.size()) return std::nullopt;
    Value& value = values_[index_++];
    Message part = whole_.derive();
    if (xml_) {
      part.setBody(toText(value), std::string(media::xml));
    } else {
      // Every JSON match is a JSON part, null included (toText would give "" for it).
      const nlohmann::json json = std::visit(
          [](const auto& v) -> nlohmann::json {
            if constexpr (std::is_same_v<std::decay_t<decltype(v)>, std::monostate>)
              return nullptr;
            else
              return v;
          },
          value);
      part.setBody(Body::fromJson(json));
    }
    return part;
  }
  std::optional<std::size_t> total() const override { return values_.size(); }

 private:
  const Message& whole_;
  std::vector<Value> values_;
  std::size_t index_ = 0;
  bool xml_;
};

class SplitRun : public std::enable_shared_from_this<SplitRun> {
 public:
  SplitRun(ExchangePtr parent, Done done, const SplitStep::Options& options, ProcessorPtr pipeline,
           boost::asio::any_io_executor executor, std::unique_ptr<PartSource> source)
      : parent_(std::move(parent)),
        done_(std::move(done)),
        options_(options),
        pipeline_(std::move(pipeline)),
        executor_(std::move(executor)),
        source_(std::move(source)),
        keep_(options.strategy.kind != AggregationStrategy::Kind::none) {}

  void runSequential() {
    for (;;) {
      Part part;
      {
        std::lock_guard lock(mutex_);
        if (stopping_) break;
        part = nextPart();
      }
      if (!part.exchange) break;
      // A part that goes on asynchronously may still finish before process() returns
      // (a multicast or nested split of quick steps does). Then the loop goes on here
      // rather than in `resume`, which would nest one call deeper for every part.
      auto handoff = std::make_shared<std::atomic<int>>(kRunning);
      auto resume = [self = shared_from_this(), part, handoff] {
        self->partDone(part);
        if (handoff->exchange(kPartDone) == kReturned) self->runSequential();
      };
      if (!pipeline_->process(part.exchange, std::move(resume))) {
        if (handoff->exchange(kReturned) == kRunning) return;  // `resume` carries on
        continue;                                              // the part is done already
      }
      partDone(part);
    }
    finish();
  }

  void pumpParallel() {
    std::vector<Part> launch;
    bool all_done = false;
    {
      std::lock_guard lock(mutex_);
      while (!stopping_ && !exhausted_ && in_flight_ < options_.max_in_flight) {
        auto part = nextPart();
        if (!part.exchange) break;
        ++in_flight_;
        launch.push_back(std::move(part));
      }
      all_done = (exhausted_ || stopping_) && in_flight_ == 0 && !finished_;
      if (all_done) finished_ = true;
    }
    for (auto& part : launch) {
      boost::asio::post(executor_, [self = shared_from_this(), part] {
        runToCompletion(*self->pipeline_, part.exchange, [self, part] {
          self->partDone(part);
          {
            std::lock_guard lock(self->mutex_);
            --self->in_flight_;
          }
          self->pumpParallel();
        });
      });
    }
    if (all_done) complete();
  }

 private:
  // Who carries on after an asynchronous part: see runSequential().
  static constexpr int kRunning = 0, kPartDone = 1, kReturned = 2;

  struct Part {
    ExchangePtr exchange;
    std::size_t index = 0;
  };

  // Called with the lock held.
  Part nextPart() {
    auto part = source_->next();
    if (!part) {
      exhausted_ = true;
      return {};
    }
    const std::size_t index = count_++;
    auto& h = part->headers();
    h.set("split.index", static_cast<std::int64_t>(index));
    if (const auto total = source_->total()) {
      h.set("split.size", static_cast<std::int64_t>(*total));
      h.set("split.last", index + 1 == *total);
    }
    if (keep_) results_.emplace_back();
    return Part{makeExchange(std::move(*part), parent_->pattern), index};
  }

  void partDone(const Part& part) {
    std::lock_guard lock(mutex_);
    const std::size_t index = part.index;
    const ExchangePtr& child = part.exchange;
    if (child->failed()) {
      if (!first_error_) {
        first_error_ = *child->error;
        first_error_->message =
            "split part " + std::to_string(index + 1) + " failed: " + first_error_->message;
      }
      if (options_.stop_on_error) stopping_ = true;
    } else if (keep_ && !child->stopped && index < results_.size()) {
      results_[index] = child->replyMessage();
    }
  }

  void finish() {
    {
      std::lock_guard lock(mutex_);
      if (finished_) return;
      finished_ = true;
    }
    complete();
  }

  void complete() {
    if (first_error_) {
      parent_->fail(*first_error_);
    } else if (keep_) {
      std::vector<Message> parts;
      for (auto& r : results_) {
        if (r) parts.push_back(std::move(*r));
      }
      auto combined = options_.strategy.combine(parent_->message, parts);
      if (combined)
        parent_->message = std::move(*combined);
      else
        parent_->fail(std::move(combined).error());
    }
    parent_->message.headers().set("split.count", static_cast<std::int64_t>(count_));
    done_();
  }

  ExchangePtr parent_;
  Done done_;
  const SplitStep::Options& options_;
  ProcessorPtr pipeline_;
  boost::asio::any_io_executor executor_;
  std::unique_ptr<PartSource> source_;
  const bool keep_;

  std::mutex mutex_;
  std::size_t count_ = 0;
  std::size_t in_flight_ = 0;
  bool exhausted_ = false;
  bool stopping_ = false;
  bool finished_ = false;
  std::optional<Error> first_error_;
  std::vector<std::optional<Message>> results_;
};

}  // namespace

bool SplitStep::process(const ExchangePtr& exchange, Done done) {
  std::unique_ptr<PartSource> source;
  switch (options_.mode) {
    case Mode::lines: source = std::make_unique<TokenSource>(exchange->message, "\n"); break;
    case Mode::tokenize:
      source = std::make_unique<TokenSource>(exchange->message, options_.token);
      break;
    case Mode::expression: {
      auto values = options_.expression->select(*exchange);
      if (!values) {
        exchange->fail(std::move(values).error());
        return true;
      }
      source = std::make_unique<SelectionSource>(exchange->message, std::move(*values),
                                                 options_.expression->language() == "xpath");
      break;
    }
  }
  // The run refers to the exchange's message while cutting parts: parts are cut before
  // the message is replaced at the end.
  auto run = std::make_shared<SplitRun>(exchange, std::move(done), options_, pipeline_, executor_,
                                        std::move(source));
  if (options_.parallel)
    run->pumpParallel();
  else
    run->runSequential();
  return false;
}

}  // namespace busway
