#include "busway/endpoint/core_components.hpp"

#include "busway/endpoint/component_registry.hpp"
#include "busway/runtime/bus_context.hpp"
#include "core_components_impl.hpp"

namespace busway {

void registerCoreComponents(BusContext& context) {
  auto& registry = context.components();
  // Core schemes are registered first, on an empty registry: these cannot clash.
  (void)registry.add(makeDirectComponent());
  (void)registry.add(makeQueueComponent());
  (void)registry.add(makeTimerComponent());
  (void)registry.add(makeLogComponent());
  (void)registry.add(makeDlqComponent());
}

}  // namespace busway
