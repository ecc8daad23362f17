#pragma once

// Runs routing tables in-process for tests: a real BusContext and Bus, plus a `mock:`
// component whose endpoints record what they receive and can be told to fail, reply or
// answer late. Mocks stand in for peers only in unit tests; integration tests use real ones.

#include <chrono>
#include <condition_variable>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "busway/config/table_loader.hpp"
#include "busway/endpoint/component_registry.hpp"
#include "busway/router/route_compiler.hpp"
#include "busway/runtime/bus.hpp"
#include "busway/util/text.hpp"

namespace busway::testing {

// What one mock endpoint has seen. Options on the URI (mock:NAME?fail=2&reply=ok&delay=50ms):
//   fail=N         the first N messages fail (ErrorKind from fail-kind, default transient)
//   fail-kind=K    transient | permanent | invalid | timeout | rejected
//   reply=TEXT     in-out callers get TEXT as the reply body
//   delay=D        complete asynchronously after D
//   gate=true      record each message, then hold it (asynchronously) until openGate()
// Every mock records when each attempt started and each message arrived, on which thread,
// and how many calls were in progress at once (for concurrency limits).
class MockEndpointState {
 public:
  using Clock = std::chrono::steady_clock;

  void record(const Message& message) {
    std::lock_guard lock(mutex_);
    messages_.push_back(message);
    arrivals_.push_back(Clock::now());
    threads_.push_back(std::this_thread::get_id());
    arrived_.notify_all();
  }
  std::vector<Message> messages() const {
    std::lock_guard lock(mutex_);
    return messages_;
  }
  std::size_t count() const {
    std::lock_guard lock(mutex_);
    return messages_.size();
  }
  std::vector<std::string> bodies() const {
    std::vector<std::string> out;
    for (const auto& m : messages()) out.emplace_back(m.bodyText());
    return out;
  }
  // The text of header `name` of each message received, in order ("" when absent).
  std::vector<std::string> headers(const std::string& name) const {
    std::vector<std::string> out;
    for (const auto& m : messages()) out.push_back(m.headers().text(name));
    return out;
  }
  // When each message arrived (successful calls only), in order.
  std::vector<Clock::time_point> arrivals() const {
    std::lock_guard lock(mutex_);
    return arrivals_;
  }
  std::vector<std::thread::id> threads() const {
    std::lock_guard lock(mutex_);
    return threads_;
  }
  // Waits until at least `n` messages arrived; false on timeout.
  bool waitFor(std::size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(5)) const {
    std::unique_lock lock(mutex_);
    return arrived_.wait_for(lock, timeout, [&] { return messages_.size() >= n; });
  }

  int attempts = 0;  // guarded by mutex_ via nextAttempt()
  int nextAttempt() {
    std::lock_guard lock(mutex_);
    attempt_times_.push_back(Clock::now());
    return ++attempts;
  }
  // When each call (failed or not) started, in order.
  std::vector<Clock::time_point> attemptTimes() const {
    std::lock_guard lock(mutex_);
    return attempt_times_;
  }

  // Calls in progress now, and the most there ever were at once.
  void enter() {
    std::lock_guard lock(mutex_);
    max_active_ = std::max(max_active_, ++active_);
  }
  void leave() {
    std::lock_guard lock(mutex_);
    --active_;
  }
  int maxActive() const {
    std::lock_guard lock(mutex_);
    return max_active_;
  }

  // gate=true: true when the call may complete now; otherwise `done` runs at openGate().
  bool pass(Done done) {
    std::lock_guard lock(mutex_);
    if (gate_open_) return true;
    held_.push_back(std::move(done));
    return false;
  }
  // Releases every held call (on this thread) and lets later ones through.
  void openGate() {
    std::vector<Done> held;
    {
      std::lock_guard lock(mutex_);
      gate_open_ = true;
      held.swap(held_);
    }
    for (auto& done : held) done();
  }
  // Calls held now. A held message is recorded (waitFor sees it) just before it is held.
  std::size_t heldCount() const {
    std::lock_guard lock(mutex_);
    return held_.size();
  }

 private:
  mutable std::mutex mutex_;
  mutable std::condition_variable arrived_;
  std::vector<Message> messages_;
  std::vector<Clock::time_point> arrivals_;
  std::vector<std::thread::id> threads_;
  std::vector<Clock::time_point> attempt_times_;
  int active_ = 0;
  int max_active_ = 0;
  bool gate_open_ = false;
  std::vector<Done> held_;
};

class MockComponent final : public Component {
 public:
  std::string_view scheme() const override { return "mock"; }
  std::vector<OptionSpec> options() const override {
    using T = OptionSpec::Type;
    return {{"fail", T::integer, "0", false, {}, "fail this many messages first"},
            {"fail-kind",
             T::enumeration,
             "transient",
             false,
             {"transient", "permanent", "invalid", "timeout", "rejected"},
             ""},
            {"reply", T::string, "", false, {}, "reply body for in-out"},
            {"delay", T::duration, "0ms", false, {}, "complete asynchronously after this long"},
            {"gate",
             T::boolean,
             "false",
             false,
             {},
             "hold each message until the test opens the gate"}};
  }
  Result<EndpointPtr> resolve(const Uri& uri, BusContext& context) override;

  MockEndpointState& state(const std::string& name) {
    std::lock_guard lock(mutex_);
    auto& s = states_[name];
    if (!s) s = std::make_shared<MockEndpointState>();
    return *s;
  }
  // Opens every gate, so that no held call outlives the test.
  void openAllGates() {
    std::vector<std::shared_ptr<MockEndpointState>> all;
    {
      std::lock_guard lock(mutex_);
      for (auto& [name, s] : states_) all.push_back(s);
    }
    for (auto& s : all) s->openGate();
  }

 private:
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<MockEndpointState>> states_;
};

class RouteHarness {
 public:
  explicit RouteHarness(unsigned threads = 2);
  ~RouteHarness();

  // Loads and starts `xml` (the <routes> element and its content). Fails the test with
  // the diagnostics when the table has errors.
  void load(const std::string& xml);
  // Loads `xml` and returns the diagnostics, for tests about load errors.
  Diagnostics loadWithErrors(const std::string& xml);

  // Sends a message to `uri` (usually direct:NAME) and waits until the route is done.
  ExchangePtr send(const std::string& uri, Message message,
                   ExchangePattern pattern = ExchangePattern::in_only,
                   std::chrono::milliseconds timeout = std::chrono::seconds(5));
  ExchangePtr sendBody(const std::string& uri, const std::string& body,
                       const std::string& media_type = "application/json");

  MockEndpointState& mock(const std::string& name) { return mocks_->state(name); }
  BusContext& context() { return *context_; }
  Bus& bus() { return *bus_; }

  static std::string table(const std::string& content) {
    return "<routes xmlns=\"urn:busway:routes:1\">" + content + "</routes>";
  }

 private:
  std::unique_ptr<BusContext> context_;
  std::unique_ptr<Bus> bus_;
  std::shared_ptr<MockComponent> mocks_;
};

}  // namespace busway::testing
