#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "busway/util/result.hpp"

namespace busway {

// One reason a document does not match a schema: where (a JSON pointer into the
// document, "" for the root) and what.
struct SchemaViolation {
  std::string path;
  std::string message;
  std::string toString() const;  // "/lines/0/qty: must be >= 1"
};

// A JSON Schema (2020-12), the subset busway needs, compiled once and then used by any
// number of threads. Supported keywords (anything else that constrains is refused at load,
// so a schema never silently checks less than it says):
//   type (string or array), enum, const, required, properties, additionalProperties
//   (boolean or schema), items (schema), minItems, maxItems, uniqueItems, minimum,
//   maximum, exclusiveMinimum, exclusiveMaximum, multipleOf, minLength, maxLength,
//   pattern (ECMAScript), format (date, date-time, time, email; other formats are
//   annotations), allOf, anyOf, oneOf, not, $ref ("#/$defs/x", "other.schema.json",
//   "other.schema.json#/$defs/x", relative to the referring file), $defs.
// Annotations are ignored: $schema, $id, $comment, title, description, default, examples,
// deprecated, readOnly, writeOnly.
class JsonSchema {
 public:
  // Reads and compiles the schema in `path` and every file it refers to. The error names
  // the file and the JSON pointer of the problem.
  static Result<std::shared_ptr<const JsonSchema>> load(const std::string& path);
  // Compiles a schema given as JSON; relative $refs are resolved against `base_dir`.
  static Result<std::shared_ptr<const JsonSchema>> fromJson(const nlohmann::json& schema,
                                                            const std::string& base_dir = ".");

  // Every violation, in document order; empty when `document` is valid.
  std::vector<SchemaViolation> validate(const nlohmann::json& document) const;

  ~JsonSchema();
  struct Impl;

 private:
  explicit JsonSchema(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace busway
