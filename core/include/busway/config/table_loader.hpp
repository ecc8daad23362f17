#pragma once

#include <string>

#include "busway/config/definitions.hpp"
#include "busway/config/diagnostics.hpp"

namespace busway {

// Reads a routing table (and its includes) into definitions. Structural problems
// (bad XML, unknown elements or attributes, missing attributes, bad values, unresolved
// placeholders, include cycles) are reported to `diagnostics`, all of them; whatever could
// be read is returned so the compiler can report its own errors too.
TableDefinition loadTable(const std::string& path, Diagnostics& diagnostics);

// The same, from text in memory (tests, the admin API). `name` is used in locations;
// includes are resolved relative to `base_dir`.
TableDefinition loadTableFromString(const std::string& text, const std::string& name,
                                    const std::string& base_dir, Diagnostics& diagnostics);

// Appends `part` to `table`: several files given together act as one table.
void mergeInto(TableDefinition& table, TableDefinition&& part);

}  // namespace busway
