// Steps that change the message in place: set-header, set-body, transform, log, reply.
#include "busway/runtime/bus_context.hpp"
#include "steps.hpp"

namespace busway {

void IdempotentStep::apply(Exchange& exchange) {
  auto value = key_->evaluate(exchange);
  if (!value) {
    exchange.fail(std::move(value).error());
    return;
  }
  const std::string key = toText(toHeader(*value));
  if (key.empty()) {
    exchange.fail(ErrorKind::invalid,
                  "the idempotency key of message " + exchange.message.id() + " is empty",
                  "idempotent");
    return;
  }
  auto store = context_.idempotency();
  if (!store) {
    exchange.fail(store.error());
    return;
  }
  const std::string message_id = exchange.message.id();
  auto seen = (*store)->claim(repository_, key, message_id, expire_);
  if (!seen) {
    exchange.fail(std::move(seen).error());
    return;
  }
  if (*seen == store::IdempotencyStore::Seen::duplicate) {
    // Dropped on purpose: the route counts it completed and the source is acknowledged.
    exchange.message.headers().set("busway.duplicate", true);
    exchange.stopped = true;
    if (Log::enabled(LogLevel::debug)) {
      Log::write(
          LogLevel::debug, "idempotent",
          "message " + message_id + " dropped: key '" + key + "' seen before in " + repository_);
    }
    return;
  }
  if (*seen == store::IdempotencyStore::Seen::fresh) {
    exchange.on_failure.push_back([s = *store, repository = repository_, key, message_id] {
      s->release(repository, key, message_id);
    });
  }
}

void SetHeaderStep::apply(Exchange& exchange) {
  auto value = value_->evaluate(exchange);
  if (!value) {
    exchange.fail(std::move(value).error());
    return;
  }
  exchange.message.headers().set(name_, toHeader(*value));
}

void SetBodyStep::apply(Exchange& exchange) {
  std::string media = media_type_.empty() ? exchange.message.body().mediaType() : media_type_;
  if (template_) {
    auto text = template_->render(exchange);
    if (!text) {
      exchange.fail(std::move(text).error());
      return;
    }
    exchange.message.setBody(std::move(*text), std::move(media));
    return;
  }
  auto value = expression_->evaluate(exchange);
  if (!value) {
    exchange.fail(std::move(value).error());
    return;
  }
  // Without a media-type attribute the body says what it now is: structured values are
  // JSON, and a string picked out of a document is text (a name taken from a JSON body is
  // no longer JSON). Constants and templates keep the message's media type.
  if (media_type_.empty()) {
    const auto language = expression_->language();
    if (std::holds_alternative<nlohmann::json>(*value)) {
      media = std::string(media::json);
    } else if (std::holds_alternative<std::string>(*value) &&
               (language == "jsonpath" || language == "xpath")) {
      media = std::string(media::text);
    }
  }
  exchange.message.setBody(toText(*value), std::move(media));
}

void TransformStep::apply(Exchange& exchange) {
  auto result = transformer_->apply(exchange);
  if (!result) {
    Error error = std::move(result).error();
    if (error.where.empty()) error.where = name_;
    exchange.fail(std::move(error));
  }
}

void LogStep::apply(Exchange& exchange) {
  if (!Log::enabled(level_)) return;
  auto text = message_.render(exchange);
  // A log line that cannot be rendered must not fail the message: log why instead.
  Log::write(level_, category_,
             text ? *text : "(log message failed: " + text.error().message + ")");
}

void ReplyStep::apply(Exchange& exchange) {
  Message reply = exchange.message;
  if (body_) {
    auto text = body_->render(exchange);
    if (!text) {
      exchange.fail(std::move(text).error());
      return;
    }
    reply.setBody(std::move(*text), media_type_.empty() ? reply.body().mediaType() : media_type_);
  } else if (!media_type_.empty()) {
    reply.setBody(reply.bodyPtr() ? std::string(reply.bodyText()) : std::string(), media_type_);
  }
  if (status_) reply.headers().set("status", *status_);
  exchange.reply = std::move(reply);
}

void FilterStep::apply(Exchange& exchange) {
  auto matches = predicate_->test(exchange);
  if (!matches) {
    exchange.fail(std::move(matches).error());
    return;
  }
  if (!*matches) exchange.stopped = true;
}

ChoiceStep::ChoiceStep(std::vector<Branch> whens, ProcessorPtr otherwise)
    : whens_(std::move(whens)), otherwise_(std::move(otherwise)) {
  for (const auto& branch : whens_) synchronous_ = synchronous_ && branch.pipeline->synchronous();
  if (otherwise_) synchronous_ = synchronous_ && otherwise_->synchronous();
}

Processor* ChoiceStep::select(Exchange& exchange) const {
  for (const auto& branch : whens_) {
    auto matches = branch.predicate->test(exchange);
    if (!matches) {
      exchange.fail(std::move(matches).error());
      return nullptr;
    }
    if (*matches) return branch.pipeline.get();
  }
  return otherwise_.get();
}

bool ChoiceStep::process(const ExchangePtr& exchange, Done done) {
  Processor* branch = select(*exchange);
  return branch == nullptr || branch->process(exchange, std::move(done));
}

void ChoiceStep::runSynchronously(const ExchangePtr& exchange) {
  if (Processor* branch = select(*exchange)) branch->runSynchronously(exchange);
}

bool ToStep::process(const ExchangePtr& exchange, Done done) {
  // The target works on its own exchange: an in-only call must not change our message,
  // but its failure is ours (the acknowledgement chain depends on it).
  auto child =
      childExchange(*exchange, in_out_ ? ExchangePattern::in_out : ExchangePattern::in_only);
  auto settle = [exchange, child, this] {
    if (child->failed()) {
      exchange->fail(*child->error);
      if (exchange->error->where.empty()) exchange->error->where = target_;
      // What the endpoint learned before it failed (an HTTP status, a SQL state) stays
      // visible to a <catch> and to the error handler.
      exchange->message.headers() = child->message.headers();
    } else if (in_out_) {
      exchange->message = child->replyMessage();
    }
  };
  Done resume = [settle, done]() {
    settle();
    done();
  };
  if (!producer_->process(child, std::move(resume))) return false;
  settle();
  return true;
}

}  // namespace busway
