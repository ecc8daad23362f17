// The bw_host_api table: what a plugin may ask of the bus. Every function is noexcept in
// effect: nothing here throws across the C boundary.
#include <cstring>

#include "busway/util/log.hpp"
#include "plugin_internal.hpp"

namespace busway {
namespace {

std::string_view view(bw_str s) {
  return s.data == nullptr ? std::string_view() : std::string_view(s.data, s.size);
}
bw_str str(std::string_view s) { return bw_str{s.data(), s.size()}; }

void hostLog(bw_host* host, int level, bw_str message) {
  static constexpr LogLevel kLevels[] = {LogLevel::trace, LogLevel::debug, LogLevel::info,
                                         LogLevel::warn, LogLevel::error};
  const LogLevel l = kLevels[level < 0 ? 0 : level > 4 ? 4 : level];
  Log::write(l, host != nullptr ? "plugin:" + host->plugin_id : std::string("plugin"),
             view(message));
}

bw_message* messageNew(bw_host*) {
  try {
    return new bw_message();
  } catch (...) {
    return nullptr;
  }
}

void messageFree(bw_message* message) { delete message; }

bw_str messageBody(const bw_message* m) { return str(m->target->bodyText()); }
bw_str messageMediaType(const bw_message* m) { return str(m->target->body().mediaType()); }

bw_status messageSetBody(bw_message* m, bw_str body, bw_str media_type) {
  try {
    m->texts.clear();
    m->target->setBody(std::string(view(body)), media_type.size == 0
                                                    ? std::string(media::octets)
                                                    : std::string(view(media_type)));
    return BW_OK;
  } catch (...) {
    return BW_ERR_TRANSIENT;
  }
}

bw_str messageId(const bw_message* m) { return str(m->target->id()); }
bw_str messageCorrelationId(const bw_message* m) { return str(m->target->correlationId()); }

bw_status messageSetCorrelationId(bw_message* m, bw_str id) {
  try {
    m->target->setCorrelationId(std::string(view(id)));
    return BW_OK;
  } catch (...) {
    return BW_ERR_TRANSIENT;
  }
}

size_t messageHeaderCount(const bw_message* m) { return m->target->headers().size(); }

// Non-string values are rendered once and kept with the message (see bw_message::texts).
bw_str headerText(const bw_message* m, const HeaderValue& value) {
  if (const auto* s = std::get_if<std::string>(&value)) return str(*s);
  auto& texts = const_cast<bw_message*>(m)->texts;
  texts.push_back(toText(value));
  return str(texts.back());
}

int messageHeaderAt(const bw_message* m, size_t index, bw_str* name, bw_str* value) {
  try {
    if (index >= m->target->headers().size()) return 0;
    const auto& entry = *(m->target->headers().begin() + static_cast<std::ptrdiff_t>(index));
    if (name != nullptr) *name = str(entry.first);
    if (value != nullptr) *value = headerText(m, entry.second);
    return 1;
  } catch (...) {
    return 0;
  }
}

int messageHeaderGet(const bw_message* m, bw_str name, bw_str* value) {
  try {
    const HeaderValue* found = m->target->headers().find(view(name));
    if (found == nullptr) return 0;
    if (value != nullptr) *value = headerText(m, *found);
    return 1;
  } catch (...) {
    return 0;
  }
}

bw_status messageHeaderSet(bw_message* m, bw_str name, bw_str value) {
  try {
    if (name.size == 0) return BW_ERR_INVALID;
    m->target->headers().set(view(name), std::string(view(value)));
    return BW_OK;
  } catch (...) {
    return BW_ERR_TRANSIENT;
  }
}

bw_status messageHeaderSetInt(bw_message* m, bw_str name, int64_t value) {
  try {
    if (name.size == 0) return BW_ERR_INVALID;
    m->target->headers().set(view(name), value);
    return BW_OK;
  } catch (...) {
    return BW_ERR_TRANSIENT;
  }
}

bw_status messageHeaderRemove(bw_message* m, bw_str name) {
  try {
    m->target->headers().erase(view(name));
    return BW_OK;
  } catch (...) {
    return BW_ERR_TRANSIENT;
  }
}

bw_status deliver(bw_route* route, bw_message* message_owned, int in_out, bw_delivery_done_fn done,
                  void* done_context) {
  std::unique_ptr<bw_message> message(message_owned);
  if (route == nullptr || message == nullptr || done == nullptr) return BW_ERR_INVALID;
  if (!route->open.load()) return BW_ERR_REJECTED;  // the consumer was stopped
  try {
    auto exchange = makeExchange(std::move(*message->target),
                                 in_out != 0 ? ExchangePattern::in_out : ExchangePattern::in_only);
    // The plugin called from its own thread (often its I/O thread): the route runs on the
    // bus's pool and the plugin hears the outcome through `done`, its acknowledgement. A
    // consumer whose manifest says "inline_routes" lends its thread instead.
    ProcessorPtr processor = route->route;
    auto run = [processor, exchange, done, done_context, in_out] {
      runToCompletion(*processor, exchange, [exchange, done, done_context, in_out] {
        if (exchange->failed()) {
          const std::string text = exchange->error->describe();
          done(done_context, toStatus(exchange->error->kind), nullptr, str(text));
          return;
        }
        if (in_out != 0) {
          Message reply_copy = exchange->replyMessage();
          bw_message reply(&reply_copy);
          done(done_context, BW_OK, &reply, bw_str{nullptr, 0});
        } else {
          done(done_context, BW_OK, nullptr, bw_str{nullptr, 0});
        }
      });
    };
    if (route->run_inline) {
      run();
    } else {
      boost::asio::post(route->executor, std::move(run));
    }
    return BW_OK;
  } catch (...) {
    return BW_ERR_TRANSIENT;
  }
}

void sendingComplete(bw_sending* sending, bw_status status, bw_message* reply_owned, bw_str error) {
  std::unique_ptr<bw_message> reply(reply_owned);
  if (sending == nullptr) return;
  Exchange& exchange = *sending->exchange;
  if (status != BW_OK) {
    exchange.fail(toErrorKind(status),
                  error.size > 0
                      ? std::string(view(error))
                      : std::string("the plugin reported failure ") + std::to_string(status),
                  sending->where);
  } else if (reply && sending->wants_reply) {
    exchange.message.setBody(reply->target->bodyPtr());
    for (const auto& [name, value] : reply->target->headers())
      exchange.message.headers().set(name, value);
  }
  // Whoever comes second finishes: send() returning pending, or this completion.
  int expected = 0;
  if (sending->state.compare_exchange_strong(expected, 1))
    return;  // send() is still running; it finishes
  auto done = std::move(sending->done);
  delete sending;
  done();
}

bw_message* sendingMessage(bw_sending* sending) { return &sending->message; }
int sendingWantsReply(const bw_sending* sending) { return sending->wants_reply ? 1 : 0; }

bw_status schedule(bw_host* host, uint64_t delay_ms, void (*fn)(void*), void* context) {
  if (host == nullptr || fn == nullptr) return BW_ERR_INVALID;
  try {
    std::shared_ptr<PluginTimers> timers = host->timers;
    std::lock_guard lock(timers->mutex);
    if (timers->closed) return BW_ERR_REJECTED;
    const std::uint64_t key = timers->next++;
    auto timer = std::make_shared<boost::asio::steady_timer>(host->executor,
                                                             std::chrono::milliseconds(delay_ms));
    timers->pending.emplace(key, timer);
    timer->async_wait([timers, key, fn, context](const boost::system::error_code& ec) {
      {
        std::lock_guard guard(timers->mutex);
        timers->pending.erase(key);
        if (ec || timers->closed) return;
        ++timers->running;
      }
      fn(context);
      std::lock_guard guard(timers->mutex);
      if (--timers->running == 0) timers->idle.notify_all();
    });
    return BW_OK;
  } catch (...) {
    return BW_ERR_TRANSIENT;
  }
}

void metricAdd(bw_host* host, bw_str name, double value) {
  if (host == nullptr) return;
  try {
    std::lock_guard lock(host->metrics_mutex);
    host->metrics[std::string(view(name))] += value;
  } catch (...) {
  }
}

const bw_host_api kHostApi = {
    sizeof(bw_host_api),
    BW_ABI_MAJOR,
    BW_ABI_MINOR,
    hostLog,
    messageNew,
    messageFree,
    messageBody,
    messageMediaType,
    messageSetBody,
    messageId,
    messageCorrelationId,
    messageSetCorrelationId,
    messageHeaderCount,
    messageHeaderAt,
    messageHeaderGet,
    messageHeaderSet,
    messageHeaderSetInt,
    messageHeaderRemove,
    deliver,
    sendingComplete,
    sendingMessage,
    sendingWantsReply,
    schedule,
    metricAdd,
};

}  // namespace

const bw_host_api* hostApi() { return &kHostApi; }

void PluginTimers::close() {
  std::unique_lock lock(mutex);
  closed = true;
  for (auto& [key, timer] : pending) timer->cancel();
  idle.wait(lock, [this] { return running == 0; });
}

bw_status toStatus(ErrorKind kind) noexcept {
  switch (kind) {
    case ErrorKind::transient: return BW_ERR_TRANSIENT;
    case ErrorKind::permanent: return BW_ERR_PERMANENT;
    case ErrorKind::invalid: return BW_ERR_INVALID;
    case ErrorKind::timeout: return BW_ERR_TIMEOUT;
    case ErrorKind::rejected: return BW_ERR_REJECTED;
    case ErrorKind::unavailable: return BW_ERR_TRANSIENT;
  }
  return BW_ERR_PERMANENT;
}

ErrorKind toErrorKind(bw_status status) noexcept {
  switch (status) {
    case BW_ERR_TRANSIENT: return ErrorKind::transient;
    case BW_ERR_INVALID: return ErrorKind::invalid;
    case BW_ERR_TIMEOUT: return ErrorKind::timeout;
    case BW_ERR_REJECTED: return ErrorKind::rejected;
    default: return ErrorKind::permanent;
  }
}

std::string errorText(const bw_error& error, bw_status status) {
  std::size_t n = 0;
  while (n < error.capacity && error.message[n] != '\0') ++n;
  if (n > 0) return std::string(error.message, n);
  return "the plugin reported status " + std::to_string(status) + " without a message";
}

OptionArray::OptionArray(const std::vector<std::pair<std::string, std::string>>& given,
                         const std::vector<OptionSpec>& specs) {
  for (const auto& spec : specs) {
    const std::string* value = nullptr;
    for (const auto& [name, v] : given) {
      if (name == spec.name) value = &v;
    }
    if (value != nullptr) values_.emplace_back(spec.name, *value);
    // A declared default arrives even when it is empty ("default": ""), so the plugin
    // always sees a value for such an option.
    else if (spec.has_default || !spec.default_value.empty())
      values_.emplace_back(spec.name, spec.default_value);
  }
  for (const auto& [name, value] : values_) {
    options_.push_back(bw_option{sizeof(bw_option), str(name), str(value)});
  }
}

const bw_endpoint_api* LoadedPlugin::endpointApi(const std::string& scheme) const {
  for (std::size_t i = 0; i < descriptor->endpoint_count; ++i) {
    const bw_endpoint_api* api = descriptor->endpoints[i];
    if (api != nullptr && api->scheme != nullptr && scheme == api->scheme) return api;
  }
  return nullptr;
}

const bw_format_api* LoadedPlugin::formatApi(const std::string& name) const {
  for (std::size_t i = 0; i < descriptor->format_count; ++i) {
    const bw_format_api* api = descriptor->formats[i];
    if (api != nullptr && api->name != nullptr && name == api->name) return api;
  }
  return nullptr;
}

const bw_transformer_api* LoadedPlugin::transformerApi(const std::string& name) const {
  for (std::size_t i = 0; i < descriptor->transformer_count; ++i) {
    const bw_transformer_api* api = descriptor->transformers[i];
    if (api != nullptr && api->name != nullptr && name == api->name) return api;
  }
  return nullptr;
}

}  // namespace busway
