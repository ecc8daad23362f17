// @PLUGIN_TITLE@: a busway plugin with one endpoint, @PLUGIN_ID@:NAME.
//
//  - Producer (<to uri="@PLUGIN_ID@:orders"/>): keeps the last `capacity` message bodies per
//    NAME in memory and, for request-reply, answers with a JSON echo. With `reply-delay`
//    above zero it completes asynchronously, the way a network client would.
//  - Consumer (<from uri="@PLUGIN_ID@:ticks?period=5s"/>): emits one JSON message per
//    `period` from a timer, and redelivers a message the bus could not take (at-least-once).
//
// Replace the bodies of send() and startConsumer() with calls to your system; keep the shape.
// The rules (threads, the ack contract, errors) are at the top of <busway/plugin.hpp>.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include <busway/plugin.hpp>

namespace @PLUGIN_NAMESPACE@ {

namespace sdk = busway::sdk;

// Text as a JSON string literal.
std::string jsonString(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20) {
      out += "\\u00";
      out += kHex[byte >> 4U];
      out += kHex[byte & 0xFU];
    } else {
      out += c;
    }
  }
  return out + "\"";
}

class @PLUGIN_CLASS@Endpoint;

// The plugin: one per loaded plugin. Holds what its endpoints share, here the in-memory
// rings (two endpoints with the same NAME write to the same ring).
class @PLUGIN_CLASS@Plugin : public sdk::Plugin {
 public:
  using Endpoints = sdk::List<@PLUGIN_CLASS@Endpoint>;

  // `config` holds the plugin's own options ("config" in plugin.json), defaults applied.
  @PLUGIN_CLASS@Plugin(sdk::Host host, const sdk::Options& config)
      : Plugin(host, config), label_(config.text("label")) {
    host.info("@PLUGIN_ID@ ready (label ", label_, ")");
  }

  const std::string& label() const noexcept { return label_; }

  // Appends `body` to the ring of `name`; returns how many it now holds. Called from
  // concurrent sends, hence the lock.
  std::size_t store(const std::string& name, std::string_view body, std::size_t capacity) {
    const std::lock_guard<std::mutex> lock(mutex_);
    auto& ring = rings_[name];
    ring.emplace_back(body);
    while (ring.size() > capacity) ring.pop_front();
    return ring.size();
  }

 private:
  std::string label_;
  std::mutex mutex_;
  std::map<std::string, std::deque<std::string>> rings_;
};

// What the consumer's timer chain needs. Shared, because a timer cannot be cancelled and
// may fire after the endpoint is gone: it holds a Route (inert once the consumer stops),
// never a pointer to the endpoint.
struct Ticker {
  sdk::Route route;
  sdk::Host host;
  std::chrono::milliseconds period{};
  std::string name;
  std::string text;
  std::mutex mutex;
  std::uint64_t sequence = 0;
  std::deque<std::string> redeliver;  // bodies the bus could not take, sent again first
};

void tick(const std::shared_ptr<Ticker>& ticker);

class @PLUGIN_CLASS@Endpoint : public sdk::Endpoint {
 public:
  static constexpr std::string_view scheme = "@PLUGIN_ID@";

  // One endpoint per URI. Read and check the options here; throwing refuses the URI with
  // your message, so the routing table fails to load instead of failing at run time.
  @PLUGIN_CLASS@Endpoint(@PLUGIN_CLASS@Plugin& plugin, const sdk::Options& options)
      : plugin_(plugin),
        host_(plugin.host()),
        name_(options.path()),
        capacity_(options.integer("capacity")),
        max_size_(options.bytes("max-size")),
        reply_delay_(options.duration("reply-delay")),
        period_(options.duration("period")),
        text_(options.text("text")) {
    if (name_.empty())
      throw sdk::InvalidError("'" + options.uri() + "' needs a NAME: @PLUGIN_ID@:NAME");
    if (capacity_ < 1)
      throw sdk::InvalidError("capacity must be at least 1 in '" + options.uri() + "'");
    if (period_.count() < 1)
      throw sdk::InvalidError("period must be at least 1ms in '" + options.uri() + "'");
  }

