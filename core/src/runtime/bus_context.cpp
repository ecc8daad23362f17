#include "busway/runtime/bus_context.hpp"

#include <thread>

#include "busway/endpoint/component_registry.hpp"
#include "busway/endpoint/core_components.hpp"
#include "busway/router/transformer.hpp"

namespace busway {
namespace {
unsigned pickThreads(unsigned requested) {
  if (requested > 0) return requested;
  const unsigned cores = std::thread::hardware_concurrency();
  return cores == 0 ? 2 : cores;
}
}  // namespace

BusContext::BusContext(unsigned threads)
    : threads_(pickThreads(threads)),
      pool_(threads_),
      components_(std::make_unique<ComponentRegistry>(*this)),
      transformers_(std::make_unique<TransformerRegistry>()) {
  registerCoreComponents(*this);
}

BusContext::~BusContext() { join(); }

void BusContext::join() {
  pool_.stop();
  pool_.join();
}

}  // namespace busway
