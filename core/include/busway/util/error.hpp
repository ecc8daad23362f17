#pragma once

#include <string>
#include <utility>

namespace busway {

// How a failure should be treated by the error handler. Transient failures are worth
// retrying (a peer timed out, a queue was full); permanent ones are not (a malformed body,
// a 4xx reply) and go straight to the dead-letter channel.
enum class ErrorKind {
  transient,
  permanent,
  rejected,  // back-pressure: a bounded resource refused the message
  timeout,
  invalid,  // bad input: the message cannot be processed as it is
  // A component a route needs is not available (its plugin failed to load or start). At
  // load time this makes the route unavailable instead of refusing the whole table.
  unavailable,
};

const char* toString(ErrorKind kind) noexcept;

// An error on the message path. Errors are values here, never exceptions: they travel with
// the exchange to the error handler and end up in the dead-letter record.
struct Error {
  ErrorKind kind = ErrorKind::permanent;
  std::string message;  // for people: what went wrong
  std::string where;    // route/step (or file:line:col) where it happened

  Error() = default;
  Error(ErrorKind k, std::string msg, std::string at = {})
      : kind(k), message(std::move(msg)), where(std::move(at)) {}

  std::string describe() const;
};

}  // namespace busway
