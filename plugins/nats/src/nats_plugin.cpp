// The nats plugin: NATS core and JetStream through our own protocol client (nats_client.hpp).
//
// Consumer, core (<from uri="nats://host:port/orders.>?queue=workers"/>): a subscription
// (in a queue group with queue=); a message with a reply subject is a request: the route runs
// request-reply and its result is published to the reply subject (a failure as an answer
// with the Nats-Service-Error headers). Core NATS has no acknowledgement: a message the bus
// refuses is offered again until the bus takes it, which holds the reader (the server then
// buffers, and eventually drops for a slow consumer); at most once, as core NATS is.
//
// Consumer, JetStream (stream=NAME): a durable push consumer with explicit acks. Messages
// are handed to the route without waiting (max-ack-pending bounds them); the done callback
// acks (+ACK) when the route has finished, or -NAKs with redelivery-delay when it failed;
// a message the bus refuses is left unacknowledged and comes again after ack-wait.
//
// Producer: core publish (done once written), request-reply when the route waits for a
// reply, or a JetStream publish that completes on the stream's PubAck.

#include <chrono>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "nats_client.hpp"
#include <busway/plugin.hpp>

namespace busway::nats {
namespace {

namespace sdk = busway::sdk;

constexpr std::string_view kHeaderPrefix = "nats.header.";

struct Settings {
  std::string uri;
  std::string host;
  int port = 4222;
  std::string subject;
  std::string queue;
  std::string stream;
  std::string durable;
  bool create_stream = true;
  bool jetstream = false;
  std::string deliver_policy;
  milliseconds ack_wait{30000};
  long max_ack_pending = 1000;
  milliseconds redelivery_delay{1000};
  milliseconds request_timeout{5000};
  std::string media_type;
  milliseconds reconnect_delay{250};
  milliseconds reconnect_delay_max{5000};
  std::string user;
  std::string password;
  std::string token;
};

Settings readSettings(const sdk::Options& options) {
  Settings s;
  s.uri = options.uri();
  std::string_view path = options.path();
  const auto fail = [&](const std::string& what) {
    throw sdk::InvalidError(
        "'" + s.uri + "': " + what +
        "; write nats://HOST:PORT/SUBJECT, e.g. nats://127.0.0.1:4222/orders.>");
  };
  if (path.substr(0, 2) != "//") fail("the server address is missing");
  path.remove_prefix(2);
  const auto slash = path.find('/');
  if (slash == std::string_view::npos || slash + 1 >= path.size()) fail("the subject is missing");
  const std::string_view authority = path.substr(0, slash);
  s.subject = std::string(path.substr(slash + 1));
  const auto colon = authority.rfind(':');
  s.host = std::string(authority.substr(0, colon));
  if (colon != std::string_view::npos) {
    try {
      std::size_t used = 0;
      const std::string port(authority.substr(colon + 1));
      s.port = std::stoi(port, &used);
      if (used != port.size() || s.port <= 0 || s.port > 65535) throw std::out_of_range("port");
    } catch (const std::exception&) {
      fail("the port '" + std::string(authority.substr(colon + 1)) +
           "' is not a number from 1 to 65535");
    }
  }
  if (s.host.empty()) fail("the server host is missing");
  for (const char c : s.subject) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
      fail("a subject cannot contain white space");
  }
  if (s.subject.front() == '.' || s.subject.back() == '.' ||
      s.subject.find("..") != std::string::npos) {
    fail("'" + s.subject + "' is not a valid subject (empty token)");
  }
  s.queue = options.text("queue", "");
  s.stream = options.text("stream", "");
  s.durable = options.text("durable", "busway");
  s.create_stream = options.boolean("create-stream", true);
  s.jetstream = options.boolean("jetstream", false) || !s.stream.empty();
  s.deliver_policy = options.text("deliver-policy", "all");
  s.ack_wait = options.duration("ack-wait", milliseconds(30000));
  s.max_ack_pending = static_cast<long>(options.integer("max-ack-pending", 1000));
  if (s.max_ack_pending < 1)
    throw sdk::InvalidError("'" + s.uri + "': max-ack-pending must be at least 1");
  s.redelivery_delay = options.duration("redelivery-delay", milliseconds(1000));
  s.request_timeout = options.duration("request-timeout", milliseconds(5000));
  s.media_type = options.text("media-type", "application/octet-stream");
  s.reconnect_delay = options.duration("reconnect-delay", milliseconds(250));
  s.reconnect_delay_max = options.duration("reconnect-delay-max", milliseconds(5000));
  if (s.reconnect_delay.count() < 10) s.reconnect_delay = milliseconds(10);
  if (s.reconnect_delay_max < s.reconnect_delay) s.reconnect_delay_max = s.reconnect_delay;
  s.user = options.text("user", "");
  s.password = options.text("password", "");
  s.token = options.text("token", "");
  for (const std::string* name : {&s.stream, &s.durable}) {
    if (name->find_first_of(" .*>") != std::string::npos) {
      throw sdk::InvalidError(
          "'" + s.uri + "': '" + *name +
          "' is not a valid stream or durable name (no '.', '*', '>' or spaces)");
    }
  }
  return s;
}

std::shared_ptr<Client> makeClient(const Settings& s, sdk::Host host, const std::string& role) {
  ClientOptions o;
  o.host = s.host;
  o.port = s.port;
  o.name = "busway " + role + " " + s.subject;
  o.user = s.user;
  o.password = s.password;
  o.token = s.token;
  o.reconnect_delay = s.reconnect_delay;
  o.reconnect_delay_max = s.reconnect_delay_max;
  o.log = [host, role](int level, const std::string& text) {
    host.log(static_cast<sdk::LogLevel>(level), role + " " + text);
  };
  return std::make_shared<Client>(std::move(o));
}

std::vector<Header> headersOf(const sdk::MessageView& message) {
  std::vector<Header> headers;
  message.forEachHeader([&](std::string_view name, std::string_view value) {
    if (name.size() > kHeaderPrefix.size() &&
        name.substr(0, kHeaderPrefix.size()) == kHeaderPrefix) {
      headers.push_back(Header{std::string(name.substr(kHeaderPrefix.size())), std::string(value)});
    }
  });
  return headers;
}

sdk::OwnedMessage toMessage(const sdk::Host& host, const Msg& msg, const std::string& media_type) {
  const std::string* content_type = msg.header("Content-Type");
  sdk::OwnedMessage message =
      host.newMessage(msg.payload, content_type ? *content_type : media_type);
  message.setHeader("nats.subject", msg.subject);
  if (!msg.reply.empty()) message.setHeader("nats.reply", msg.reply);
  for (const auto& h : msg.headers) message.setHeader(std::string(kHeaderPrefix) + h.name, h.value);
  return message;
}

// ---------------------------------------------------------------------------------------

class NatsEndpoint;

class NatsPlugin : public sdk::Plugin {
 public:
  using Plugin::Plugin;
  using Endpoints = sdk::List<NatsEndpoint>;
};

class NatsEndpoint : public sdk::Endpoint {
 public:
  static constexpr std::string_view scheme = "nats";

