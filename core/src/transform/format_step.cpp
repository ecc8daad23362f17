// <marshal format="csv"> / <unmarshal format="csv"> with <option name="delimiter" value=";"/>
// children: a data format offered by a plugin, created once at load with these options
// (the plugin checks them: an unknown or bad option is a load error at the step).
#include <map>

#include "transform_steps.hpp"

namespace busway {

std::shared_ptr<const Transformer> compileFormatStep(const StepDef& step, TransformBuild& build) {
  std::map<std::string, std::string> options;
  bool ok = true;
  for (const auto& child : step.children) {
    if (child.kind != "option") continue;
    const auto* name = child.attribute("name");
    const auto* value = child.attribute("value");
    if (name == nullptr || value == nullptr) continue;  // the loader reported it
    if (const auto [it, fresh] = options.emplace(name->value, value->value); !fresh) {
      build.diagnostics.error(name->value_where, "option '" + name->value + "' is given twice");
      ok = false;
    }
  }
  const auto* format = step.attribute("format");
  if (format == nullptr || !ok) return nullptr;
  auto transformer = build.transformers.create(step.kind + ":" + format->value, options);
  if (!transformer) {
    Error error = std::move(transformer).error();
    if (error.kind != ErrorKind::unavailable) {
      error.message = "<" + step.kind + " format=\"" + format->value + "\">: " + error.message;
    }
    build.report_resolve(format->value_where, error);
    return nullptr;
  }
  return std::move(*transformer);
}

}  // namespace busway
