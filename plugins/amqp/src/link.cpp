#include "link.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <limits>

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>

namespace busway::amqp {

namespace {

constexpr amqp_channel_t kChannel = 1;
constexpr int kFrameMax = 131072;
constexpr int kFramesPerRound = 512;

timeval toTimeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<decltype(tv.tv_sec)>(ms.count() / 1000);
  tv.tv_usec = static_cast<decltype(tv.tv_usec)>((ms.count() % 1000) * 1000);
  return tv;
}

std::string statusText(int status) { return amqp_error_string2(status); }

}  // namespace

namespace {
// rabbitmq-c asserts when its TLS state is released without ever having been set up.
std::atomic<bool> tls_used{false};
}  // namespace

void releaseTlsLibrary() noexcept {
  if (tls_used.load()) (void)amqp_uninitialize_ssl_library();
}

Link::Link(sdk::Host host, LinkSettings settings) : host_(host), settings_(std::move(settings)) {
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) {
    throw sdk::TransientError(std::string("amqp: cannot create an eventfd: ") +
                              std::strerror(errno));
  }
}

Link::~Link() {
  shutdown();
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void Link::start() {
  if (started_.exchange(true)) return;
  thread_ = std::thread([this] { run(); });
}

void Link::consume(std::string consumer_tag, int prefetch,
                   std::function<void(Delivery&&)> on_delivery) {
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    want_consume_ = true;
    consumer_tag_ = std::move(consumer_tag);
    prefetch_ = prefetch;
    on_delivery_ = std::move(on_delivery);
  }
  wake();
}

void Link::cancel() {
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    want_consume_ = false;
  }
  wake();
}

void Link::settle(std::uint64_t generation, std::uint64_t tag, Settle how) {
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) {
      // The connection is closing or closed: the broker gets the message back by itself.
      counters_.stale_settles.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    settles_.push_back(SettleCommand{generation, tag, how});
  }
  wake();
}

void Link::publish(Publish message) {
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (!stopping_) {
      publishes_.push_back(std::move(message));
      message.done = nullptr;
    }
  }
  if (message.done) {
    message.done(sdk::Status::rejected,
                 "amqp: " + settings_.where + " is stopping; the message was not published");
    return;
  }
  wake();
}

void Link::shutdown() {
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  wake();
  if (thread_.joinable()) {
    if (thread_.get_id() == std::this_thread::get_id())
      thread_.detach();  // the last reference went away on the I/O thread itself
    else
      thread_.join();
  }
}

void Link::wake() {
  if (wake_pending_.exchange(true, std::memory_order_acq_rel)) return;  // already signalled
  const std::uint64_t one = 1;
  [[maybe_unused]] const auto written = ::write(wake_fd_, &one, sizeof one);
}

bool Link::waitInterruptibly(std::chrono::milliseconds delay) {
  pollfd fd{wake_fd_, POLLIN, 0};
  ::poll(&fd, 1, static_cast<int>(delay.count()));
  std::uint64_t value = 0;
  [[maybe_unused]] const auto read = ::read(wake_fd_, &value, sizeof value);
  wake_pending_.store(false, std::memory_order_release);  // before the commands are taken
  const std::lock_guard<std::mutex> lock(mutex_);
  return !stopping_;
}

