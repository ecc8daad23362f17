#pragma once

#include <string>

#include "busway/config/definitions.hpp"

namespace busway {

enum class GraphFormat { dot, mermaid };

// Draws the routes of a table: endpoints are shared nodes (so routes joined by direct: or
// queue: endpoints show as one flow), steps are boxes, nested pipelines hang off their step.
std::string renderGraph(const TableDefinition& table, GraphFormat format);

}  // namespace busway
