// The mqtt plugin: MQTT 3.1.1 and 5 through libmosquitto.
//
// Consumer (<from uri="mqtt://host:port/topic/+/x?qos=1"/>): one or more connections, each
// with libmosquitto's own network thread. libmosquitto sends the PUBACK of a QoS 1 message
// when the message callback returns, and it has no API to acknowledge later. So the
// callback hands the message to the route and WAITS for the done callback: the PUBACK
// leaves only when the route has finished (the ack contract), at the cost of one message
// in the route per connection (`consumers=N` opens N connections on a shared subscription).
// When the route fails, the same message is handed to it again after `redelivery-delay`;
// when the consumer stops with a message unfinished, the socket is shut down before the
// callback returns, so no PUBACK goes out and the broker redelivers the message to the
// persistent session (clean-session=false).
//
// Producer (<to uri="mqtt://host:port/topic?qos=1"/>): one connection per endpoint, opened
// at the first send. A QoS 1/2 send is deferred and completes when libmosquitto reports the
// PUBACK/PUBCOMP for its message id; libmosquitto keeps unacknowledged messages across a
// reconnect and sends them again. A send that sees no acknowledgement within `send-timeout`
// fails as transient (the route's error handler may retry: at-least-once, maybe twice).

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <sys/socket.h>

#include <mosquitto.h>
#include <mqtt_protocol.h>

#include "mqtt_uri.hpp"
#include <busway/plugin.hpp>

namespace busway::mqtt {
namespace {

namespace sdk = busway::sdk;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr std::string_view kUserPrefix = "mqtt.user.";

struct Settings {
  std::string uri;
  Address address;
  int qos = 1;
  std::string client_id;
  bool clean_session = true;
  bool retain = false;
  int protocol = MQTT_PROTOCOL_V311;
  int consumers = 1;
  std::string share_group;
  std::string media_type;
  std::string topic_header;
  int keepalive_s = 30;
  unsigned reconnect_delay_s = 1;
  unsigned reconnect_delay_max_s = 10;
  milliseconds redelivery_delay{1000};
  milliseconds stop_timeout{10000};
  milliseconds send_timeout{30000};
  int max_inflight = 100;
  std::string username;
  std::string password;
  bool tls = false;
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  bool tls_insecure = false;

