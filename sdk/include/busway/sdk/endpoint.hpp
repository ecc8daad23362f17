#pragma once

// What a vendor subclasses: Endpoint (consumer and/or producer for one URI scheme), Format
// and Transformer, plus the handles the bus passes to them: Route (where a consumer
// delivers) and Sending (a message the bus asks a producer to send).
//
// Threading (from plugin.h):
//  - Endpoint constructor, destructor, startConsumer and stopConsumer run on the bus's
//    control thread, one at a time.
//  - Endpoint::send, Format::marshal/unmarshal and Transformer::apply run concurrently on
//    the bus's worker threads: guard shared state.
//  - Route::deliver may be called from any thread, including threads the plugin starts.
//    Done callbacks and timers run on any thread, possibly before deliver() returns.

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "busway/plugin.h"
#include "busway/sdk/error.hpp"
#include "busway/sdk/host.hpp"
#include "busway/sdk/message.hpp"

namespace busway::sdk {

// What the bus did with a delivered message, passed to the done callback.
struct DeliveryResult {
  Status status = Status::ok;
  // The reply of a request (Route::request), valid only during the callback.
  std::optional<MessageView> reply;
  // Why the bus could not take the message (empty when ok), valid only during the callback.
  std::string_view error;

  // True: the message was fully processed or is safe in the durable store, so acknowledge
  // it to the source (commit the offset, ack the broker, delete the file).
  // False: leave it with the source for redelivery (nack/requeue, keep the file).
  bool ok() const noexcept { return status == Status::ok; }
};

namespace detail {

// One started consumer. Shared by every copy of its Route, so a Route kept in a timer or a
// thread stays safe to call after the consumer stopped (deliver then refuses).
struct RouteState {
  RouteState(Host h, bw_route* r) : host(h), route(r) {}
  Host host;
  bw_route* route;
  std::mutex mutex;
  std::condition_variable idle;
  int in_flight = 0;  // deliver calls currently inside the host
  bool stopped = false;

  // Refuses new deliveries and waits until none is inside host->deliver, so that once the
  // SDK's stop returns the host is never called for this consumer again (plugin.h).
  void stop() {
    std::unique_lock<std::mutex> lock(mutex);
    stopped = true;
    idle.wait(lock, [this] { return in_flight == 0; });
  }
};

}  // namespace detail

// Where a consumer delivers. A cheap handle: copy it into timers and threads. After the
// consumer stops, deliver() returns Status::rejected and calls the host no more.
class Route {
 public:
  Route() = default;
  explicit Route(std::shared_ptr<detail::RouteState> state) noexcept : state_(std::move(state)) {}

  // Hands `message` to the route (one-way). Returns Status::ok when the bus took it; then
  // done(const DeliveryResult&) is called exactly once, on any thread, maybe before deliver
  // returns: THAT is the acknowledgement (see DeliveryResult::ok). Any other status means
  // the bus refused the message at once (stopping, full): done is not called and the
  // message stays the source's to redeliver later.
  template <class Done>
  Status deliver(OwnedMessage message, Done&& done) const {
    return hand(std::move(message), false, std::forward<Done>(done));
  }
  // The same for request-reply: result.reply holds the reply when result.ok().
  template <class Done>
  Status request(OwnedMessage message, Done&& done) const {
    return hand(std::move(message), true, std::forward<Done>(done));
  }

  // False once the consumer is stopping: stop polling, stop rescheduling timers.
  bool active() const {
    if (!state_) return false;
    const std::lock_guard<std::mutex> lock(state_->mutex);
    return !state_->stopped;
  }
  Host host() const noexcept { return state_ ? state_->host : Host(); }

