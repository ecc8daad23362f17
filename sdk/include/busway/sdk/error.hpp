#pragma once

// Results and errors of the C++ SDK, and the one place where exceptions are stopped before
// they reach the C ABI: every C callback the SDK hands the host runs the vendor's code
// inside guard() or guardVoid().

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <string>
#include <string_view>

#include "busway/plugin.h"

namespace busway::sdk {

// The C statuses as a scoped enum (same values, so conversions are free).
enum class Status : int {
  ok = BW_OK,
  pending = BW_PENDING,
  transient = BW_ERR_TRANSIENT,  // worth retrying: a peer is down, a timeout, a full buffer
  permanent = BW_ERR_PERMANENT,  // retrying will not help
  invalid = BW_ERR_INVALID,      // bad input: a malformed message or option
  timeout = BW_ERR_TIMEOUT,
  rejected = BW_ERR_REJECTED,        // back-pressure: the peer is full
  unsupported = BW_ERR_UNSUPPORTED,  // the plugin does not offer this
};

constexpr bw_status toC(Status status) noexcept { return static_cast<bw_status>(status); }
constexpr Status fromC(bw_status status) noexcept { return static_cast<Status>(status); }

constexpr const char* toString(Status status) noexcept {
  switch (status) {
    case Status::ok: return "ok";
    case Status::pending: return "pending";
    case Status::transient: return "transient";
    case Status::permanent: return "permanent";
    case Status::invalid: return "invalid";
    case Status::timeout: return "timeout";
    case Status::rejected: return "rejected";
    case Status::unsupported: return "unsupported";
  }
  return "unknown";
}

// Throw this from plugin code to choose what the bus does with the failure: a transient
// error is retried by the route's error handler, a permanent one goes to the dead-letter
// channel. Any other std::exception counts as permanent. The message is for people: say
// what went wrong and what to do ("cannot reach erp.example:443 (connection refused);
// check the 'host' option").
class Error : public std::runtime_error {
 public:
  Error(Status status, const std::string& message) : std::runtime_error(message), status_(status) {}
  Status status() const noexcept { return status_; }

 private:
  Status status_;
};

struct TransientError : Error {
  explicit TransientError(const std::string& message) : Error(Status::transient, message) {}
};
struct InvalidError : Error {
  explicit InvalidError(const std::string& message) : Error(Status::invalid, message) {}
};
struct RejectedError : Error {
  explicit RejectedError(const std::string& message) : Error(Status::rejected, message) {}
};
struct TimeoutError : Error {
  explicit TimeoutError(const std::string& message) : Error(Status::timeout, message) {}
};
struct UnsupportedError : Error {
  explicit UnsupportedError(const std::string& message) : Error(Status::unsupported, message) {}
};

namespace detail {

inline std::string_view view(bw_str text) noexcept {
  return text.data == nullptr ? std::string_view{} : std::string_view(text.data, text.size);
}
inline bw_str str(std::string_view text) noexcept { return bw_str{text.data(), text.size()}; }

// Copies `text` into the host's error buffer: at most capacity-1 bytes plus a NUL, never
// cutting a UTF-8 sequence in half. A missing or too small bw_error is ignored, because
// losing the text is better than writing past a buffer.
inline void writeError(bw_error* error, std::string_view text) noexcept {
  constexpr std::size_t kNeeded = offsetof(bw_error, capacity) + sizeof(error->capacity);
  if (error == nullptr || error->struct_size < kNeeded || error->message == nullptr ||
      error->capacity == 0)
    return;
  std::size_t n = std::min(text.size(), error->capacity - 1);
  if (n < text.size()) {
    while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0U) == 0x80U) --n;
  }
  if (n > 0) std::memcpy(error->message, text.data(), n);
  error->message[n] = '\0';
}

// Runs `body` (which returns a Status) and turns every exception into a status plus a
// message in `error`. Nothing thrown by plugin code may unwind into the host: it was
// compiled by another compiler, maybe, and C frames have no unwind tables.
template <class Body>
bw_status guard(bw_error* error, Body&& body) noexcept {
  try {
    return toC(body());
  } catch (const Error& e) {
    writeError(error, e.what());
    // ok/pending are not failures; an Error carrying them is a plugin bug, so call it permanent.
    return e.status() == Status::ok || e.status() == Status::pending ? BW_ERR_PERMANENT
                                                                     : toC(e.status());
  } catch (const std::exception& e) {
    writeError(error, e.what());
    return BW_ERR_PERMANENT;
  } catch (...) {
    writeError(error, "the plugin threw an exception that is not a std::exception");
    return BW_ERR_PERMANENT;
  }
}

// For callbacks that cannot report a status (destroy, stop, drain, timers, done
// callbacks): the exception is logged through `report` and swallowed.
template <class Report, class Body>
void guardVoid(Report&& report, Body&& body) noexcept {
  try {
    body();
  } catch (const std::exception& e) {
    try {
      report(std::string_view(e.what()));
    } catch (...) {  // NOLINT(bugprone-empty-catch): nothing is left to tell
    }
  } catch (...) {
    try {
      report(std::string_view("an exception that is not a std::exception"));
    } catch (...) {  // NOLINT(bugprone-empty-catch)
    }
  }
}

}  // namespace detail
}  // namespace busway::sdk
