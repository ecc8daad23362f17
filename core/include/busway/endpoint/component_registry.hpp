#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "busway/endpoint/endpoint.hpp"

namespace busway {

class BusContext;

// The components that endpoint URIs can name, keyed by scheme.
class ComponentRegistry {
 public:
  explicit ComponentRegistry(BusContext& context) : context_(context) {}

  // Fails when the scheme is taken; the message names both claimants.
  Result<void> add(std::shared_ptr<Component> component, std::string origin = "core");
  Component* find(std::string_view scheme) const;
  std::vector<std::string> schemes() const;
  // The sum of Component::pendingMessages() over all components.
  std::size_t pendingMessages() const;

  // Parses the URI, checks every option against the component's schema (unknown
  // option with did-you-mean, wrong type, missing required option), then resolves it.
  Result<EndpointPtr> resolve(std::string_view uri);
  Result<EndpointPtr> resolve(const Uri& uri);

 private:
  struct Entry {
    std::shared_ptr<Component> component;
    std::string origin;
  };
  BusContext& context_;
  mutable std::mutex mutex_;
  std::map<std::string, Entry, std::less<>> components_;
};

// Checks a URI's options against a schema; empty result when all is well.
Result<void> checkOptions(const Uri& uri, const std::vector<OptionSpec>& specs);

// Typed access to a URI's options after checkOptions() passed (defaults applied).
class UriOptions {
 public:
  UriOptions(const Uri& uri, const std::vector<OptionSpec>& specs) : uri_(uri), specs_(specs) {}
  std::string text(std::string_view name) const;
  std::int64_t integer(std::string_view name) const;
  bool boolean(std::string_view name) const;
  std::chrono::milliseconds duration(std::string_view name) const;
  std::uint64_t size(std::string_view name) const;
  bool has(std::string_view name) const { return uri_.option(name) != nullptr; }

 private:
  const Uri& uri_;
  const std::vector<OptionSpec>& specs_;
};

}  // namespace busway