 private:
  template <class Done>
  Status hand(OwnedMessage message, bool in_out, Done&& done) const {
    using Callback = std::decay_t<Done>;
    static_assert(std::is_invocable_v<Callback&, const DeliveryResult&>,
                  "the done callback must be callable as done(const busway::sdk::DeliveryResult&)");
    if (!state_) throw Error(Status::invalid, "deliver on a Route that was never started");
    if (!message) throw Error(Status::invalid, "deliver of an empty OwnedMessage");
    struct Pending {
      Host host;
      Callback callback;
    };
    // Counted as in flight so that stop waits for this call to leave the host.
    struct InFlight {
      detail::RouteState& state;
      ~InFlight() {
        const std::lock_guard<std::mutex> lock(state.mutex);
        if (--state.in_flight == 0) state.idle.notify_all();
      }
    };
    {
      const std::lock_guard<std::mutex> lock(state_->mutex);
      if (state_->stopped) return Status::rejected;
      ++state_->in_flight;
    }
    const InFlight in_flight{*state_};
    auto pending = std::make_unique<Pending>(Pending{state_->host, std::forward<Done>(done)});
    bw_delivery_done_fn on_done = [](void* context, bw_status status, const bw_message* reply,
                                     bw_str error) noexcept {
      const std::unique_ptr<Pending> owned(static_cast<Pending*>(context));
      DeliveryResult result;
      result.status = fromC(status);
      if (reply != nullptr) result.reply.emplace(owned->host.api(), reply);
      result.error = detail::view(error);
      detail::guardVoid(
          [&](std::string_view what) {
            owned->host.error("a delivery done callback failed: ", what);
          },
          [&] { owned->callback(result); });
    };
    const Host& host = state_->host;
    const bw_status status = host.api()->deliver(state_->route, message.release(), in_out ? 1 : 0,
                                                 on_done, pending.get());
    // Accepted: the host calls on_done exactly once, which frees `pending` (maybe already).
    if (status == BW_OK) static_cast<void>(pending.release());
    return fromC(status);
  }

  std::shared_ptr<detail::RouteState> state_;
};

namespace detail {

// A send finished by the plugin: what Sending::complete/fail recorded.
struct Completion {
  Status status = Status::ok;
  OwnedMessage reply;
  std::string error;
};

// Shared between a deferred Sending and the SDK's send adapter, so that a completion that
// comes before send() has returned is turned into a synchronous result: the host never
// sees sending_complete before it has seen BW_PENDING.
struct DeferredSend {
  Host host;
  bw_sending* sending = nullptr;
  bool wants_reply = false;
  std::mutex mutex;
  bool returned = false;   // the adapter has returned to the host
  bool abandoned = false;  // ...with a synchronous error: a later completion is dropped
  std::optional<Completion> early;

  void finish(Completion completion) {
    {
      const std::lock_guard<std::mutex> lock(mutex);
      if (abandoned) return;
      if (!returned) {
        early = std::move(completion);
        return;
      }
    }
    bw_message* reply = wants_reply ? completion.reply.release() : nullptr;
    host.api()->sending_complete(sending, toC(completion.status), reply, str(completion.error));
  }
};

template <class P, class E>
struct EndpointAdapter;

}  // namespace detail

// A message the bus asks a producer to send. Two ways to finish it:
//  - synchronously: return from send() (success), call fail() or throw (failure), and for
//    request-reply call complete(reply) or change message() into the reply;
//  - asynchronously: `Sending later = sending.defer();` and, from any thread, exactly one
//    of later.complete(...) / later.fail(...). A deferred Sending that is destroyed without
//    either fails the send (permanent) so the bus never waits forever.
class Sending {
 public:
  Sending(const Sending&) = delete;
  Sending& operator=(const Sending&) = delete;
  Sending(Sending&& other) noexcept
      : host_(other.host_),
        sending_(other.sending_),
        owner_(std::exchange(other.owner_, false)),
        finished_(other.finished_),
        deferred_(std::move(other.deferred_)),
        sync_(std::move(other.sync_)) {}
  Sending& operator=(Sending&& other) = delete;
  ~Sending() {
    if (deferred_ && !finished_ && owner_) {
      try {
        deferred_->host.warn("a deferred send was dropped without complete() or fail()");
        deferred_->finish(detail::Completion{Status::permanent, OwnedMessage(),
                                             "the plugin dropped the send without completing it"});
      } catch (...) {  // NOLINT(bugprone-empty-catch): a destructor must not throw
      }
    }
  }

  // The message being sent. Valid until send() returns (synchronous) or until the deferred
  // send completes; do not keep views into it past that.
  MessageRef message() const {
    // plugin.h hands the message out as const, yet says a synchronous reply "is written into
    // the message through the host API"; the host owns it and expects exactly that.
    return MessageRef(host_.api(), host_.api()->sending_message(sending_));
  }
  bool wantsReply() const { return host_.api()->sending_wants_reply(sending_) != 0; }
  Host host() const noexcept { return host_; }