void Link::run() {
  using Clock = std::chrono::steady_clock;
  // A connection that is lost soon after it was made (a declaration the broker refuses, a
  // queue that does not exist) must not turn into a reconnect loop: the backoff is only
  // reset once a connection has lasted kStable.
  constexpr auto kStable = std::chrono::seconds(5);
  auto delay = settings_.reconnect_delay;
  int failures = 0;
  bool backoff_before_connect = false;
  Clock::time_point connected_at{};
  for (;;) {
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_) break;
    }
    if (conn_ == nullptr) {
      takeCommands();
      expire();
      if (backoff_before_connect) {
        if (!waitInterruptibly(delay)) break;
        delay = std::min(delay * 2, settings_.reconnect_max_delay);
        backoff_before_connect = false;
      }
      std::string error;
      if (!connect(error)) {
        ++failures;
        if (failures == 1 || failures % 20 == 0) {
          host_.warn("cannot connect to ", settings_.where, " (attempt ", failures, "): ", error,
                     "; retrying in ", delay.count(), "ms");
        }
        backoff_before_connect = true;
        continue;
      }
      if (failures > 0)
        host_.info("connected to ", settings_.where, " after ", failures, " failed attempt(s)");
      failures = 0;
      connected_at = Clock::now();
    }
    takeCommands();
    const bool ok = sendSettles() && sendConsumeState() && sendPublishes();
    if (ok) {
      expire();
      pump();
    }
    if (conn_ == nullptr) {
      // Lost: a short-lived connection backs off before the next attempt.
      backoff_before_connect = Clock::now() - connected_at < kStable;
    } else if (delay != settings_.reconnect_delay && Clock::now() - connected_at >= kStable) {
      delay = settings_.reconnect_delay;
    }
  }
  // Stopping: whatever is not confirmed fails, the broker takes back what is unacked.
  takeCommands();
  if (conn_ != nullptr) {
    sendSettles();  // acks that arrived before the stop are still worth sending
    const timeval tv = toTimeval(std::chrono::milliseconds(2000));
    amqp_set_rpc_timeout(conn_, &tv);
    amqp_channel_close(conn_, kChannel, AMQP_REPLY_SUCCESS);
    amqp_connection_close(conn_, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn_);
    conn_ = nullptr;
  }
  failAll(sdk::Status::transient,
          "amqp: " + settings_.where + " stopped before the broker confirmed the message");
  for (auto& message : unsent_)
    message.done(sdk::Status::rejected,
                 "amqp: " + settings_.where + " stopped before the message was published");
  unsent_.clear();
}

bool Link::connect(std::string& error) {
  conn_ = amqp_new_connection();
  if (conn_ == nullptr) {
    error = "out of memory";
    return false;
  }
  const bool ok = setUp(error);
  if (!ok) {
    amqp_destroy_connection(conn_);
    conn_ = nullptr;
    return false;
  }
  ++generation_;
  next_seq_ = 0;
  unsettled_.clear();
  consuming_ = false;
  incoming_.reset();
  counters_.connects.fetch_add(1, std::memory_order_relaxed);
  host_.metric("connects");
  return true;
}

