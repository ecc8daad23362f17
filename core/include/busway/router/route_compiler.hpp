#pragma once

#include <memory>
#include <string>
#include <vector>

#include "busway/config/definitions.hpp"
#include "busway/config/diagnostics.hpp"
#include "busway/endpoint/endpoint.hpp"
#include "busway/router/route.hpp"

namespace busway {

class BusContext;

struct CompiledRoute {
  std::string id;
  std::string from;  // the source URI
  SourceLocation where;
  bool autostart = true;
  std::shared_ptr<Route> route;
  std::unique_ptr<Consumer> consumer;  // created, not started
  // Why the route cannot run (a plugin it needs failed to load or init); empty when it can.
  // Such a route is reported and skipped; the other routes of the table run.
  std::string unavailable;
};

// A routing table ready to run: every expression compiled, every endpoint resolved.
struct CompiledTable {
  std::vector<std::string> files;
  std::vector<CompiledRoute> routes;
  // Every endpoint the table resolved: activated when it starts running, and kept alive
  // as long as the table is.
  std::vector<EndpointPtr> endpoints;
};

// Compiles `table`. Every problem goes to `diagnostics` (with the position of the
// element or attribute at fault); returns null when there was any error.
std::unique_ptr<CompiledTable> compileTable(const TableDefinition& table, BusContext& context,
                                            Diagnostics& diagnostics);

}  // namespace busway
