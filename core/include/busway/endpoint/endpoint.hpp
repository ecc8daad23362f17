#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "busway/endpoint/uri.hpp"
#include "busway/router/processor.hpp"
#include "busway/util/result.hpp"

namespace busway {

class BusContext;

// Takes messages from a source and hands each one, as an exchange, to the route.
// stop() ends intake only; the route drains what is already in flight.
class Consumer {
 public:
  virtual ~Consumer() = default;
  virtual Result<void> start() = 0;
  virtual void stop() = 0;
};

// One declared option of an endpoint, used to check URIs at load time.
struct OptionSpec {
  enum class Type { string, integer, boolean, duration, size, enumeration };
  std::string name;
  Type type = Type::string;
  std::string default_value;
  bool required = false;
  std::vector<std::string> choices;  // for enumeration
  std::string doc;
  // The schema declares a default (which may be the empty string): the option then always
  // has a value, `default_value`, when a URI does not give one.
  bool has_default = false;
};

// The name of an option type as manifests and docs write it ("string", "enum", ...).
const char* toString(OptionSpec::Type type) noexcept;

// A resolved endpoint: what a URI in a routing table points at.
class Endpoint {
 public:
  explicit Endpoint(Uri uri) : uri_(std::move(uri)) {}
  virtual ~Endpoint() = default;

  const Uri& uri() const noexcept { return uri_; }

  // A processor that sends exchanges to this endpoint (`to`, `enrich`, wire taps).
  virtual Result<ProcessorPtr> createProducer() = 0;
  // A consumer feeding `route` from this endpoint (`from`).
  virtual Result<std::unique_ptr<Consumer>> createConsumer(ProcessorPtr route) = 0;
  // Whether the source of this endpoint can be told that a message was fully handled.
  virtual bool acknowledges() const { return true; }
  // Called when the table that holds this endpoint starts running. Settings that change
  // shared state (a queue's limits) take effect here, not when the URI is resolved, so a
  // table that fails to load changes nothing.
  virtual void activate() {}

 private:
  Uri uri_;
};

using EndpointPtr = std::shared_ptr<Endpoint>;

// Makes endpoints for one URI scheme. Core ships direct, queue, timer and log; plugins
// add the rest.
class Component {
 public:
  virtual ~Component() = default;
  virtual std::string_view scheme() const = 0;
  virtual std::vector<OptionSpec> options() const = 0;
  // Checks the URI's options against options() (done by the caller) and then builds the
  // endpoint. Errors say what is wrong with the URI; the caller adds the position.
  virtual Result<EndpointPtr> resolve(const Uri& uri, BusContext& context) = 0;
  // Messages this component holds that no route has taken yet (a queue's content); a
  // graceful stop waits for them.
  virtual std::size_t pendingMessages() const { return 0; }
};

}  // namespace busway