bool Link::setUp(std::string& error) {
  const Address& address = settings_.address;
  if (settings_.tls) tls_used = true;
  amqp_socket_t* socket = settings_.tls ? amqp_ssl_socket_new(conn_) : amqp_tcp_socket_new(conn_);
  if (socket == nullptr) {
    error = "cannot create a socket";
    return false;
  }
  if (settings_.tls) {
    if (!settings_.tls_ca.empty()) {
      if (const int s = amqp_ssl_socket_set_cacert(socket, settings_.tls_ca.c_str());
          s != AMQP_STATUS_OK) {
        error = "cannot read tls-ca '" + settings_.tls_ca + "': " + statusText(s);
        return false;
      }
    }
    if (!settings_.tls_cert.empty()) {
      if (const int s = amqp_ssl_socket_set_key(socket, settings_.tls_cert.c_str(),
                                                settings_.tls_key.c_str());
          s != AMQP_STATUS_OK) {
        error = "cannot read tls-cert '" + settings_.tls_cert + "' / tls-key: " + statusText(s);
        return false;
      }
    }
    amqp_ssl_socket_set_verify_peer(socket, settings_.tls_verify ? 1 : 0);
    amqp_ssl_socket_set_verify_hostname(socket, settings_.tls_verify ? 1 : 0);
  }
  timeval timeout = toTimeval(settings_.connect_timeout);
  amqp_set_handshake_timeout(conn_, &timeout);
  amqp_set_rpc_timeout(conn_, &timeout);
  const int port = address.port != 0 ? address.port : (settings_.tls ? 5671 : 5672);
  if (const int s = amqp_socket_open_noblock(socket, address.host.c_str(), port, &timeout);
      s != AMQP_STATUS_OK) {
    error = statusText(s);
    return false;
  }
  amqp_table_entry_t properties[3];
  properties[0].key = amqp_cstring_bytes("connection_name");
  properties[0].value.kind = AMQP_FIELD_KIND_UTF8;
  properties[0].value.value.bytes = bytes(settings_.connection_name);
  properties[1].key = amqp_cstring_bytes("product");
  properties[1].value.kind = AMQP_FIELD_KIND_UTF8;
  properties[1].value.value.bytes = amqp_cstring_bytes("busway");
  // The broker may cancel a consumer (queue deleted): tell it we understand basic.cancel.
  amqp_table_entry_t capability;
  capability.key = amqp_cstring_bytes("consumer_cancel_notify");
  capability.value.kind = AMQP_FIELD_KIND_BOOLEAN;
  capability.value.value.boolean = 1;
  properties[2].key = amqp_cstring_bytes("capabilities");
  properties[2].value.kind = AMQP_FIELD_KIND_TABLE;
  properties[2].value.value.table.num_entries = 1;
  properties[2].value.value.table.entries = &capability;
  amqp_table_t table{3, properties};
  const auto heartbeat_ms = settings_.heartbeat.count();
  const int heartbeat = heartbeat_ms <= 0 ? 0 : static_cast<int>((heartbeat_ms + 999) / 1000);
  amqp_rpc_reply_t reply = amqp_login_with_properties(
      conn_, address.vhost.c_str(), 0, kFrameMax, heartbeat, &table, AMQP_SASL_METHOD_PLAIN,
      settings_.username.c_str(), settings_.password.c_str());
  if (reply.reply_type != AMQP_RESPONSE_NORMAL) {
    error = describe(reply, "login (check username, password and the vhost)");
    return false;
  }
  amqp_channel_open(conn_, kChannel);
  if (reply = amqp_get_rpc_reply(conn_); reply.reply_type != AMQP_RESPONSE_NORMAL) {
    error = describe(reply, "channel.open");
    return false;
  }
  if (settings_.declare) {
    if (!settings_.exchange.empty() && settings_.declare_exchange) {
      amqp_exchange_declare(conn_, kChannel, bytes(settings_.exchange),
                            bytes(settings_.exchange_type), 0, settings_.durable ? 1 : 0,
                            settings_.auto_delete ? 1 : 0, 0, amqp_empty_table);
      if (reply = amqp_get_rpc_reply(conn_); reply.reply_type != AMQP_RESPONSE_NORMAL) {
        error = describe(reply, ("exchange.declare '" + settings_.exchange + "'").c_str());
        return false;
      }
    }
    if (!settings_.queue.empty()) {
      std::vector<std::pair<std::string, std::string>> arguments;
      if (settings_.queue_type != "classic")
        arguments.emplace_back("x-queue-type", settings_.queue_type);
      if (!settings_.dead_letter_exchange.empty())
        arguments.emplace_back("x-dead-letter-exchange", settings_.dead_letter_exchange);
      const StringTable args(arguments);
      amqp_queue_declare(conn_, kChannel, bytes(settings_.queue), 0, settings_.durable ? 1 : 0, 0,
                         settings_.auto_delete ? 1 : 0, args.table());
      if (reply = amqp_get_rpc_reply(conn_); reply.reply_type != AMQP_RESPONSE_NORMAL) {
        error = describe(reply, ("queue.declare '" + settings_.queue + "'").c_str());
        return false;
      }
      if (!settings_.exchange.empty()) {
        amqp_queue_bind(conn_, kChannel, bytes(settings_.queue), bytes(settings_.exchange),
                        bytes(settings_.binding_key), amqp_empty_table);
        if (reply = amqp_get_rpc_reply(conn_); reply.reply_type != AMQP_RESPONSE_NORMAL) {
          error = describe(
              reply,
              ("queue.bind '" + settings_.queue + "' to '" + settings_.exchange + "'").c_str());
          return false;
        }
      }
    }
  }
  amqp_confirm_select(conn_, kChannel);
  if (reply = amqp_get_rpc_reply(conn_); reply.reply_type != AMQP_RESPONSE_NORMAL) {
    error = describe(reply, "confirm.select");
    return false;
  }
  return true;
}