  std::string where() const { return address.host + ":" + std::to_string(address.port); }
};

unsigned wholeSeconds(milliseconds ms) {
  const auto s = (ms.count() + 999) / 1000;
  return s < 1 ? 1U : static_cast<unsigned>(s);
}

Settings readSettings(const sdk::Options& options) {
  Settings s;
  s.uri = options.uri();
  try {
    s.address = parseAddress(options.uri(), options.path());
  } catch (const std::invalid_argument& e) {
    throw sdk::InvalidError(e.what());
  }
  s.qos = static_cast<int>(options.integer("qos"));
  s.client_id = options.text("client-id", "");
  s.clean_session = options.boolean("clean-session");
  s.retain = options.boolean("retain");
  s.protocol = options.text("protocol") == "5" ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311;
  const auto consumers = options.integer("consumers");
  if (consumers < 1 || consumers > 256) {
    throw sdk::InvalidError("'" + s.uri + "': consumers=" + std::to_string(consumers) +
                            " is out of range; use 1 to 256");
  }
  s.consumers = static_cast<int>(consumers);
  s.share_group = options.text("share-group");
  s.media_type = options.text("media-type");
  s.topic_header = options.text("topic-header", "");
  s.keepalive_s = static_cast<int>(wholeSeconds(options.duration("keepalive")));
  if (s.keepalive_s < 5) s.keepalive_s = 5;  // libmosquitto refuses less than 5s
  s.reconnect_delay_s = wholeSeconds(options.duration("reconnect-delay"));
  s.reconnect_delay_max_s = wholeSeconds(options.duration("reconnect-delay-max"));
  if (s.reconnect_delay_max_s < s.reconnect_delay_s) s.reconnect_delay_max_s = s.reconnect_delay_s;
  s.redelivery_delay = options.duration("redelivery-delay");
  s.stop_timeout = options.duration("stop-timeout");
  s.send_timeout = options.duration("send-timeout");
  const auto inflight = options.integer("max-inflight");
  if (inflight < 1 || inflight > 65535) {
    throw sdk::InvalidError("'" + s.uri + "': max-inflight=" + std::to_string(inflight) +
                            " is out of range; use 1 to 65535");
  }
  s.max_inflight = static_cast<int>(inflight);
  s.username = options.text("username", "");
  s.password = options.text("password", "");
  s.ca_file = options.text("ca-file", "");
  s.cert_file = options.text("cert-file", "");
  s.key_file = options.text("key-file", "");
  s.tls = options.boolean("tls") || !s.ca_file.empty();
  s.tls_insecure = options.boolean("tls-insecure");
  if (!s.clean_session && s.client_id.empty()) {
    throw sdk::InvalidError("'" + s.uri +
                            "': clean-session=false needs a client-id, so that the broker finds "
                            "the session again after a reconnect; add client-id=NAME");
  }
  if (s.cert_file.empty() != s.key_file.empty()) {
    throw sdk::InvalidError("'" + s.uri + "': give cert-file and key-file together");
  }
  return s;
}

std::string randomClientId() {
  std::random_device device;
  std::mt19937_64 random(device());
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id = "busway-";
  for (int i = 0; i < 12; ++i) id += kHex[random() % 16];
  return id;
}

// One libmosquitto client with the endpoint's connection settings. Callbacks are set by
// the owner before start(); `obj` is handed to them.
class Client {
 public:
  Client(const Settings& settings, const std::string& client_id, void* obj)
      : where_(settings.where()) {
    mosq_ =
        mosquitto_new(client_id.empty() ? nullptr : client_id.c_str(), settings.clean_session, obj);
    if (mosq_ == nullptr) {
      throw sdk::Error(sdk::Status::permanent,
                       "'" + settings.uri + "': cannot create an MQTT client (out of memory?)");
    }
    mosquitto_int_option(mosq_, MOSQ_OPT_PROTOCOL_VERSION, settings.protocol);
    mosquitto_int_option(mosq_, MOSQ_OPT_TCP_NODELAY, 1);
    mosquitto_int_option(mosq_, MOSQ_OPT_SEND_MAXIMUM, settings.max_inflight);
    mosquitto_max_inflight_messages_set(mosq_, static_cast<unsigned>(settings.max_inflight));
    mosquitto_reconnect_delay_set(mosq_, settings.reconnect_delay_s, settings.reconnect_delay_max_s,
                                  true);
    if (!settings.username.empty()) {
      check(mosquitto_username_pw_set(
                mosq_, settings.username.c_str(),
                settings.password.empty() ? nullptr : settings.password.c_str()),
            settings, "set the user name");
    }
    if (settings.tls) {
      const char* ca_file = settings.ca_file.empty() ? nullptr : settings.ca_file.c_str();
      const char* ca_path = settings.ca_file.empty() ? "/etc/ssl/certs" : nullptr;
      check(mosquitto_tls_set(mosq_, ca_file, ca_path,
                              settings.cert_file.empty() ? nullptr : settings.cert_file.c_str(),
                              settings.key_file.empty() ? nullptr : settings.key_file.c_str(),
                              nullptr),
            settings, "set up TLS (check ca-file, cert-file and key-file)");
      if (settings.tls_insecure) mosquitto_tls_insecure_set(mosq_, true);
    }
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  ~Client() { close(); }

  mosquitto* get() const noexcept { return mosq_; }

  // Connects in the background; libmosquitto's thread retries with backoff while the
  // broker is unreachable. Returns the first attempt's error text ("" when it went out).
  std::string start(const Settings& settings) {
    const int rc = mosquitto_connect_async(mosq_, settings.address.host.c_str(),
                                           settings.address.port, settings.keepalive_s);
    if (rc == MOSQ_ERR_INVAL) {
      throw sdk::InvalidError("'" + settings.uri + "': cannot connect to " + where_ + ": " +
                              errorText(rc));
    }
    if (rc == MOSQ_ERR_SUCCESS) {
      startLoop(settings);
      return {};
    }
    // libmosquitto's thread reconnects a connection that was lost, but not one that never
    // came up: keep trying here, with the same backoff, until it does.
    const std::string first_error = errorText(rc);
    connector_ = std::thread([this, settings] {
      auto delay = std::chrono::seconds(settings.reconnect_delay_s);
      std::unique_lock<std::mutex> lock(connector_mutex_);
      while (!closing_) {
        connector_cv_.wait_for(lock, delay, [this] { return closing_; });
        if (closing_) return;
        if (mosquitto_connect_async(mosq_, settings.address.host.c_str(), settings.address.port,
                                    settings.keepalive_s) == MOSQ_ERR_SUCCESS) {
          try {
            startLoop(settings);
          } catch (const std::exception&) {  // NOLINT(bugprone-empty-catch): nothing to run
          }
          return;
        }
        delay = std::min(delay * 2, std::chrono::seconds(settings.reconnect_delay_max_s));
      }
    });
    return first_error;
  }

  // Disconnects cleanly (what is queued goes out first) and joins the network thread.
  void close() noexcept {
    if (mosq_ == nullptr) return;
    {
      const std::lock_guard<std::mutex> lock(connector_mutex_);
      closing_ = true;
    }
    connector_cv_.notify_all();
    if (connector_.joinable()) connector_.join();
    if (started_) {
      mosquitto_disconnect(mosq_);
      mosquitto_loop_stop(mosq_, false);
    }
    mosquitto_destroy(mosq_);
    mosq_ = nullptr;
  }

  static std::string errorText(int rc) {
    if (rc == MOSQ_ERR_ERRNO) return std::string(std::strerror(errno));
    return mosquitto_strerror(rc);
  }

 private:
  void startLoop(const Settings& settings) {
    const int loop = mosquitto_loop_start(mosq_);
    if (loop != MOSQ_ERR_SUCCESS) {
      throw sdk::Error(
          sdk::Status::permanent,
          "'" + settings.uri + "': cannot start the MQTT network thread: " + errorText(loop));
    }
    started_ = true;
  }

  static void check(int rc, const Settings& settings, const char* what) {
    if (rc != MOSQ_ERR_SUCCESS) {
      throw sdk::InvalidError("'" + settings.uri + "': cannot " + what + ": " + errorText(rc));
    }
  }

  mosquitto* mosq_ = nullptr;
  std::atomic<bool> started_{false};
  std::string where_;
  std::thread connector_;  // only while the first connection has not come up
  std::mutex connector_mutex_;
  std::condition_variable connector_cv_;
  bool closing_ = false;
};

std::string connackText(int rc) {
  // MQTT 5 reason codes are >= 0x80 on failure; 3.1.1 return codes are 1..5.
  return rc >= 0x80 ? mosquitto_reason_string(rc) : mosquitto_connack_string(rc);
}

// ---------------------------------------------------------------------------------------
// Consumer

// Shared by the endpoint, its connections and the done callbacks still outstanding.
struct ConsumerSignal {
  std::mutex mutex;
  std::condition_variable cv;
  bool stopping = false;
  Clock::time_point stop_deadline{};
  int busy = 0;  // connections inside the message callback
};

// One message in a route: its own lock and condition, so that a finished route wakes only
// the connection that waits for it (not every consumer connection).
struct Waiter {
  std::mutex mutex;
  std::condition_variable cv;
  bool done = false;
  bool ok = false;
  std::string error;
};

class Connection {
 public:
  Connection(std::shared_ptr<const Settings> settings, sdk::Route route, sdk::Host host,
             std::shared_ptr<ConsumerSignal> signal, std::string client_id, std::string filter)
      : settings_(std::move(settings)),
        route_(std::move(route)),
        host_(host),
        signal_(std::move(signal)),
        client_id_(std::move(client_id)),
        filter_(std::move(filter)),
        client_(*settings_, client_id_, this) {
    mosquitto_connect_v5_callback_set(client_.get(), &Connection::onConnect);
    mosquitto_disconnect_v5_callback_set(client_.get(), &Connection::onDisconnect);
    mosquitto_message_v5_callback_set(client_.get(), &Connection::onMessage);
  }

