#pragma once

#include <memory>
#include <string>
#include <vector>

#include "busway/util/asio.hpp"

namespace busway {

class ComponentRegistry;
class TransformerRegistry;

// What every part of a running bus shares: the data-plane thread pool (Asio), the
// registry of endpoint components and the registry of transformers. One per bus.
class BusContext {
 public:
  explicit BusContext(unsigned threads = 0);  // 0: one per core
  ~BusContext();
  BusContext(const BusContext&) = delete;
  BusContext& operator=(const BusContext&) = delete;

  boost::asio::any_io_executor executor() { return pool_.get_executor(); }
  unsigned threads() const noexcept { return threads_; }

  ComponentRegistry& components() noexcept { return *components_; }
  TransformerRegistry& transformers() noexcept { return *transformers_; }

  // Stops the pool: handlers not yet started are dropped, running ones finish. Call it
  // after Bus::stop() has drained the routes (the destructor does).
  void join();

 private:
  unsigned threads_;
  boost::asio::thread_pool pool_;
  std::unique_ptr<ComponentRegistry> components_;
  std::unique_ptr<TransformerRegistry> transformers_;
};

}  // namespace busway