  NatsEndpoint(NatsPlugin& plugin, const sdk::Options& options)
      : host_(plugin.host()), settings_(std::make_shared<const Settings>(readSettings(options))) {}

  ~NatsEndpoint() override {
    stopConsumer();
    const std::lock_guard<std::mutex> lock(producer_mutex_);
    if (producer_) producer_->close();
  }

  void startConsumer(sdk::Route route) override {
    const Settings& s = *settings_;
    consumer_ = makeClient(s, host_, "consumer");
    if (!consumer_->start(std::chrono::seconds(5))) {
      host_.warn("nats consumer ", s.uri, ": ", consumer_->where(),
                 " is not reachable yet; subscribing when it is");
    }
    if (s.stream.empty()) {
      startCore(std::move(route));
    } else {
      startJetStream(std::move(route));
    }
  }

  void stopConsumer() override {
    if (!consumer_) return;
    consumer_->close();  // joins the reader: no handler runs after this
    consumer_.reset();   // done callbacks still pending keep their own reference
  }

  void send(sdk::Sending& sending) override {
    const std::shared_ptr<Client> client = producer();
    const Settings& s = *settings_;
    const sdk::MessageRef message = sending.message();
    const std::vector<Header> headers = headersOf(message);
    if (sending.wantsReply() || s.jetstream) {
      const bool jetstream = s.jetstream;
      const std::string subject = s.subject;
      client->request(
          s.subject, headers, message.body(), s.request_timeout,
          [later = std::make_shared<sdk::Sending>(sending.defer()), host = host_, jetstream,
           subject, uri = s.uri](std::optional<Msg> reply, const std::string& error) {
            if (!reply) {
              const bool timeout = error.find("timeout") != std::string::npos;
              later->fail(
                  timeout ? sdk::Status::timeout : sdk::Status::transient,
                  "nats producer " + uri + ": " + (jetstream ? "JetStream publish" : "request") +
                      " to '" + subject + "' failed: " + error +
                      (jetstream && error.find("no responders") != std::string::npos
                           ? " (no stream captures the subject: create it, or set stream=NAME)"
                           : ""));
              return;
            }
            if (jetstream) {
              try {
                const auto sequence = parsePubAck(*reply);
                host.metric("published");
                if (later->wantsReply()) {
                  sdk::OwnedMessage answer = host.newMessage(reply->payload, "application/json");
                  answer.setHeader("nats.sequence", static_cast<std::int64_t>(sequence));
                  later->complete(std::move(answer));
                } else {
                  later->complete();
                }
              } catch (const std::exception& e) {
                later->fail(sdk::Status::transient, "nats producer " + uri +
                                                        ": the stream refused the message to '" +
                                                        subject + "': " + e.what());
              }
              return;
            }
            later->complete(toMessage(host, *reply, "application/octet-stream"));
          });
      return;
    }
    try {
      client->publish(s.subject, "", headers, message.body());
    } catch (const ConnectionError& e) {
      throw sdk::TransientError("nats producer " + s.uri + ": " + e.what());
    }
    host_.metric("published");
  }