  void start() {
    const std::string error = client_.start(*settings_);
    if (!error.empty()) {
      host_.warn("mqtt consumer ", client_id_, ": cannot reach ", settings_->where(), " yet (",
                 error, "); retrying in the background");
    }
  }
  void close() noexcept { client_.close(); }

 private:
  static void onConnect(mosquitto* mosq, void* obj, int rc, int flags, const mosquitto_property*) {
    auto& self = *static_cast<Connection*>(obj);
    if (rc != 0) {
      self.host_.error("mqtt consumer ", self.client_id_, ": ", self.settings_->where(),
                       " refused the connection: ", connackText(rc));
      return;
    }
    const bool session_present = (flags & 1) != 0;
    const int sub = mosquitto_subscribe_v5(mosq, nullptr, self.filter_.c_str(), self.settings_->qos,
                                           0, nullptr);
    if (sub != MOSQ_ERR_SUCCESS) {
      self.host_.error("mqtt consumer ", self.client_id_, ": cannot subscribe to '", self.filter_,
                       "': ", Client::errorText(sub));
      return;
    }
    self.host_.info("mqtt consumer ", self.client_id_, " connected to ", self.settings_->where(),
                    ", subscribed to '", self.filter_, "' (qos ", self.settings_->qos,
                    session_present ? ", session resumed)" : ")");
  }

