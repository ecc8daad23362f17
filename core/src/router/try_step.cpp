// <try>/<catch>: handle a failure inside the route instead of failing it.
#include <algorithm>

#include "steps.hpp"

namespace busway {

bool TryStep::process(const ExchangePtr& exchange, Done done) {
  Done resume = [this, exchange, done]() {
    if (handle(exchange, done)) done();
  };
  if (!body_->process(exchange, std::move(resume))) return false;
  return handle(exchange, done);
}

bool TryStep::handle(const ExchangePtr& exchange, const Done& done) const {
  if (!exchange->failed()) return true;
  const ErrorKind kind = exchange->error->kind;
  const auto taken = std::find_if(catches_.begin(), catches_.end(), [kind](const Catch& c) {
    return c.kinds.empty() || std::find(c.kinds.begin(), c.kinds.end(), kind) != c.kinds.end();
  });
  if (taken == catches_.end()) return true;
  // The failure stays visible to the catch's steps (and to whoever reads the message later).
  auto& headers = exchange->message.headers();
  headers.set("busway.failure.kind", std::string(toString(kind)));
  headers.set("busway.failure.reason", exchange->error->message);
  headers.set("busway.failure.where", exchange->error->where);
  exchange->error.reset();
  return taken->pipeline->process(exchange, done);
}

}  // namespace busway