 private:
  std::shared_ptr<Client> producer() {
    const std::lock_guard<std::mutex> lock(producer_mutex_);
    if (!producer_) {
      producer_ = makeClient(*settings_, host_, "producer");
      producer_->start(std::chrono::seconds(2));
    }
    if (!settings_->stream.empty() && !stream_ready_ && settings_->create_stream &&
        producer_->connected()) {
      try {
        ensureStream(*producer_, settings_->stream, settings_->subject, settings_->request_timeout);
        stream_ready_ = true;
      } catch (const std::exception& e) {
        throw sdk::TransientError("nats producer " + settings_->uri + ": " + e.what());
      }
    }
    return producer_;
  }

  void startCore(sdk::Route route) {
    const auto settings = settings_;
    const sdk::Host host = host_;
    std::weak_ptr<Client> weak = consumer_;
    consumer_->subscribe(
        settings->subject, settings->queue, [settings, host, route, weak](Msg&& msg) {
          const bool request = !msg.reply.empty();
          for (int attempt = 0; route.active(); ++attempt) {
            sdk::Status status = sdk::Status::rejected;
            const std::string reply_to = msg.reply;
            try {
              sdk::OwnedMessage message = toMessage(host, msg, settings->media_type);
              if (!request) {
                status = route.deliver(
                    std::move(message), [host, uri = settings->uri](const sdk::DeliveryResult& r) {
                      if (!r.ok())
                        host.warn("nats consumer ", uri,
                                  ": the route failed (core NATS cannot redeliver): ", r.error);
                    });
              } else {
                status = route.request(
                    std::move(message),
                    [weak, host, reply_to, uri = settings->uri](const sdk::DeliveryResult& r) {
                      const auto client = weak.lock();
                      if (!client) return;
                      try {
                        if (r.ok()) {
                          if (r.reply) {
                            client->publish(reply_to, "", headersOf(*r.reply), r.reply->body());
                          } else {
                            client->publish(reply_to, "", {}, "");
                          }
                        } else {
                          client->publish(reply_to, "",
                                          {Header{"Nats-Service-Error", std::string(r.error)},
                                           Header{"Nats-Service-Error-Code", "500"}},
                                          "");
                        }
                      } catch (const std::exception& e) {
                        host.warn("nats consumer ", uri, ": cannot answer the request: ", e.what());
                      }
                    });
              }
            } catch (const std::exception& e) {
              host.error("nats consumer ", settings->uri,
                         ": cannot hand the message over: ", e.what());
            }
            if (status == sdk::Status::ok) return;
            if (attempt == 0)
              host.warn("nats consumer ", settings->uri, ": the bus is not taking messages (",
                        sdk::toString(status), "); holding the subscription");
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
          }
        });
    host_.info(
        "nats consumer ", settings->uri, " subscribed to '", settings->subject, "'",
        settings->queue.empty() ? std::string() : " in queue group '" + settings->queue + "'");
  }