  static void onDisconnect(mosquitto*, void* obj, int rc, const mosquitto_property*) {
    auto& self = *static_cast<Connection*>(obj);
    if (rc != 0) {
      self.host_.warn("mqtt consumer ", self.client_id_, ": lost the connection to ",
                      self.settings_->where(), " (", Client::errorText(rc), "); reconnecting");
    }
  }

  sdk::OwnedMessage build(const mosquitto_message& in, const mosquitto_property* props) const {
    std::string media_type = settings_->media_type;
    char* content_type = nullptr;
    if (mosquitto_property_read_string(props, MQTT_PROP_CONTENT_TYPE, &content_type, false) !=
            nullptr &&
        content_type != nullptr) {
      media_type = content_type;
    }
    std::free(content_type);
    const std::string_view body = in.payload == nullptr
                                      ? std::string_view()
                                      : std::string_view(static_cast<const char*>(in.payload),
                                                         static_cast<std::size_t>(in.payloadlen));
    sdk::OwnedMessage message = host_.newMessage(body, media_type);
    message.setHeader("mqtt.topic", in.topic == nullptr ? "" : in.topic);
    message.setHeader("mqtt.qos", in.qos);
    message.setHeader("mqtt.retain", in.retain ? "true" : "false");
    message.setHeader("mqtt.mid", in.mid);
    for (const mosquitto_property* p = props; p != nullptr; p = mosquitto_property_next(p)) {
      const int id = mosquitto_property_identifier(p);
      if (id == MQTT_PROP_USER_PROPERTY) {
        char* name = nullptr;
        char* value = nullptr;
        if (mosquitto_property_read_string_pair(p, MQTT_PROP_USER_PROPERTY, &name, &value, false) !=
            nullptr) {
          message.setHeader(std::string(kUserPrefix) + (name ? name : ""), value ? value : "");
        }
        std::free(name);
        std::free(value);
      } else if (id == MQTT_PROP_RESPONSE_TOPIC) {
        char* value = nullptr;
        if (mosquitto_property_read_string(p, id, &value, false) != nullptr && value != nullptr) {
          message.setHeader("mqtt.response-topic", value);
        }
        std::free(value);
      } else if (id == MQTT_PROP_CORRELATION_DATA) {
        void* value = nullptr;
        uint16_t length = 0;
        if (mosquitto_property_read_binary(p, id, &value, &length, false) != nullptr &&
            value != nullptr) {
          message.setHeader("mqtt.correlation-data",
                            std::string_view(static_cast<const char*>(value), length));
        }
        std::free(value);
      }
    }
    return message;
  }

