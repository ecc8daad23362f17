#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "busway/config/diagnostics.hpp"

namespace busway {

// The routing table as read from XML, before compilation: plain data with a source
// location on everything, so the compiler can point at what it rejects.

struct AttributeDef {
  std::string value;           // entities decoded, placeholders resolved
  std::string raw;             // as written between the quotes
  SourceLocation where;        // of the attribute name
  SourceLocation value_where;  // of the first character of the value

  // Where the character at `offset` in `value` stands in the file (entities such as
  // &lt; count as one character), for errors inside expressions.
  SourceLocation locate(std::size_t offset) const;
};

struct StepDef {
  std::string kind;  // element name: "to", "filter", "when", ...
  SourceLocation where;
  std::map<std::string, AttributeDef> attributes;
  std::string text;  // text content (set-body / reply templates)
  SourceLocation text_where;
  std::vector<StepDef> children;

  const AttributeDef* attribute(const std::string& name) const {
    const auto it = attributes.find(name);
    return it == attributes.end() ? nullptr : &it->second;
  }
};

struct EndpointDef {
  std::string id;
  std::string uri;
  SourceLocation where;
  SourceLocation uri_where;
};

struct ErrorHandlerDef {
  std::string id;  // empty when inline in a route
  SourceLocation where;
  int max_attempts = 1;
  long long delay_ms = 1000;
  double backoff = 2.0;
  long long max_delay_ms = 60'000;
  double jitter = 0.1;
  bool retry_all = false;  // retry-on="all"
  std::optional<AttributeDef> dead_letter_ref;
  std::optional<AttributeDef> dead_letter_uri;
};

struct RouteDef {
  std::string id;
  SourceLocation where;
  std::string description;
  bool autostart = true;
  std::optional<AttributeDef> error_handler_ref;
  std::optional<ErrorHandlerDef> error_handler;  // inline
  std::optional<StepDef> from;
  std::vector<StepDef> steps;
};

struct TableDefinition {
  std::vector<std::string> files;  // the table and every file it includes
  std::vector<EndpointDef> endpoints;
  std::vector<ErrorHandlerDef> error_handlers;
  std::vector<RouteDef> routes;
  // Ids declared in parts of a file skipped because of malformed XML: references to
  // them are not reported as unknown (the XML error already is).
  std::vector<std::string> skipped_ids;
};

}  // namespace busway