  void startJetStream(sdk::Route route) {
    const Settings& s = *settings_;
    if (!consumer_->connected()) {
      throw sdk::TransientError(
          "nats consumer " + s.uri + ": cannot reach " + consumer_->where() +
          " to set up the JetStream consumer; is the server running with -js?");
    }
    const std::string deliver = "_busway.deliver." + s.stream + "." + s.durable;
    try {
      if (s.create_stream) ensureStream(*consumer_, s.stream, s.subject, s.request_timeout);
      ConsumerConfig config;
      config.stream = s.stream;
      config.durable = s.durable;
      config.filter_subject = s.subject;
      config.deliver_subject = deliver;
      config.ack_wait = s.ack_wait;
      config.max_ack_pending = s.max_ack_pending;
      config.deliver_policy = s.deliver_policy;
      config.deliver_group = s.queue;
      ensureConsumer(*consumer_, config, s.request_timeout);
    } catch (const std::exception& e) {
      throw sdk::TransientError("nats consumer " + s.uri + ": " + e.what());
    }
    const auto settings = settings_;
    const sdk::Host host = host_;
    std::weak_ptr<Client> weak = consumer_;
    consumer_->subscribe(deliver, s.queue, [settings, host, route, weak](Msg&& msg) {
      if (msg.reply.empty()) return;  // flow control or heartbeats are not asked for
      const std::string ack = msg.reply;
      sdk::Status status = sdk::Status::rejected;
      try {
        sdk::OwnedMessage message = toMessage(host, msg, settings->media_type);
        message.removeHeader("nats.reply");
        if (const auto meta = parseAckSubject(ack)) {
          message.setHeader("nats.stream", meta->stream);
          message.setHeader("nats.sequence", static_cast<std::int64_t>(meta->stream_sequence));
          message.setHeader("nats.delivered", static_cast<std::int64_t>(meta->delivered));
        }
        status = route.deliver(std::move(message), [weak, host, ack,
                                                    settings](const sdk::DeliveryResult& r) {
          const auto client = weak.lock();
          if (!client) return;  // stopped: not acknowledged, the server redelivers after ack-wait
          try {
            if (r.ok()) {
              client->publish(ack, "", {}, "+ACK");
            } else {
              host.warn("nats consumer ", settings->uri, ": the route failed, redelivery in ",
                        settings->redelivery_delay.count(), "ms: ", r.error);
              client->publish(ack, "", {},
                              "-NAK {\"delay\": " +
                                  std::to_string(settings->redelivery_delay.count() * 1000000) +
                                  "}");
            }
          } catch (const std::exception& e) {
            host.warn("nats consumer ", settings->uri,
                      ": cannot acknowledge (the server redelivers after ack-wait): ", e.what());
          }
        });
      } catch (const std::exception& e) {
        host.error("nats consumer ", settings->uri, ": cannot hand the message over: ", e.what());
      }
      if (status != sdk::Status::ok) {
        // Left unacknowledged: JetStream delivers it again after ack-wait.
        host.warn("nats consumer ", settings->uri, ": the bus did not take the message (",
                  sdk::toString(status), "); it comes again after ack-wait");
      }
    });
    host_.info("nats consumer ", s.uri, " subscribed to '", s.subject,
               "' through JetStream stream '", s.stream, "', durable '", s.durable, "'");
  }

  sdk::Host host_;
  std::shared_ptr<const Settings> settings_;
  std::shared_ptr<Client> consumer_;
  std::mutex producer_mutex_;
  std::shared_ptr<Client> producer_;
  bool stream_ready_ = false;
};

}  // namespace
}  // namespace busway::nats

BUSWAY_PLUGIN(busway::nats::NatsPlugin);