  // Leaves the message with the broker: no PUBACK may go out for it. Shutting the socket
  // down makes the acknowledgement libmosquitto sends after we return fail; the broker
  // redelivers the message to the session on the next connect.
  void abandon(mosquitto* mosq, const mosquitto_message& in) const {
    const int fd = mosquitto_socket(mosq);
    if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
    if (in.qos > 0) {
      host_.warn("mqtt consumer ", client_id_, ": stopping with the message on '", in.topic,
                 "' unfinished; the connection is closed without acknowledging it, so the broker "
                 "redelivers it",
                 settings_->clean_session
                     ? " (only to a persistent session: use clean-session=false)"
                     : "");
    } else {
      host_.warn("mqtt consumer ", client_id_, ": a QoS 0 message on '", in.topic,
                 "' was not processed before stopping (QoS 0 is at most once)");
    }
  }

  static void onMessage(mosquitto* mosq, void* obj, const mosquitto_message* in,
                        const mosquitto_property* props) {
    auto& self = *static_cast<Connection*>(obj);
    ConsumerSignal& signal = *self.signal_;
    {
      const std::lock_guard<std::mutex> lock(signal.mutex);
      if (signal.stopping) {
        self.abandon(mosq, *in);
        return;
      }
      ++signal.busy;
    }
    const bool acked = self.handle(*in, props);
    {
      const std::lock_guard<std::mutex> lock(signal.mutex);
      --signal.busy;
    }
    signal.cv.notify_all();
    if (!acked) self.abandon(mosq, *in);
    // Returning lets libmosquitto send the PUBACK (QoS 1) / complete the handshake (QoS 2).
  }

  // Hands the message to the route until it is done (true) or the consumer stops (false).
  bool handle(const mosquitto_message& in, const mosquitto_property* props) {
    ConsumerSignal& signal = *signal_;
    for (int attempt = 1;; ++attempt) {
      auto waiter = std::make_shared<Waiter>();
      sdk::Status status = sdk::Status::transient;
      std::string refused;
      try {
        status = route_.deliver(build(in, props), [waiter](const sdk::DeliveryResult& result) {
          {
            const std::lock_guard<std::mutex> lock(waiter->mutex);
            waiter->done = true;
            waiter->ok = result.ok();
            if (!result.ok()) waiter->error = std::string(result.error);
          }
          waiter->cv.notify_one();
        });
      } catch (const std::exception& e) {
        refused = e.what();
      }
      if (status == sdk::Status::ok) {
        std::unique_lock<std::mutex> lock(waiter->mutex);
        while (!waiter->done) {
          // Look at the stop flag every 50ms; stopping waits until stop_deadline at most.
          Clock::time_point deadline{};
          {
            const std::lock_guard<std::mutex> stop_lock(signal.mutex);
            if (signal.stopping) deadline = signal.stop_deadline;
          }
          if (deadline != Clock::time_point{} && Clock::now() >= deadline) break;
          waiter->cv.wait_for(lock, milliseconds(50));
        }
        if (waiter->done && waiter->ok) return true;
        if (!waiter->done) return false;  // stopping, and the route did not finish in time
        host_.warn("mqtt consumer ", client_id_, ": the route failed for the message on '",
                   in.topic, "' (attempt ", attempt, "): ", waiter->error,
                   "; handing it over again in ", settings_->redelivery_delay.count(), "ms");
      } else if (attempt == 1 || attempt % 50 == 0) {
        host_.warn("mqtt consumer ", client_id_, ": the bus did not take the message on '",
                   in.topic, "' (", refused.empty() ? sdk::toString(status) : refused,
                   "); trying again in ", settings_->redelivery_delay.count(), "ms");
      }
      std::unique_lock<std::mutex> lock(signal.mutex);
      if (signal.cv.wait_for(lock, settings_->redelivery_delay, [&] { return signal.stopping; }))
        return false;
    }
  }

