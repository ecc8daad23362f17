#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "busway/message/message.hpp"
#include "busway/util/error.hpp"

namespace busway {

enum class ExchangePattern { in_only, in_out };

// An exchange is one message travelling through a route, plus what the route learns on
// the way: whether it failed and why, whether a step stopped it, and (request-reply) the
// reply to send back. The consumer that created it decides what "done" means for its
// source (an HTTP reply, an ack to a broker, a file move): see Processor.
class Exchange {
 public:
  explicit Exchange(Message msg, ExchangePattern exchange_pattern = ExchangePattern::in_only)
      : message(std::move(msg)), pattern(exchange_pattern) {}

  Message message;
  ExchangePattern pattern;
  std::optional<Error> error;  // set by the step that failed; stops the pipeline
  bool stopped = false;        // set by <stop/> or a filter that dropped it on purpose
  int attempt = 1;             // 1 on first delivery; the error handler raises it
  // Request-reply: what the requester receives when the route completes. Set by <reply>;
  // when absent, the message as it stands at the end of the route is the reply.
  std::optional<Message> reply;
  // Undo actions of steps whose effect must not outlive a failed attempt (an idempotent
  // receiver's claim on a key): the route runs and clears them when an attempt fails, so a
  // redelivery is not mistaken for a duplicate.
  std::vector<std::function<void()>> on_failure;

  const Message& replyMessage() const noexcept { return reply ? *reply : message; }

  bool failed() const noexcept { return error.has_value(); }
  void fail(Error e) { error = std::move(e); }
  void fail(ErrorKind kind, std::string message_text, std::string where = {}) {
    error = Error(kind, std::move(message_text), std::move(where));
  }
};

using ExchangePtr = std::shared_ptr<Exchange>;

inline ExchangePtr makeExchange(Message message,
                                ExchangePattern pattern = ExchangePattern::in_only) {
  return std::make_shared<Exchange>(std::move(message), pattern);
}

}  // namespace busway
