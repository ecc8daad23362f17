#include "busway/util/error.hpp"

namespace busway {

const char* toString(ErrorKind kind) noexcept {
  switch (kind) {
    case ErrorKind::transient: return "transient";
    case ErrorKind::permanent: return "permanent";
    case ErrorKind::rejected: return "rejected";
    case ErrorKind::timeout: return "timeout";
    case ErrorKind::invalid: return "invalid";
    case ErrorKind::unavailable: return "unavailable";
  }
  return "unknown";
}

std::string Error::describe() const {
  std::string out;
  if (!where.empty()) {
    out += where;
    out += ": ";
  }
  out += message;
  out += " (";
  out += toString(kind);
  out += ')';
  return out;
}

}  // namespace busway