  std::shared_ptr<const Settings> settings_;
  sdk::Route route_;
  sdk::Host host_;
  std::shared_ptr<ConsumerSignal> signal_;
  std::string client_id_;
  std::string filter_;
  Client client_;
};

// ---------------------------------------------------------------------------------------
// Producer

class Producer {
 public:
  Producer(std::shared_ptr<const Settings> settings, sdk::Host host)
      : settings_(std::move(settings)),
        host_(host),
        client_id_(settings_->client_id.empty() ? randomClientId() : settings_->client_id),
        client_(*settings_, client_id_, this) {
    mosquitto_connect_v5_callback_set(client_.get(), &Producer::onConnect);
    mosquitto_disconnect_v5_callback_set(client_.get(), &Producer::onDisconnect);
    mosquitto_publish_v5_callback_set(client_.get(), &Producer::onPublish);
    const std::string error = client_.start(*settings_);
    if (!error.empty()) {
      host_.warn("mqtt producer ", client_id_, ": cannot reach ", settings_->where(), " yet (",
                 error, "); retrying in the background");
    }
    sweeper_ = std::thread([this] { sweep(); });
  }
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  ~Producer() {
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      closing_ = true;
    }
    cv_.notify_all();
    sweeper_.join();
    client_.close();
    std::unordered_map<int, Pending> left;
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      left.swap(pending_);
    }
    for (auto& [mid, pending] : left) {
      pending.sending.fail(sdk::Status::transient,
                           "the mqtt endpoint " + settings_->uri +
                               " was closed before the broker acknowledged the message");
    }
  }

  void send(sdk::Sending& sending) {
    const sdk::MessageRef message = sending.message();
    std::string topic = settings_->address.topic;
    if (!settings_->topic_header.empty()) {
      if (const auto value = message.header(settings_->topic_header)) topic = std::string(*value);
    }
    if (!validTopic(topic, false)) {
      throw sdk::InvalidError("mqtt producer " + settings_->uri + ": '" + topic +
                              "' is not a topic to publish to (no wildcards, not empty)");
    }
    mosquitto_property* props = nullptr;
    struct PropsGuard {
      mosquitto_property*& p;
      ~PropsGuard() { mosquitto_property_free_all(&p); }
    } guard{props};
    if (settings_->protocol == MQTT_PROTOCOL_V5) {
      const std::string media(message.mediaType());
      if (!media.empty())
        mosquitto_property_add_string(&props, MQTT_PROP_CONTENT_TYPE, media.c_str());
      message.forEachHeader([&](std::string_view name, std::string_view value) {
        if (name.size() > kUserPrefix.size() && name.substr(0, kUserPrefix.size()) == kUserPrefix) {
          const std::string key(name.substr(kUserPrefix.size()));
          const std::string text(value);
          mosquitto_property_add_string_pair(&props, MQTT_PROP_USER_PROPERTY, key.c_str(),
                                             text.c_str());
        } else if (name == "mqtt.response-topic") {
          const std::string text(value);
          mosquitto_property_add_string(&props, MQTT_PROP_RESPONSE_TOPIC, text.c_str());
        }
      });
    }
    const std::string_view body = message.body();
    if (body.size() > 268435455U) {
      throw sdk::InvalidError("mqtt producer " + settings_->uri + ": the message is " +
                              std::to_string(body.size()) + " bytes; MQTT carries at most 256MB");
    }
    const int qos = settings_->qos;
    if (qos == 0) {
      int mid = 0;
      const int rc =
          mosquitto_publish_v5(client_.get(), &mid, topic.c_str(), static_cast<int>(body.size()),
                               body.data(), 0, settings_->retain, props);
      if (rc != MOSQ_ERR_SUCCESS) throw publishError(rc, topic);
      host_.metric("published");
      return;  // QoS 0 has no acknowledgement: handed to the client is all there is
    }
    sdk::Sending later = sending.defer();
    std::unique_lock<std::mutex> lock(mutex_);
    int mid = 0;
    // Under the lock: the PUBACK callback (network thread) looks the id up under it too.
    const int rc =
        mosquitto_publish_v5(client_.get(), &mid, topic.c_str(), static_cast<int>(body.size()),
                             body.data(), qos, settings_->retain, props);
    // Not connected: libmosquitto has still queued a QoS 1/2 message (with its id) and sends
    // it after the reconnect, so wait for its PUBACK (or send-timeout). Failing here would
    // make the error handler publish it again while this copy goes out too: a duplicate
    // per retry during every broker outage.
    if (rc != MOSQ_ERR_SUCCESS && !(rc == MOSQ_ERR_NO_CONN && mid != 0)) {
      lock.unlock();
      const sdk::Error error = publishError(rc, topic);
      later.fail(error.status(), error.what());
      return;
    }
    pending_.erase(mid);  // a stale entry for a reused id (timed out long ago)
    pending_.emplace(mid, Pending{std::move(later), Clock::now() + settings_->send_timeout, topic});
  }