std::string Link::describe(const amqp_rpc_reply_t& reply, const char* what) const {
  std::string text = std::string(what) + " failed: ";
  switch (reply.reply_type) {
    case AMQP_RESPONSE_NONE: return text + "no reply (missing RPC reply type)";
    case AMQP_RESPONSE_LIBRARY_EXCEPTION: return text + statusText(reply.library_error);
    case AMQP_RESPONSE_SERVER_EXCEPTION:
      if (reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        const auto* close = static_cast<const amqp_connection_close_t*>(reply.reply.decoded);
        return text + "the broker closed the connection: " + std::to_string(close->reply_code) +
               " " + amqp::text(close->reply_text);
      }
      if (reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        const auto* close = static_cast<const amqp_channel_close_t*>(reply.reply.decoded);
        return text + "the broker closed the channel: " + std::to_string(close->reply_code) + " " +
               amqp::text(close->reply_text);
      }
      return text + "unexpected server method " + std::to_string(reply.reply.id);
    case AMQP_RESPONSE_NORMAL: break;
  }
  return text + "unknown reply";
}

void Link::disconnect(const std::string& reason) {
  host_.warn("lost the connection to ", settings_.where, ": ", reason, "; reconnecting");
  counters_.connection_losses.fetch_add(1, std::memory_order_relaxed);
  host_.metric("connection-losses");
  amqp_destroy_connection(conn_);
  conn_ = nullptr;
  consuming_ = false;
  incoming_.reset();
  unsettled_.clear();
  // Sent but not confirmed: the broker may or may not have them. Fail them as transient so
  // the route retries (at-least-once: a retry may duplicate one the broker did take).
  failAll(sdk::Status::transient, "amqp: the connection to " + settings_.where +
                                      " was lost before the broker confirmed the message (" +
                                      reason + ")");
}

void Link::failAll(sdk::Status status, const std::string& why) {
  auto pending = std::move(outstanding_);
  outstanding_.clear();
  for (auto& [seq, entry] : pending) {
    counters_.publish_failed.fetch_add(1, std::memory_order_relaxed);
    entry.message.done(status, why);
  }
}

void Link::takeCommands() {
  std::vector<Publish> publishes;
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    publishes.swap(publishes_);
  }
  for (auto& message : publishes) unsent_.push_back(std::move(message));
}