  // Takes over the send to finish it later; this object is then spent. Call at most once,
  // inside send().
  Sending defer() {
    if (!owner_ || deferred_ || finished_) {
      throw Error(Status::invalid,
                  "Sending::defer called twice, after complete()/fail(), or on a spent Sending");
    }
    auto state = std::make_shared<detail::DeferredSend>();
    state->host = host_;
    state->sending = sending_;
    state->wants_reply = wantsReply();
    deferred_ = state;
    owner_ = false;
    Sending later(host_, sending_);
    later.deferred_ = std::move(state);
    return later;
  }

  // Success without a reply (or, synchronous, with message() as it is).
  void complete() { finish(detail::Completion{}); }
  // Success with `reply` (ignored for one-way sends).
  void complete(OwnedMessage reply) {
    finish(detail::Completion{Status::ok, std::move(reply), {}});
  }
  // Failure: transient (retry), permanent, invalid, timeout, rejected...
  void fail(Status status, std::string_view error) {
    if (status == Status::ok || status == Status::pending) status = Status::permanent;
    finish(detail::Completion{status, OwnedMessage(), std::string(error)});
  }
  bool finished() const noexcept { return finished_; }

 private:
  template <class P, class E>
  friend struct detail::EndpointAdapter;

  Sending(Host host, bw_sending* sending) noexcept : host_(host), sending_(sending) {}

  void finish(detail::Completion completion) {
    if (!owner_ || finished_)
      throw Error(Status::invalid, "a send was completed twice or after defer()");
    finished_ = true;
    if (deferred_)
      deferred_->finish(std::move(completion));
    else
      sync_ = std::move(completion);
  }

  Host host_;
  bw_sending* sending_ = nullptr;
  bool owner_ = true;      // this object may still complete the send
  bool finished_ = false;  // complete() or fail() was called
  std::shared_ptr<detail::DeferredSend> deferred_;
  std::optional<detail::Completion> sync_;  // synchronous result, read by the adapter
};

// An endpoint: one instance per URI in the routing table. A subclass declares
//   static constexpr std::string_view scheme = "acme-erp";
// and a constructor MyEndpoint(MyPlugin& plugin, const busway::sdk::Options& options)
// (or MyEndpoint(busway::sdk::Host host, const busway::sdk::Options& options)) that
// reads and checks its options; throw from it to refuse the URI. Override the consumer
// side, the producer side or both; the SDK tells the bus which ones you offer.
class Endpoint {
 public:
  Endpoint() = default;
  Endpoint(const Endpoint&) = delete;
  Endpoint& operator=(const Endpoint&) = delete;
  Endpoint(Endpoint&&) = delete;
  Endpoint& operator=(Endpoint&&) = delete;
  virtual ~Endpoint() = default;

  // Consumer: start taking messages from the source and hand them to route.deliver().
  // Return quickly: start your own threads or timers. One consumer per endpoint at a time.
  // (By value: the Route is a handle the consumer usually keeps.)
  virtual void startConsumer(Route route) {  // NOLINT(performance-unnecessary-value-param)
    static_cast<void>(route);
    throw UnsupportedError("this endpoint does not consume");
  }
  // Stop taking new messages. Deliveries already made still complete through their done
  // callbacks; the Route refuses new ones from the moment stopping begins.
  virtual void stopConsumer() {}

  // Producer: send sending.message(). Runs concurrently on worker threads.
  virtual void send(Sending& sending) {
    static_cast<void>(sending);
    throw UnsupportedError("this endpoint does not produce");
  }
};

// A data format (<marshal>/<unmarshal>): converts between a wire format and a message body,
// in place. Declare `static constexpr std::string_view name = "csv";` and a constructor
// like an Endpoint's. marshal/unmarshal run concurrently.
class Format {
 public:
  Format() = default;
  Format(const Format&) = delete;
  Format& operator=(const Format&) = delete;
  Format(Format&&) = delete;
  Format& operator=(Format&&) = delete;
  virtual ~Format() = default;
  // Message body -> wire format.
  virtual void marshal(MessageRef message) = 0;
  // Wire format -> message body.
  virtual void unmarshal(MessageRef message) = 0;
};

// A transformer (<transform ref="name"/>): changes a message in place. Declare
// `static constexpr std::string_view name = "...";` and a constructor like an Endpoint's.
// apply runs concurrently.
class Transformer {
 public:
  Transformer() = default;
  Transformer(const Transformer&) = delete;
  Transformer& operator=(const Transformer&) = delete;
  Transformer(Transformer&&) = delete;
  Transformer& operator=(Transformer&&) = delete;
  virtual ~Transformer() = default;
  virtual void apply(MessageRef message) = 0;
};

}  // namespace busway::sdk
