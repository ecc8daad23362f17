#include "steps.hpp"

namespace busway {

Pipeline::Pipeline(const std::string* route, std::vector<PipelineStep> steps) : route_(route) {
  steps_.reserve(steps.size());
  for (auto& step : steps) {
    const bool sync = step.processor->synchronous();
    synchronous_ = synchronous_ && sync;
    steps_.push_back(Entry{std::move(step.processor), sync, step.name});
  }
}

void Pipeline::runSynchronously(const ExchangePtr& exchange) {
  for (auto& step : steps_) {
    if (exchange->failed() || exchange->stopped) return;
    step.processor->runSynchronously(exchange);
    record(*exchange, step.name);
  }
}

bool Pipeline::process(const ExchangePtr& exchange, Done done) {
  return runFrom(exchange, 0, done);
}

bool Pipeline::runFrom(const ExchangePtr& exchange, std::size_t index, Done& done) {
  for (; index < steps_.size(); ++index) {
    if (exchange->failed() || exchange->stopped) return true;
    Entry& step = steps_[index];
    if (step.sync) {
      step.processor->runSynchronously(exchange);
      record(*exchange, step.name);
      continue;
    }
    auto resume = [self = shared_from_this(), exchange, index, done]() mutable {
      self->record(*exchange, self->steps_[index].name);
      if (self->runFrom(exchange, index + 1, done)) done();
    };
    if (!step.processor->process(exchange, std::move(resume))) return false;
    record(*exchange, step.name);
  }
  return true;
}

void Pipeline::record(Exchange& exchange, const std::string* name) const {
  // Nameless steps are parts of a step that the enclosing pipeline records (filter).
  if (name != nullptr) exchange.message.recordStep(route_, name, exchange.failed());
}

ExchangePtr childExchange(const Exchange& exchange, ExchangePattern pattern) {
  return makeExchange(exchange.message, pattern);
}

}  // namespace busway