bool Link::sendSettles() {
  std::vector<SettleCommand> settles;
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    settles.swap(settles_);
  }
  if (settles.empty()) return true;
  // Nacks go out one by one, first. Acks are coalesced: every tag below the oldest delivery
  // still unsettled is covered by one basic.ack(multiple=true) for the highest of them; the
  // rest are acked one by one. (A multiple ack never covers a message the route has not
  // finished: those are exactly the unsettled ones, and the batch stops below the oldest.)
  std::vector<std::uint64_t> acks;
  for (const auto& command : settles) {
    if (conn_ == nullptr || command.generation != generation_) {
      // Delivered on a channel that is gone: its tag means nothing on this one, and the
      // broker has requeued the message already.
      counters_.stale_settles.fetch_add(1, std::memory_order_relaxed);
      host_.metric("stale-acks");
      continue;
    }
    unsettled_.erase(command.tag);
    if (command.how == Settle::ack) {
      acks.push_back(command.tag);
      continue;
    }
    const bool requeue = command.how == Settle::requeue;
    if (const int status = amqp_basic_nack(conn_, kChannel, command.tag, 0, requeue ? 1 : 0);
        status != AMQP_STATUS_OK) {
      disconnect("cannot send a nack: " + statusText(status));
      return false;
    }
    (requeue ? counters_.requeued : counters_.rejected).fetch_add(1, std::memory_order_relaxed);
    host_.metric(requeue ? "requeued" : "rejected");
  }
  if (acks.empty()) return true;
  std::sort(acks.begin(), acks.end());
  const std::uint64_t oldest_unsettled =
      unsettled_.empty() ? std::numeric_limits<std::uint64_t>::max() : *unsettled_.begin();
  std::size_t covered = 0;
  while (covered < acks.size() && acks[covered] < oldest_unsettled) ++covered;
  int status = AMQP_STATUS_OK;
  if (covered > 0) status = amqp_basic_ack(conn_, kChannel, acks[covered - 1], covered > 1 ? 1 : 0);
  for (std::size_t i = covered; i < acks.size() && status == AMQP_STATUS_OK; ++i)
    status = amqp_basic_ack(conn_, kChannel, acks[i], 0);
  if (status != AMQP_STATUS_OK) {
    disconnect("cannot send an ack: " + statusText(status));
    return false;
  }
  counters_.acked.fetch_add(acks.size(), std::memory_order_relaxed);
  host_.metric("acked", static_cast<double>(acks.size()));
  return true;
}

bool Link::sendConsumeState() {
  bool want = false;
  std::string tag;
  int prefetch = 0;
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    want = want_consume_;
    if (want && !consuming_) {
      tag = consumer_tag_;
      prefetch = prefetch_;
      handler_ = on_delivery_;
    }
  }
  if (want == consuming_) return true;
  int status = AMQP_STATUS_OK;
  if (want) {
    amqp_basic_qos_t qos{};
    qos.prefetch_size = 0;
    qos.prefetch_count = static_cast<std::uint16_t>(std::clamp(prefetch, 0, 65535));
    qos.global = 0;
    status = amqp_send_method(conn_, kChannel, AMQP_BASIC_QOS_METHOD, &qos);
    if (status == AMQP_STATUS_OK) {
      amqp_basic_consume_t consume{};
      consume.queue = bytes(settings_.queue);
      consume.consumer_tag = bytes(tag);
      consume.no_local = 0;
      consume.no_ack = 0;
      consume.exclusive = 0;
      consume.nowait = 0;
      consume.arguments = amqp_empty_table;
      status = amqp_send_method(conn_, kChannel, AMQP_BASIC_CONSUME_METHOD, &consume);
    }
    consumer_tag_sent_ = tag;
  } else {
    amqp_basic_cancel_t cancel{};
    cancel.consumer_tag = bytes(consumer_tag_sent_);
    cancel.nowait = 0;
    status = amqp_send_method(conn_, kChannel, AMQP_BASIC_CANCEL_METHOD, &cancel);
  }
  if (status != AMQP_STATUS_OK) {
    disconnect(std::string(want ? "cannot start consuming: " : "cannot cancel the consumer: ") +
               statusText(status));
    return false;
  }
  consuming_ = want;
  return true;
}

