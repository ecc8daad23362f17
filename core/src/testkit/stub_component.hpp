#pragma once

// The `stub:` endpoints that stand in for a table's outside endpoints while `busway test`
// runs it: producers record what the route sends (and can fail or reply as the test says);
// consumers let the test inject messages into the route they feed.

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "busway/endpoint/endpoint.hpp"
#include "busway/testkit/route_test.hpp"

namespace busway::testkit {

class StubEndpointState {
 public:
  explicit StubEndpointState(std::string name) : name_(std::move(name)) {}

  const std::string& name() const noexcept { return name_; }
  void configure(const StubSpec& spec);

  // Producer side: records the message and answers as configured.
  void send(Exchange& exchange);
  std::vector<Message> received() const;
  // Waits until `count` messages arrived or `deadline` passes; the count then.
  std::size_t waitFor(std::size_t count, std::chrono::steady_clock::time_point deadline) const;

  // Consumer side: the route fed by this endpoint, while it runs.
  void attach(ProcessorPtr route);
  void detach();
  ProcessorPtr route() const;

 private:
  std::string name_;
  mutable std::mutex mutex_;
  mutable std::condition_variable arrived_;
  std::vector<Message> received_;
  int sends_ = 0;
  std::optional<StubSpec> spec_;
  ProcessorPtr route_;
};

class StubComponent final : public Component {
 public:
  std::string_view scheme() const override { return "stub"; }
  std::vector<OptionSpec> options() const override { return {}; }
  Result<EndpointPtr> resolve(const Uri& uri, BusContext& context) override;

  // The state of stub `name`, made on first use.
  std::shared_ptr<StubEndpointState> state(const std::string& name);
  bool has(const std::string& name) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<StubEndpointState>> states_;
};

}  // namespace busway::testkit
