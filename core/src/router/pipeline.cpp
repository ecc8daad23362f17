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
    exchange->message.recordStep(route_, step.name, exchange->failed());
  }
}

bool Pipeline::process(const ExchangePtr& exchange, Done done) { return runFrom(exchange, 0, done); }

bool Pipeline::runFrom(const ExchangePtr& exchange, std::size_t index, Done& done) {
  for (; index < steps_.size(); ++index) {
    if (exchange->failed() || exchange->stopped) return true;
    Entry& step = steps_[index];
    if (step.sync) {
      step.processor->runSynchronously(exchange);
      exchange->message.recordStep(route_, step.name, exchange->failed());
      continue;
    }
    auto resume = [self = shared_from_this(), exchange, index, done]() mutable {
      exchange->message.recordStep(self->route_, self->steps_[index].name, exchange->failed());
      if (self->runFrom(exchange, index + 1, done)) done();
    };
    if (!step.processor->process(exchange, std::move(resume))) return false;
    exchange->message.recordStep(route_, step.name, exchange->failed());
  }
  return true;
}

ExchangePtr childExchange(const Exchange& exchange, ExchangePattern pattern) {
  return makeExchange(exchange.message, pattern);
}

}  // namespace busway