bool Link::sendPublishes() {
  while (conn_ != nullptr && !unsent_.empty()) {
    Publish& message = unsent_.front();
    amqp_basic_properties_t props{};
    props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
    props.delivery_mode =
        message.persistent ? AMQP_DELIVERY_PERSISTENT : AMQP_DELIVERY_NONPERSISTENT;
    const auto set = [&props](const std::string& value, amqp_flags_t flag, amqp_bytes_t& field) {
      if (value.empty()) return;
      props._flags |= flag;
      field = bytes(value);
    };
    set(message.content_type, AMQP_BASIC_CONTENT_TYPE_FLAG, props.content_type);
    set(message.correlation_id, AMQP_BASIC_CORRELATION_ID_FLAG, props.correlation_id);
    set(message.message_id, AMQP_BASIC_MESSAGE_ID_FLAG, props.message_id);
    set(message.reply_to, AMQP_BASIC_REPLY_TO_FLAG, props.reply_to);
    set(message.type, AMQP_BASIC_TYPE_FLAG, props.type);
    set(message.expiration, AMQP_BASIC_EXPIRATION_FLAG, props.expiration);
    const StringTable headers(message.headers);
    if (!message.headers.empty()) {
      props._flags |= AMQP_BASIC_HEADERS_FLAG;
      props.headers = headers.table();
    }
    const int status =
        amqp_basic_publish(conn_, kChannel, bytes(message.exchange), bytes(message.routing_key),
                           message.mandatory ? 1 : 0, 0, &props, bytes(message.body));
    if (status != AMQP_STATUS_OK) {
      // Not counted as sent: it stays first in line for the next connection.
      disconnect("cannot publish: " + statusText(status));
      return false;
    }
    const std::uint64_t seq = ++next_seq_;
    counters_.published.fetch_add(1, std::memory_order_relaxed);
    outstanding_.emplace(seq, Outstanding{std::move(message), false, {}});
    unsent_.pop_front();
  }
  return true;
}

void Link::expire() {
  const auto now = std::chrono::steady_clock::now();
  while (!unsent_.empty() && unsent_.front().deadline <= now) {
    counters_.publish_failed.fetch_add(1, std::memory_order_relaxed);
    unsent_.front().done(sdk::Status::timeout,
                         "amqp: no connection to " + settings_.where +
                             " within publish-timeout; the message was not published");
    unsent_.pop_front();
  }
  // Unsent messages behind the first may have earlier deadlines (sends are not sorted by
  // deadline when timeouts differ); they are checked when they reach the front.
  for (auto it = outstanding_.begin(); it != outstanding_.end();) {
    if (it->second.message.deadline <= now) {
      counters_.publish_failed.fetch_add(1, std::memory_order_relaxed);
      it->second.message.done(
          sdk::Status::timeout,
          "amqp: " + settings_.where +
              " did not confirm the message within publish-timeout (it may still arrive)");
      it = outstanding_.erase(it);
    } else {
      ++it;
    }
  }
}

