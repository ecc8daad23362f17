#pragma once

#include <functional>
#include <memory>
#include <string_view>

#include "busway/message/exchange.hpp"

namespace busway {

// Called once when an asynchronous step has finished with an exchange. The outcome is in
// the exchange itself (error, stopped).
using Done = std::function<void()>;

// One step of a route, or anything that takes exchanges (a producer, a whole route).
//
// Contract (the same for every processor, so steps compose without knowing each other):
//  - process() returns true when the step finished synchronously; `done` is then never
//    called and the caller continues on its own stack.
//  - process() returns false when the step goes on asynchronously; `done` is then called
//    exactly once, on any thread, possibly before process() has returned.
//  - failure is written into exchange->error, never thrown.
// Processors are shared by all exchanges of a route: process() must be thread-safe.
class Processor {
 public:
  virtual ~Processor() = default;
  virtual bool process(const ExchangePtr& exchange, Done done) = 0;

  // True when process() always finishes synchronously. Such a processor may be run with
  // runSynchronously(), which builds no continuation: the hot path of cheap routes.
  virtual bool synchronous() const noexcept { return false; }
  virtual void runSynchronously(const ExchangePtr& exchange) {
    process(exchange, [] {});
  }
};

using ProcessorPtr = std::shared_ptr<Processor>;

// Runs `processor` and calls `done` when it has finished, whichever way it finished.
inline void runToCompletion(Processor& processor, const ExchangePtr& exchange, Done done) {
  Done copy = done;
  if (processor.process(exchange, std::move(copy))) done();
}

}  // namespace busway
