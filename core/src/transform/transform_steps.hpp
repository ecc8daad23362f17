#pragma once

// The transformation steps of a routing table: <xslt>, <map>, <jq>, <lua>, <validate>,
// <marshal> and <unmarshal>. Each compiles, when the table loads, into a Transformer that
// the route runs through TransformStep; everything that can be checked at load (a
// stylesheet, a mapping, a program, a script, a schema, a format's options) is, and its
// problems are reported with a position. At run time a failure is an exchange error
// (ErrorKind::invalid for bad input, so it is dead-lettered, not retried), never a crash.

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "busway/config/definitions.hpp"
#include "busway/config/diagnostics.hpp"
#include "busway/router/transformer.hpp"

namespace busway {

struct TransformBuild {
  Diagnostics& diagnostics;
  TransformerRegistry& transformers;
  // Reports a transformer that cannot be created: an unavailable plugin makes the route
  // unavailable (a warning), anything else is an error (see the route compiler).
  std::function<void(const SourceLocation&, const Error&)> report_resolve;
};

// True for the element names handled here.
bool isTransformStep(const std::string& kind);

// Compiles one transformation element; null when it did not compile (already reported).
std::shared_ptr<const Transformer> compileTransformStep(const StepDef& step, TransformBuild& build);

std::shared_ptr<const Transformer> compileXsltStep(const StepDef& step, TransformBuild& build);
std::shared_ptr<const Transformer> compileMapStep(const StepDef& step, TransformBuild& build);
std::shared_ptr<const Transformer> compileJqStep(const StepDef& step, TransformBuild& build);
std::shared_ptr<const Transformer> compileLuaStep(const StepDef& step, TransformBuild& build);
std::shared_ptr<const Transformer> compileValidateStep(const StepDef& step, TransformBuild& build);
std::shared_ptr<const Transformer> compileFormatStep(const StepDef& step, TransformBuild& build);

namespace transform {

// A path from a routing table, relative to the folder of the table file that names it.
std::string resolvePath(const StepDef& step, const std::string& path);
// The whole file, or nullopt with `error` set (strerror).
std::optional<std::string> readFile(const std::string& path, std::string& error);
// Where line `line` (1-based) of a step's text content stands in the table file.
SourceLocation textLine(const StepDef& step, int line);

}  // namespace transform
}  // namespace busway