bool Link::pump() {
  if (!amqp_frames_enqueued(conn_) && !amqp_data_in_buffer(conn_)) {
    pollfd fds[2] = {{amqp_get_sockfd(conn_), POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    // Short enough to service heartbeats and publish deadlines, long enough to idle cheaply.
    ::poll(fds, 2, 100);
    if ((fds[1].revents & POLLIN) != 0) {
      std::uint64_t value = 0;
      [[maybe_unused]] const auto read = ::read(wake_fd_, &value, sizeof value);
      wake_pending_.store(false, std::memory_order_release);  // the loop takes the commands next
    }
  }
  timeval zero{0, 0};
  for (int i = 0; i < kFramesPerRound; ++i) {
    amqp_frame_t frame;
    const int status = amqp_simple_wait_frame_noblock(conn_, &frame, &zero);
    if (status == AMQP_STATUS_TIMEOUT) break;
    if (status != AMQP_STATUS_OK) {
      disconnect(statusText(status));
      return false;
    }
    const bool ok = handleFrame(frame);
    if (conn_ == nullptr) return false;
    amqp_maybe_release_buffers(conn_);
    if (!ok) return false;
  }
  return true;
}

bool Link::handleFrame(const amqp_frame_t& frame) {
  if (frame.channel != kChannel && frame.channel != 0) return true;
  if (frame.frame_type == AMQP_FRAME_METHOD) {
    const amqp_method_t& method = frame.payload.method;
    switch (method.id) {
      case AMQP_BASIC_DELIVER_METHOD: {
        const auto* deliver = static_cast<const amqp_basic_deliver_t*>(method.decoded);
        incoming_.emplace();
        incoming_->delivery.generation = generation_;
        incoming_->delivery.tag = deliver->delivery_tag;
        incoming_->delivery.redelivered = deliver->redelivered != 0;
        incoming_->delivery.exchange = text(deliver->exchange);
        incoming_->delivery.routing_key = text(deliver->routing_key);
        incoming_->delivery.consumer_tag = text(deliver->consumer_tag);
        return true;
      }
      case AMQP_BASIC_RETURN_METHOD: {
        const auto* ret = static_cast<const amqp_basic_return_t*>(method.decoded);
        incoming_.emplace();
        incoming_->is_return = true;
        incoming_->return_reason = "the broker returned the message as unroutable (" +
                                   std::to_string(ret->reply_code) + " " + text(ret->reply_text) +
                                   "): no queue is bound to exchange '" + text(ret->exchange) +
                                   "' with routing key '" + text(ret->routing_key) + "'";
        return true;
      }
      case AMQP_BASIC_ACK_METHOD: {
        const auto* ack = static_cast<const amqp_basic_ack_t*>(method.decoded);
        confirm(ack->delivery_tag, ack->multiple != 0, true, {});
        return true;
      }
      case AMQP_BASIC_NACK_METHOD: {
        const auto* nack = static_cast<const amqp_basic_nack_t*>(method.decoded);
        confirm(nack->delivery_tag, nack->multiple != 0, false,
                "the broker refused the message (basic.nack: an internal error or a queue limit)");
        return true;
      }
      case AMQP_BASIC_CANCEL_METHOD:
        // The broker cancelled our consumer (the queue was deleted): start over.
        disconnect("the broker cancelled the consumer (was queue '" + settings_.queue +
                   "' deleted?)");
        return false;
      case AMQP_CHANNEL_CLOSE_METHOD: {
        const auto* close = static_cast<const amqp_channel_close_t*>(method.decoded);
        const std::string reason =
            "the broker closed the channel: " + std::to_string(close->reply_code) + " " +
            text(close->reply_text);
        amqp_channel_close_ok_t ok{};
        amqp_send_method(conn_, kChannel, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
        host_.error(settings_.where, ": ", reason);
        disconnect(reason);
        return false;
      }
      case AMQP_CONNECTION_CLOSE_METHOD: {
        const auto* close = static_cast<const amqp_connection_close_t*>(method.decoded);
        const std::string reason =
            "the broker closed the connection: " + std::to_string(close->reply_code) + " " +
            text(close->reply_text);
        amqp_connection_close_ok_t ok{};
        amqp_send_method(conn_, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
        disconnect(reason);
        return false;
      }
      case AMQP_CONNECTION_BLOCKED_METHOD:
        host_.warn(settings_.where,
                   ": the broker blocks publishing (a resource alarm: memory or disk)");
        return true;
      case AMQP_CONNECTION_UNBLOCKED_METHOD:
        host_.info(settings_.where, ": the broker accepts publishing again");
        return true;
      default:  // qos-ok, consume-ok, cancel-ok and the like
        return true;
    }
  }
  if (frame.frame_type == AMQP_FRAME_HEADER) {
    if (!incoming_ || incoming_->have_header) return true;
    incoming_->have_header = true;
    incoming_->body_size = frame.payload.properties.body_size;
    const auto* p = static_cast<const amqp_basic_properties_t*>(frame.payload.properties.decoded);
    Delivery& d = incoming_->delivery;
    const auto flag = [p](amqp_flags_t f) { return (p->_flags & f) != 0; };
    if (flag(AMQP_BASIC_CONTENT_TYPE_FLAG)) d.content_type = text(p->content_type);
    if (flag(AMQP_BASIC_CONTENT_ENCODING_FLAG)) d.content_encoding = text(p->content_encoding);
    if (flag(AMQP_BASIC_CORRELATION_ID_FLAG)) d.correlation_id = text(p->correlation_id);
    if (flag(AMQP_BASIC_MESSAGE_ID_FLAG)) d.message_id = text(p->message_id);
    if (flag(AMQP_BASIC_REPLY_TO_FLAG)) d.reply_to = text(p->reply_to);
    if (flag(AMQP_BASIC_TYPE_FLAG)) d.type = text(p->type);
    if (flag(AMQP_BASIC_APP_ID_FLAG)) d.app_id = text(p->app_id);
    if (flag(AMQP_BASIC_USER_ID_FLAG)) d.user_id = text(p->user_id);
    if (flag(AMQP_BASIC_EXPIRATION_FLAG)) d.expiration = text(p->expiration);
    if (flag(AMQP_BASIC_TIMESTAMP_FLAG)) d.timestamp = p->timestamp;
    if (flag(AMQP_BASIC_PRIORITY_FLAG)) d.priority = p->priority;
    if (flag(AMQP_BASIC_DELIVERY_MODE_FLAG)) d.delivery_mode = p->delivery_mode;
    if (flag(AMQP_BASIC_HEADERS_FLAG)) d.headers = tableEntries(p->headers);
    d.body.reserve(static_cast<std::size_t>(incoming_->body_size));
    if (incoming_->body_size == 0) finishIncoming();
    return true;
  }
  if (frame.frame_type == AMQP_FRAME_BODY) {
    if (!incoming_ || !incoming_->have_header) return true;
    const amqp_bytes_t fragment = frame.payload.body_fragment;
    incoming_->delivery.body.append(static_cast<const char*>(fragment.bytes), fragment.len);
    if (incoming_->delivery.body.size() >= incoming_->body_size) finishIncoming();
    return true;
  }
  return true;
}

void Link::finishIncoming() {
  Incoming done = std::move(*incoming_);
  incoming_.reset();
  if (done.is_return) {
    counters_.returned.fetch_add(1, std::memory_order_relaxed);
    host_.metric("returned");
    // A return names no publish sequence number; the message id we set on every publish
    // does. Returns come in publish order, before the confirm of the message they return.
    for (auto& [seq, entry] : outstanding_) {
      if (!entry.returned && entry.message.message_id == done.delivery.message_id) {
        entry.returned = true;
        entry.return_reason = std::move(done.return_reason);
        return;
      }
    }
    host_.warn(settings_.where, ": a returned message matches no unconfirmed publish (message id '",
               done.delivery.message_id, "')");
    return;
  }
  counters_.delivered.fetch_add(1, std::memory_order_relaxed);
  host_.metric("consumed");
  unsettled_.insert(done.delivery.tag);
  if (handler_) {
    handler_(std::move(done.delivery));
  } else {
    unsettled_.erase(done.delivery.tag);
    amqp_basic_nack(conn_, kChannel, done.delivery.tag, 0, 1);
  }
}

void Link::confirm(std::uint64_t tag, bool multiple, bool ok, const std::string& why) {
  const auto finish = [&](Outstanding& entry) {
    if (ok && !entry.returned) {
      counters_.confirmed.fetch_add(1, std::memory_order_relaxed);
      host_.metric("confirmed");
      entry.message.done(sdk::Status::ok, {});
    } else {
      counters_.publish_failed.fetch_add(1, std::memory_order_relaxed);
      host_.metric("publish-failed");
      // Unroutable is permanent: retrying the same publish routes nowhere again, so the
      // route's error handler dead-letters it. A broker nack may pass: transient.
      entry.message.done(
          entry.returned ? sdk::Status::permanent : sdk::Status::transient,
          "amqp: " + settings_.where + ": " + (entry.returned ? entry.return_reason : why));
    }
  };
  if (multiple) {
    auto end = outstanding_.upper_bound(tag);
    for (auto it = outstanding_.begin(); it != end; ++it) finish(it->second);
    outstanding_.erase(outstanding_.begin(), end);
  } else if (auto it = outstanding_.find(tag); it != outstanding_.end()) {
    finish(it->second);
    outstanding_.erase(it);
  }
}

}  // namespace busway::amqp
