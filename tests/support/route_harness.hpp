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
class MockEndpointState {
 public:
  void record(const Message& message) {
    std::lock_guard lock(mutex_);
    messages_.push_back(message);
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
  // Waits until at least `n` messages arrived; false on timeout.
  bool waitFor(std::size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(5)) const {
    std::unique_lock lock(mutex_);
    return arrived_.wait_for(lock, timeout, [&] { return messages_.size() >= n; });
  }
  int attempts = 0;  // guarded by mutex_ via nextAttempt()
  int nextAttempt() {
    std::lock_guard lock(mutex_);
    return ++attempts;
  }

 private:
  mutable std::mutex mutex_;
  mutable std::condition_variable arrived_;
  std::vector<Message> messages_;
};

class MockComponent final : public Component {
 public:
  std::string_view scheme() const override { return "mock"; }
  std::vector<OptionSpec> options() const override {
    using T = OptionSpec::Type;
    return {{"fail", T::integer, "0", false, {}, "fail this many messages first"},
            {"fail-kind", T::enumeration, "transient", false, {"transient", "permanent", "invalid", "timeout", "rejected"}, ""},
            {"reply", T::string, "", false, {}, "reply body for in-out"},
            {"delay", T::duration, "0ms", false, {}, "complete asynchronously after this long"}};
  }
  Result<EndpointPtr> resolve(const Uri& uri, BusContext& context) override;

  MockEndpointState& state(const std::string& name) {
    std::lock_guard lock(mutex_);
    auto& s = states_[name];
    if (!s) s = std::make_shared<MockEndpointState>();
    return *s;
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
  ExchangePtr send(const std::string& uri, Message message, ExchangePattern pattern = ExchangePattern::in_only,
                   std::chrono::milliseconds timeout = std::chrono::seconds(5));
  ExchangePtr sendBody(const std::string& uri, const std::string& body, const std::string& media_type = "application/json");

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