 private:
  struct Pending {
    sdk::Sending sending;
    Clock::time_point deadline;
    std::string topic;
  };

  sdk::Error publishError(int rc, const std::string& topic) const {
    const std::string text = "mqtt producer " + settings_->uri + ": cannot publish to '" + topic +
                             "' at " + settings_->where() + ": " + Client::errorText(rc);
    if (rc == MOSQ_ERR_PAYLOAD_SIZE || rc == MOSQ_ERR_MALFORMED_UTF8 || rc == MOSQ_ERR_INVAL) {
      return sdk::InvalidError(text);
    }
    if (rc == MOSQ_ERR_QOS_NOT_SUPPORTED || rc == MOSQ_ERR_OVERSIZE_PACKET) {
      return sdk::Error(sdk::Status::permanent, text);
    }
    return sdk::TransientError(text + (connected_ ? "" : " (not connected; reconnecting)"));
  }

  static void onConnect(mosquitto*, void* obj, int rc, int, const mosquitto_property*) {
    auto& self = *static_cast<Producer*>(obj);
    if (rc != 0) {
      self.host_.error("mqtt producer ", self.client_id_, ": ", self.settings_->where(),
                       " refused the connection: ", connackText(rc));
      return;
    }
    self.connected_ = true;
    self.host_.info("mqtt producer ", self.client_id_, " connected to ", self.settings_->where());
  }

  static void onDisconnect(mosquitto*, void* obj, int rc, const mosquitto_property*) {
    auto& self = *static_cast<Producer*>(obj);
    self.connected_ = false;
    if (rc != 0) {
      self.host_.warn("mqtt producer ", self.client_id_, ": lost the connection to ",
                      self.settings_->where(), " (", Client::errorText(rc),
                      "); reconnecting, unacknowledged messages are sent again");
    }
  }

  static void onPublish(mosquitto*, void* obj, int mid, int reason, const mosquitto_property*) {
    auto& self = *static_cast<Producer*>(obj);
    std::optional<Pending> done;
    {
      const std::lock_guard<std::mutex> lock(self.mutex_);
      const auto it = self.pending_.find(mid);
      if (it == self.pending_.end()) return;  // QoS 0, or timed out already
      done.emplace(std::move(it->second));
      self.pending_.erase(it);
    }
    if (reason < 0x80) {
      self.host_.metric("published");
      done->sending.complete();
      return;
    }
    const std::string text = "mqtt producer " + self.settings_->uri + ": " +
                             self.settings_->where() + " refused the message to '" + done->topic +
                             "': " + mosquitto_reason_string(reason);
    // Quota exceeded / server busy pass; not authorized, topic name invalid... do not.
    const bool transient = reason == MQTT_RC_QUOTA_EXCEEDED || reason == MQTT_RC_SERVER_BUSY ||
                           reason == MQTT_RC_UNSPECIFIED ||
                           reason == MQTT_RC_IMPLEMENTATION_SPECIFIC;
    done->sending.fail(transient ? sdk::Status::transient : sdk::Status::permanent, text);
  }

