// amqp: RabbitMQ (AMQP 0-9-1) endpoints. A consumer acks a delivery only in the done callback
// of Route::deliver when the route succeeded, and nacks (requeue or reject) otherwise; a
// producer's send completes only on the broker's publisher confirm, and a mandatory message
// that no queue takes (basic.return) fails. Each endpoint role has its own connection, owned
// by one I/O thread (link.hpp). docs/plugins/amqp.md is the user's page.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include <unistd.h>

#include "fields.hpp"
#include "link.hpp"
#include <busway/plugin.hpp>

namespace busway::amqp {

namespace {

std::string defaultNodeId() {
  if (const char* id = std::getenv("BUSWAY_NODE_ID"); id != nullptr && *id != '\0') return id;
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0')
    std::snprintf(name, sizeof name, "busway");
  return std::string(name) + "-" + std::to_string(::getpid());
}

bool startsWithAmqp(std::string_view name) {
  if (name.size() < 5) return false;
  for (std::size_t i = 0; i < 5; ++i) {
    if (std::tolower(static_cast<unsigned char>(name[i])) != "amqp."[i]) return false;
  }
  return true;
}

}  // namespace

class AmqpEndpoint;

class AmqpPlugin : public sdk::Plugin {
 public:
  AmqpPlugin(sdk::Host host, const sdk::Options& config)
      : Plugin(host, config), node_id_(defaultNodeId()) {
    host.info("node id ", node_id_,
              " (the consumer tag and connection name; set BUSWAY_NODE_ID or busway run "
              "--node-id to choose it)");
  }
  // Endpoints (and their links) are gone before the plugin.
  ~AmqpPlugin() override { releaseTlsLibrary(); }
  AmqpPlugin(const AmqpPlugin&) = delete;
  AmqpPlugin& operator=(const AmqpPlugin&) = delete;
  using Endpoints = sdk::List<AmqpEndpoint>;

  const std::string& nodeId() const noexcept { return node_id_; }

 private:
  std::string node_id_;
};

class AmqpEndpoint : public sdk::Endpoint {
 public:
  static constexpr std::string_view scheme = "amqp";

  AmqpEndpoint(AmqpPlugin& plugin, const sdk::Options& options)
      : host_(plugin.host()), node_id_(plugin.nodeId()) {
    LinkSettings& s = settings_;
    s.address = parseAddress(options.path(), options.uri());
    s.tls = options.boolean("tls", false);
    s.tls_ca = options.text("tls-ca", "");
    s.tls_cert = options.text("tls-cert", "");
    s.tls_key = options.text("tls-key", "");
    s.tls_verify = options.boolean("tls-verify", true);
    s.username = options.text("username", "guest");
    s.password = options.text("password", "guest");
    s.heartbeat = options.duration("heartbeat", std::chrono::seconds(10));
    s.connect_timeout = options.duration("connect-timeout", std::chrono::seconds(10));
    s.reconnect_delay =
        std::max(options.duration("reconnect-delay", std::chrono::milliseconds(200)),
                 std::chrono::milliseconds(10));
    s.reconnect_max_delay = std::max(
        options.duration("reconnect-max-delay", std::chrono::seconds(10)), s.reconnect_delay);
    s.declare = options.boolean("declare", true);
    s.durable = options.boolean("durable", true);
    s.auto_delete = options.boolean("auto-delete", false);
    s.exchange = options.text("exchange", "");
    s.exchange_type = options.text("exchange-type", "direct");
    s.queue = options.text("queue", "");
    s.queue_type = options.text("queue-type", "classic");
    s.dead_letter_exchange = options.text("dead-letter-exchange", "");
    routing_key_ = options.text("routing-key", "");
    s.binding_key = options.text("binding-key", "");
    if (s.binding_key.empty()) s.binding_key = routing_key_;
    if (!s.tls_cert.empty() && s.tls_key.empty()) {
      throw sdk::InvalidError("'" + options.uri() +
                              "': tls-cert needs tls-key (the certificate's private key)");
    }
    if (!s.exchange.empty() && s.exchange.rfind("amq.", 0) == 0) s.declare_exchange = false;
    prefetch_ = options.integer("prefetch", 50);
    if (prefetch_ < 0 || prefetch_ > 65535) {
      throw sdk::InvalidError("'" + options.uri() +
                              "': prefetch must be from 0 (no limit) to 65535");
    }
    reject_on_failure_ = options.text("on-failure", "requeue") == "reject";
    mandatory_ = options.boolean("mandatory", true);
    persistent_ = options.boolean("persistent", true);
    publish_timeout_ = options.duration("publish-timeout", std::chrono::seconds(30));
    const int port = s.address.port != 0 ? s.address.port : (s.tls ? 5671 : 5672);
    s.where = std::string(s.tls ? "amqps://" : "amqp://") + s.address.host + ":" +
              std::to_string(port) + (s.address.vhost == "/" ? "/" : "/" + s.address.vhost) +
              (s.queue.empty() ? "" : " queue '" + s.queue + "'") +
              (s.exchange.empty() ? "" : " exchange '" + s.exchange + "'");
    s.connection_name = "busway " + node_id_;
  }

