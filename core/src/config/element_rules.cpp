#include "element_rules.hpp"

#include <algorithm>

namespace busway {

std::string OneOf::describe() const {
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += i + 1 == names.size() ? " or " : ", ";
    out += "'" + names[i] + "'";
  }
  return out;
}

bool ElementRule::allows(const std::string& attribute) const {
  return std::find(attributes.begin(), attributes.end(), attribute) != attributes.end();
}

std::string ElementRule::attributeList() const {
  std::string out;
  for (const auto& a : attributes) out += (out.empty() ? "" : ", ") + a;
  return out;
}

const std::vector<std::string>& expressionAttributes() {
  static const std::vector<std::string> kNames = {"xpath", "jsonpath", "header", "simple",
                                                  "constant"};
  return kNames;
}

const std::vector<std::string>& stepNames() {
  static const std::vector<std::string> kNames = {
      "to", "filter", "choice", "recipient-list", "multicast", "split", "aggregate", "enrich",
      "wire-tap", "throttle", "delay", "set-header", "remove-header", "set-body", "transform",
      "log", "stop", "reply", "try", "idempotent",
      // transformation (core/src/transform/)
      "xslt", "map", "jq", "lua", "validate", "marshal", "unmarshal"};
  return kNames;
}

bool isStep(const std::string& name) {
  const auto& names = stepNames();
  return std::find(names.begin(), names.end(), name) != names.end();
}

namespace {

std::vector<std::string> with(std::vector<std::string> base, const std::vector<std::string>& more) {
  base.insert(base.end(), more.begin(), more.end());
  return base;
}

std::map<std::string, ElementRule> buildRules() {
  const auto& steps = stepNames();
  const auto& expr = expressionAttributes();
  const OneOf endpoint_ref{{"ref", "uri"}, true};
  const OneOf expression_required{expr, true};
  const OneOf expression_optional{expr, false};
  std::map<std::string, ElementRule> r;
  const auto add = [&r](ElementRule rule) { r.emplace(rule.name, std::move(rule)); };

  add({"routes", {"version"}, {}, {}, {"include", "endpoint", "error-handler", "route"}, false});
  add({"include", {"href"}, {"href"}, {}, {}, false});
  add({"endpoint", {"id", "uri", "description"}, {"id", "uri"}, {}, {}, false});
  add({"error-handler",
       {"id", "max-attempts", "delay", "backoff", "max-delay", "jitter", "retry-on", "dead-letter",
        "dead-letter-uri"},
       {},
       {OneOf{{"dead-letter", "dead-letter-uri"}, false}},
       {},
       false});
  add({"route",
       {"id", "error-handler", "autostart"},
       {"id"},
       {},
       with(steps, {"from", "description", "error-handler"}),
       false});
  add({"from", {"ref", "uri"}, {}, {endpoint_ref}, {}, false});
  add({"to", {"id", "ref", "uri", "pattern"}, {}, {endpoint_ref}, {}, false});
  add({"filter", with({"id"}, expr), {}, {expression_required}, steps, false});
  add({"choice", {"id"}, {}, {}, {"when", "otherwise"}, false});
  add({"when", with({"id"}, expr), {}, {expression_required}, steps, false});
  add({"otherwise", {"id"}, {}, {}, steps, false});
  add({"try", {"id"}, {}, {}, with(steps, {"catch"}), false});
  add({"catch", {"id", "on"}, {}, {}, steps, false});
  add({"recipient-list",
       with({"id", "delimiter", "parallel"}, expr),
       {},
       {expression_optional},
       {"recipient"},
       false});
  add({"recipient", {"ref", "uri"}, {}, {endpoint_ref}, {}, false});
  add({"multicast",
       {"id", "parallel", "strategy", "timeout", "separator", "root"},
       {},
       {},
       {"to", "pipeline"},
       false});
  add({"pipeline", {"id"}, {}, {}, steps, false});
  add({"split",
       with({"id", "lines", "tokenize", "parallel", "max-in-flight", "strategy", "stop-on-error",
             "separator", "root"},
            expr),
       {},
       {OneOf{with(expr, {"lines", "tokenize"}), true}},
       steps,
       false});
  add({"aggregate",
       {"id", "correlation-header", "correlation-jsonpath", "correlation-xpath",
        "correlation-simple", "size", "timeout", "complete-when", "strategy", "separator", "root"},
       {},
       {OneOf{{"correlation-header", "correlation-jsonpath", "correlation-xpath",
               "correlation-simple"},
              true}},
       steps,
       false});
  add({"enrich", {"id", "ref", "uri", "strategy"}, {}, {endpoint_ref}, {}, false});
  add({"wire-tap", {"id", "ref", "uri"}, {}, {endpoint_ref}, {}, false});
  add({"throttle", {"id", "rate", "per", "reject"}, {"rate"}, {}, {}, false});
  add({"delay",
       with({"id", "duration"}, expr),
       {},
       {OneOf{with({"duration"}, expr), true}},
       {},
       false});
  add({"set-header", with({"id", "name"}, expr), {"name"}, {expression_required}, {}, false});
  add({"remove-header", {"id", "name"}, {"name"}, {}, {}, false});
  add({"set-body", with({"id", "media-type"}, expr), {}, {expression_optional}, {}, true});
  add({"transform", {"id", "ref"}, {"ref"}, {}, {}, false});
  add({"log", {"id", "message", "level", "category"}, {}, {}, {}, false});
  add({"stop", {"id"}, {}, {}, {}, false});
  add({"idempotent",
       with({"id", "repository", "expire"}, expr),
       {},
       {expression_required},
       {},
       false});
  add({"reply", {"id", "status", "media-type"}, {}, {}, {}, true});
  // Transformation steps (core/src/transform/, docs/routing-table-reference.md).
  add({"xslt",
       {"id", "stylesheet", "allowed-dir", "media-type"},
       {"stylesheet"},
       {},
       {"param"},
       false});
  add({"param", with({"name"}, expr), {"name"}, {expression_required}, {}, false});
  add({"map",
       {"id", "input", "output", "root", "namespace", "media-type"},
       {},
       {},
       {"field", "each", "lookup"},
       false});
  add({"field",
       {"target", "source", "constant", "concat", "separator", "header", "simple", "type", "format",
        "output-format", "default", "lookup", "required"},
       {"target"},
       {OneOf{{"source", "constant", "concat", "header", "simple"}, true}},
       {},
       false});
  add({"each", {"source", "target", "item"}, {"source", "target"}, {}, {"field", "each"}, false});
  add({"lookup", {"name", "default"}, {"name"}, {}, {"entry"}, false});
  add({"entry", {"key", "value"}, {"key", "value"}, {}, {}, false});
  add({"jq", {"id", "program", "raw-output"}, {}, {}, {}, true});
  add({"lua", {"id", "script", "max-instructions", "max-memory"}, {}, {}, {}, true});
  add({"validate", {"id", "schema", "xsd"}, {}, {OneOf{{"schema", "xsd"}, true}}, {}, false});
  add({"marshal", {"id", "format"}, {"format"}, {}, {"option"}, false});
  add({"unmarshal", {"id", "format"}, {"format"}, {}, {"option"}, false});
  add({"option", {"name", "value"}, {"name", "value"}, {}, {}, false});
  return r;
}

}  // namespace

const std::map<std::string, ElementRule>& rules() {
  static const std::map<std::string, ElementRule> kRules = buildRules();
  return kRules;
}

}  // namespace busway