  void sweep() {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!closing_) {
      cv_.wait_for(lock, milliseconds(250), [this] { return closing_; });
      const auto now = Clock::now();
      std::vector<Pending> expired;
      for (auto it = pending_.begin(); it != pending_.end();) {
        if (it->second.deadline <= now) {
          expired.push_back(std::move(it->second));
          it = pending_.erase(it);
        } else {
          ++it;
        }
      }
      if (expired.empty()) continue;
      lock.unlock();
      for (auto& pending : expired) {
        pending.sending.fail(sdk::Status::transient,
                             "mqtt producer " + settings_->uri + ": no acknowledgement from " +
                                 settings_->where() + " for the message to '" + pending.topic +
                                 "' within " + std::to_string(settings_->send_timeout.count()) +
                                 "ms" + (connected_ ? "" : " (not connected)"));
      }
      lock.lock();
    }
  }

  std::shared_ptr<const Settings> settings_;
  sdk::Host host_;
  std::string client_id_;
  std::atomic<bool> connected_{false};
  std::mutex mutex_;
  std::condition_variable cv_;
  bool closing_ = false;
  std::unordered_map<int, Pending> pending_;
  std::thread sweeper_;
  Client client_;  // last: destroyed (joined) first, so callbacks never see a dead member
};

// ---------------------------------------------------------------------------------------

class MqttEndpoint;

class MqttPlugin : public sdk::Plugin {
 public:
  using Endpoints = sdk::List<MqttEndpoint>;
  MqttPlugin(sdk::Host host, const sdk::Options& config) : Plugin(host, config) {
    mosquitto_lib_init();
  }
  MqttPlugin(const MqttPlugin&) = delete;
  MqttPlugin& operator=(const MqttPlugin&) = delete;
  ~MqttPlugin() override { mosquitto_lib_cleanup(); }
};

class MqttEndpoint : public sdk::Endpoint {
 public:
  static constexpr std::string_view scheme = "mqtt";

  MqttEndpoint(MqttPlugin& plugin, const sdk::Options& options)
      : host_(plugin.host()), settings_(std::make_shared<const Settings>(readSettings(options))) {}

  ~MqttEndpoint() override { stopConsumer(); }

  void startConsumer(sdk::Route route) override {
    signal_ = std::make_shared<ConsumerSignal>();
    const Settings& s = *settings_;
    const bool shared = s.consumers > 1;
    const std::string filter =
        shared ? "$share/" + s.share_group + "/" + s.address.topic : s.address.topic;
    const std::string base = s.client_id.empty() ? randomClientId() : s.client_id;
    for (int i = 1; i <= s.consumers; ++i) {
      const std::string id = shared ? base + "-" + std::to_string(i) : base;
      connections_.push_back(
          std::make_unique<Connection>(settings_, route, host_, signal_, id, filter));
    }
    for (auto& connection : connections_) connection->start();
  }

  void stopConsumer() override {
    if (!signal_) return;
    {
      std::unique_lock<std::mutex> lock(signal_->mutex);
      signal_->stopping = true;
      signal_->stop_deadline = Clock::now() + settings_->stop_timeout;
      signal_->cv.notify_all();
      // Let the messages in the routes finish, so their PUBACKs go out before DISCONNECT.
      signal_->cv.wait_until(lock, signal_->stop_deadline + milliseconds(500),
                             [this] { return signal_->busy == 0; });
    }
    for (auto& connection : connections_) connection->close();
    connections_.clear();
    signal_.reset();
  }

  void send(sdk::Sending& sending) override {
    Producer* producer = nullptr;
    {
      const std::lock_guard<std::mutex> lock(producer_mutex_);
      if (!producer_) producer_ = std::make_unique<Producer>(settings_, host_);
      producer = producer_.get();
    }
    producer->send(sending);
  }

 private:
  sdk::Host host_;
  std::shared_ptr<const Settings> settings_;
  std::shared_ptr<ConsumerSignal> signal_;
  std::vector<std::unique_ptr<Connection>> connections_;
  std::mutex producer_mutex_;
  std::unique_ptr<Producer> producer_;
};

}  // namespace
}  // namespace busway::mqtt

BUSWAY_PLUGIN(busway::mqtt::MqttPlugin);