  // Producer. Runs concurrently on the bus's worker threads.
  void send(sdk::Sending& sending) override {
    const sdk::MessageRef message = sending.message();
    if (message.body().size() > max_size_) {
      // Invalid: retrying will not make it smaller; the route's dead-letter channel gets it.
      throw sdk::InvalidError("a message of " + std::to_string(message.body().size()) +
                              " bytes is over max-size (" + std::to_string(max_size_) +
                              " bytes) of @PLUGIN_ID@:" + name_);
    }
    const std::size_t stored =
        plugin_.store(name_, message.body(), static_cast<std::size_t>(capacity_));
    host_.metric("stored");
    host_.debug("stored message ", message.id(), " in ", name_, " (", stored, " kept)");

    if (reply_delay_.count() == 0) {
      // Synchronous: returning is success; a reply is written into the message itself.
      if (sending.wantsReply()) message.setBody(echo(message, stored), "application/json");
      return;
    }
    // Asynchronous: defer() takes the send over; complete it exactly once, from any thread.
    // A real adapter does this in its client library's completion callback.
    if (!sending.wantsReply()) {
      host_.schedule(reply_delay_, [later = sending.defer()]() mutable { later.complete(); });
      return;
    }
    sdk::OwnedMessage reply = host_.newMessage(echo(message, stored), "application/json");
    reply.setCorrelationId(message.id());
    host_.schedule(reply_delay_, [later = sending.defer(), reply = std::move(reply)]() mutable {
      later.complete(std::move(reply));
    });
  }

  // Consumer. Called on the control thread: start the work and return.
  void startConsumer(sdk::Route route) override {
    auto ticker = std::make_shared<Ticker>();
    ticker->route = route;
    ticker->host = host_;
    ticker->period = period_;
    ticker->name = name_;
    ticker->text = text_;
    host_.schedule(period_, [ticker] { tick(ticker); });
    host_.info("consuming from @PLUGIN_ID@:", name_, " every ", period_.count(), "ms");
  }

  // The Route refuses deliveries from now on; the timer chain ends at its next tick.
  void stopConsumer() override { host_.info("stopped consuming from @PLUGIN_ID@:", name_); }

 private:
  // The reply to a request: what was sent, and how many messages NAME now keeps.
  std::string echo(const sdk::MessageView& message, std::size_t stored) const {
    return "{\"echo\":" + jsonString(message.body()) + ",\"id\":" + jsonString(message.id()) +
           ",\"name\":" + jsonString(name_) + ",\"stored\":" + std::to_string(stored) +
           ",\"from\":" + jsonString(plugin_.label()) + "}";
  }

  @PLUGIN_CLASS@Plugin& plugin_;
  sdk::Host host_;
  std::string name_;
  std::int64_t capacity_;
  std::uint64_t max_size_;
  std::chrono::milliseconds reply_delay_;
  std::chrono::milliseconds period_;
  std::string text_;
};

// One timer tick: deliver one message, then schedule the next tick.
void tick(const std::shared_ptr<Ticker>& ticker) {
  if (!ticker->route.active()) return;  // the consumer stopped: end the chain
  std::string body;
  {
    const std::lock_guard<std::mutex> lock(ticker->mutex);
    if (!ticker->redeliver.empty()) {
      body = std::move(ticker->redeliver.front());
      ticker->redeliver.pop_front();
    } else {
      body = "{\"text\":" + jsonString(ticker->text) + ",\"name\":" + jsonString(ticker->name) +
             ",\"sequence\":" + std::to_string(++ticker->sequence) + "}";
    }
  }
  sdk::OwnedMessage message = ticker->host.newMessage(body, "application/json");
  message.setHeader("@PLUGIN_ID@-name", ticker->name);

  // The done callback IS the acknowledgement. A real source is acked here (commit the
  // offset, ack the broker) when result.ok(), and left for redelivery otherwise.
  const sdk::Status status =
      ticker->route.deliver(std::move(message), [ticker, body](const sdk::DeliveryResult& result) {
        if (result.ok()) {
          ticker->host.metric("acked");
          return;
        }
        ticker->host.warn("the bus could not take a message (", result.error,
                          "); it will be sent again");
        ticker->host.metric("nacked");
        const std::lock_guard<std::mutex> lock(ticker->mutex);
        ticker->redeliver.push_back(body);
      });
  if (status != sdk::Status::ok && ticker->route.active()) {
    // Refused at once (the bus is full): keep it with the source, try again next tick.
    const std::lock_guard<std::mutex> lock(ticker->mutex);
    ticker->redeliver.push_back(body);
  }
  ticker->host.schedule(ticker->period, [ticker] { tick(ticker); });
}

}  // namespace @PLUGIN_NAMESPACE@

// Exports busway_plugin_entry. The id and version come from plugin.json (busway_add_plugin).
BUSWAY_PLUGIN(@PLUGIN_NAMESPACE@::@PLUGIN_CLASS@Plugin);
