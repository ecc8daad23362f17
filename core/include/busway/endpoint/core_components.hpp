#pragma once

namespace busway {

class BusContext;

// Registers the in-process endpoints that need no plugin: direct:, queue:, timer:, log:.
void registerCoreComponents(BusContext& context);

}  // namespace busway