  ~AmqpEndpoint() override {
    if (consumer_) {
      consumer_->shutdown();
      report("consumer", *consumer_);
    }
    const std::lock_guard<std::mutex> lock(producer_mutex_);
    if (producer_) {
      producer_->shutdown();
      report("producer", *producer_);
    }
  }

  void startConsumer(sdk::Route route) override {
    if (settings_.queue.empty()) {
      throw sdk::InvalidError("amqp: a consumer needs the option queue (" + settings_.where + ")");
    }
    if (!consumer_) consumer_ = std::make_shared<Link>(host_, settings_);
    std::weak_ptr<Link> weak = consumer_;
    const sdk::Host host = host_;
    const Settle on_failure = reject_on_failure_ ? Settle::reject : Settle::requeue;
    // A tag unique to this node: `busway run --node-id` names it in the broker's consumers.
    const std::string tag = node_id_ + ":" + settings_.queue;
    consumer_->consume(
        tag, static_cast<int>(prefetch_), [weak, route, host, on_failure](Delivery&& d) {
          const std::shared_ptr<Link> link = weak.lock();
          if (!link) return;
          const std::uint64_t generation = d.generation;
          const std::uint64_t delivery_tag = d.tag;
          try {
            sdk::OwnedMessage message = host.newMessage(
                d.body, d.content_type.empty() ? "application/octet-stream" : d.content_type);
            for (const auto& [name, value] : d.headers) message.setHeader(name, value);
            message.setHeader("amqp.exchange", d.exchange);
            message.setHeader("amqp.routing-key", d.routing_key);
            message.setHeader("amqp.delivery-tag", static_cast<std::int64_t>(d.tag));
            message.setHeader("amqp.redelivered", d.redelivered ? "true" : "false");
            message.setHeader("amqp.consumer-tag", d.consumer_tag);
            const auto optional = [&message](std::string_view name, const std::string& value) {
              if (!value.empty()) message.setHeader(name, value);
            };
            optional("amqp.message-id", d.message_id);
            optional("amqp.correlation-id", d.correlation_id);
            optional("amqp.reply-to", d.reply_to);
            optional("amqp.type", d.type);
            optional("amqp.app-id", d.app_id);
            optional("amqp.user-id", d.user_id);
            optional("amqp.content-encoding", d.content_encoding);
            optional("amqp.expiration", d.expiration);
            if (d.timestamp)
              message.setHeader("amqp.timestamp", static_cast<std::int64_t>(*d.timestamp));
            if (d.priority)
              message.setHeader("amqp.priority", static_cast<std::int64_t>(*d.priority));
            if (d.delivery_mode != 0)
              message.setHeader("amqp.delivery-mode", static_cast<std::int64_t>(d.delivery_mode));
            if (!d.correlation_id.empty()) message.setCorrelationId(d.correlation_id);
            const sdk::Status status = route.deliver(
                std::move(message),
                [link, generation, delivery_tag, on_failure](const sdk::DeliveryResult& r) {
                  // The acknowledgement: only a route that is done with the message acks it.
                  link->settle(generation, delivery_tag, r.ok() ? Settle::ack : on_failure);
                });
            // Refused at once (the bus is stopping or full): back to the broker.
            if (status != sdk::Status::ok) link->settle(generation, delivery_tag, Settle::requeue);
          } catch (const std::exception& e) {
            host.error("cannot hand a delivery to the route (", e.what(), "); requeued");
            link->settle(generation, delivery_tag, Settle::requeue);
          }
        });
    consumer_->start();
  }

  void stopConsumer() override {
    // No new deliveries; those in flight still settle through their done callbacks. The
    // connection closes when the endpoint goes, handing anything unacked back to the broker.
    if (consumer_) consumer_->cancel();
  }

  void send(sdk::Sending& sending) override {
    const sdk::MessageRef message = sending.message();
    Publish p;
    p.exchange = settings_.exchange;
    p.routing_key = routing_key_;
    if (p.routing_key.empty()) {
      if (p.exchange.empty())
        p.routing_key = settings_.queue;
      else if (const auto header = message.header("amqp.routing-key"))
        p.routing_key = std::string(*header);
    }
    if (p.exchange.empty() && p.routing_key.empty()) {
      throw sdk::InvalidError(
          "amqp: " + settings_.where +
          " has nowhere to publish: give the option queue, exchange or routing-key");
    }
    p.mandatory = mandatory_;
    p.persistent = persistent_;
    p.content_type = std::string(message.mediaType());
    p.correlation_id = std::string(message.correlationId());
    const auto id = message.header("amqp.message-id");
    p.message_id = id ? std::string(*id) : std::string(message.id());
    message.forEachHeader([&p](std::string_view name, std::string_view value) {
      if (!startsWithAmqp(name)) p.headers.emplace_back(std::string(name), std::string(value));
    });
    p.body = std::string(message.body());
    p.deadline = std::chrono::steady_clock::now() + publish_timeout_;
    auto later = std::make_shared<sdk::Sending>(sending.defer());
    p.done = [later](sdk::Status status, const std::string& error) {
      if (status == sdk::Status::ok)
        later->complete();
      else
        later->fail(status, error);
    };
    producer()->publish(std::move(p));
  }

 private:
  std::shared_ptr<Link> producer() {
    const std::lock_guard<std::mutex> lock(producer_mutex_);
    if (!producer_) {
      producer_ = std::make_shared<Link>(host_, settings_);
      producer_->start();
    }
    return producer_;
  }

  void report(const char* role, const Link& link) const {
    const LinkCounters& c = link.counters();
    host_.info("node ", node_id_, " ", role, " ", settings_.where,
               ": delivered=", c.delivered.load(), " acked=", c.acked.load(),
               " requeued=", c.requeued.load(), " rejected=", c.rejected.load(),
               " stale-acks=", c.stale_settles.load(), " published=", c.published.load(),
               " confirmed=", c.confirmed.load(), " failed=", c.publish_failed.load(),
               " returned=", c.returned.load(), " connects=", c.connects.load(),
               " connection-losses=", c.connection_losses.load());
  }

  sdk::Host host_;
  std::string node_id_;
  LinkSettings settings_;
  std::string routing_key_;
  std::int64_t prefetch_ = 50;
  bool reject_on_failure_ = false;
  bool mandatory_ = true;
  bool persistent_ = true;
  std::chrono::milliseconds publish_timeout_{30'000};
  std::shared_ptr<Link> consumer_;
  std::mutex producer_mutex_;
  std::shared_ptr<Link> producer_;
};

}  // namespace busway::amqp

BUSWAY_PLUGIN(busway::amqp::AmqpPlugin);
