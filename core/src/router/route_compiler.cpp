#include "busway/router/route_compiler.hpp"

#include <algorithm>
#include <map>
#include <set>

#include "../config/element_rules.hpp"
#include "../transform/transform_steps.hpp"
#include "busway/runtime/bus_context.hpp"
#include "busway/util/text.hpp"
#include "steps.hpp"

namespace busway {
namespace {

// "permanent  invalid" -> {"permanent", "invalid"}.
std::vector<std::string> splitWords(const std::string& text) {
  std::vector<std::string> words;
  std::string word;
  for (const char c : text + ' ') {
    if (c == ' ' || c == '\t' || c == '\n' || c == ',') {
      if (!word.empty()) words.push_back(std::move(word));
      word.clear();
    } else {
      word += c;
    }
  }
  return words;
}

// The error kinds a table may name (unavailable is a load-time state, not a message's).
std::optional<ErrorKind> errorKindNamed(const std::string& name) {
  for (const ErrorKind kind : {ErrorKind::transient, ErrorKind::permanent, ErrorKind::invalid,
                               ErrorKind::timeout, ErrorKind::rejected}) {
    if (name == toString(kind)) return kind;
  }
  return std::nullopt;
}

class Compiler {
 public:
  Compiler(const TableDefinition& table, BusContext& context, Diagnostics& diagnostics)
      : table_(table),
        context_(context),
        diagnostics_(diagnostics),
        skipped_(table.skipped_ids.begin(), table.skipped_ids.end()) {}

  std::unique_ptr<CompiledTable> run() {
    auto compiled = std::make_unique<CompiledTable>();
    compiled->files = table_.files;
    collectEndpoints();
    collectErrorHandlers();
    std::map<std::string, const RouteDef*> route_ids;
    std::map<std::string, std::pair<std::string, SourceLocation>>
        exclusive_sources;  // direct/timer key -> route
    for (const auto& route : table_.routes) {
      if (route.id.empty()) continue;  // the loader reported it
      if (const auto [it, fresh] = route_ids.emplace(route.id, &route); !fresh) {
        diagnostics_.error(route.where, "route id '" + route.id + "' is already used at " +
                                            it->second->where.toString());
        continue;
      }
      auto compiled_route = compileRoute(route, exclusive_sources);
      if (compiled_route) compiled->routes.push_back(std::move(*compiled_route));
    }
    if (diagnostics_.hasErrors()) return nullptr;
    for (const auto& [id, entry] : endpoints_) {
      if (entry.endpoint) compiled->endpoints.push_back(entry.endpoint);
    }
    compiled->endpoints.insert(compiled->endpoints.end(), inline_endpoints_.begin(),
                               inline_endpoints_.end());
    return compiled;
  }

 private:
  struct EndpointEntry {
    const EndpointDef* def;
    EndpointPtr endpoint;     // null when it did not resolve (already reported)
    std::string unavailable;  // its plugin is unavailable: routes using it are too
  };

  // Reports a resolution failure: an unavailable plugin makes the current route
  // unavailable (a warning); anything else is an error in the table.
  void reportResolve(const SourceLocation& where, const Error& error) {
    if (error.kind == ErrorKind::unavailable) {
      diagnostics_.warning(where, error.message);
      if (unavailable_.empty()) unavailable_ = error.message;
    } else {
      diagnostics_.error(where, error.message);
    }
  }

  void collectEndpoints() {
    for (const auto& def : table_.endpoints) {
      if (def.id.empty() || def.uri.empty()) continue;
      if (const auto it = endpoints_.find(def.id); it != endpoints_.end()) {
        diagnostics_.error(def.where, "endpoint id '" + def.id + "' is already declared at " +
                                          it->second.def->where.toString());
        continue;
      }
      auto endpoint = context_.components().resolve(def.uri);
      std::string unavailable;
      if (!endpoint && endpoint.error().kind == ErrorKind::unavailable) {
        unavailable = endpoint.error().message;  // reported by the routes that use it
      } else if (!endpoint) {
        diagnostics_.error(def.uri_where, endpoint.error().message);
      }
      endpoints_.emplace(def.id, EndpointEntry{&def, endpoint ? *endpoint : nullptr, unavailable});
      endpoint_uris_.emplace(def.id, def.uri);
    }
  }

  void collectErrorHandlers() {
    for (const auto& def : table_.error_handlers) {
      if (def.id.empty()) continue;
      if (const auto [it, fresh] = error_handlers_.emplace(def.id, &def); !fresh) {
        diagnostics_.error(def.where, "error handler id '" + def.id + "' is already declared at " +
                                          it->second->where.toString());
      }
    }
  }

  std::vector<std::string> endpointIds() const {
    std::vector<std::string> ids;
    for (const auto& [id, unused] : endpoints_) ids.push_back(id);
    return ids;
  }

  // The endpoint named by a ref or uri attribute; null (reported) when there is none.
  EndpointPtr endpointOf(const StepDef& step) {
    if (const auto* ref = step.attribute("ref")) {
      const auto it = endpoints_.find(ref->value);
      if (it == endpoints_.end()) {
        if (!skipped_.count(ref->value)) {
          diagnostics_.error(ref->value_where, "unknown endpoint '" + ref->value + "'" +
                                                   didYouMean(ref->value, endpointIds()) +
                                                   "; declare it with <endpoint id=\"" +
                                                   ref->value + "\" uri=\"...\"/>");
        }
        return nullptr;
      }
      if (!it->second.unavailable.empty()) {
        reportResolve(ref->value_where, Error(ErrorKind::unavailable, it->second.unavailable));
      }
      return it->second.endpoint;
    }
    if (const auto* uri = step.attribute("uri")) {
      auto endpoint = context_.components().resolve(uri->value);
      if (!endpoint) {
        reportResolve(uri->value_where, endpoint.error());
        return nullptr;
      }
      inline_endpoints_.push_back(*endpoint);
      return *endpoint;
    }
    return nullptr;  // the loader reported the missing attribute
  }

  std::string targetName(const StepDef& step) const {
    if (const auto* ref = step.attribute("ref")) return ref->value;
    if (const auto* uri = step.attribute("uri"))
      return Uri::redact(uri->value.substr(0, uri->value.find('?')));
    return step.kind;
  }

  ProcessorPtr producerOf(const StepDef& step) {
    EndpointPtr endpoint = endpointOf(step);
    if (!endpoint) return nullptr;
    auto producer = endpoint->createProducer();
    if (!producer) {
      diagnostics_.error(step.where, producer.error().message);
      return nullptr;
    }
    return *producer;
  }

  ExpressionPtr compileExpressionAttribute(const AttributeDef& attribute,
                                           const std::string& language) {
    auto compiled = compileExpression(language, attribute.value);
    if (compiled.error) {
      diagnostics_.error(attribute.locate(compiled.error->offset),
                         "invalid " + language + " expression '" + attribute.value +
                             "': " + compiled.error->message);
      return nullptr;
    }
    return compiled.expression;
  }

  // The step's expression (xpath=, jsonpath=, ...), or null if it has none.
  ExpressionPtr expressionOf(const StepDef& step) {
    for (const auto& language : expressionAttributes()) {
      if (const auto* attribute = step.attribute(language))
        return compileExpressionAttribute(*attribute, language);
    }
    return nullptr;
  }

  std::optional<Template> templateOf(const AttributeDef& attribute) {
    ExpressionError error;
    auto compiled = Template::compile(attribute.value, &error);
    if (!compiled) {
      diagnostics_.error(attribute.locate(error.offset), "invalid template: " + error.message);
      return std::nullopt;
    }
    return std::move(*compiled);
  }

  std::optional<Template> textTemplate(const StepDef& step) {
    if (step.text.empty()) return std::nullopt;
    ExpressionError error;
    auto compiled = Template::compile(step.text, &error);
    if (!compiled) {
      diagnostics_.error(step.text_where,
                         "invalid template in <" + step.kind + ">: " + error.message);
      return std::nullopt;
    }
    return std::move(*compiled);
  }

  // Typed attribute readers: report a bad value at the value's position.
  bool booleanOf(const StepDef& step, const char* name, bool fallback) {
    const auto* a = step.attribute(name);
    if (a == nullptr) return fallback;
    const auto v = parseBoolean(a->value);
    if (!v)
      diagnostics_.error(a->value_where,
                         std::string(name) + " must be true or false, not '" + a->value + "'");
    return v.value_or(fallback);
  }
  std::int64_t integerOf(const StepDef& step, const char* name, std::int64_t fallback,
                         std::int64_t min) {
    const auto* a = step.attribute(name);
    if (a == nullptr) return fallback;
    const auto v = parseInteger(a->value);
    if (!v || *v < min) {
      diagnostics_.error(a->value_where, std::string(name) +
                                             " must be a whole number of at least " +
                                             std::to_string(min) + ", not '" + a->value + "'");
      return fallback;
    }
    return *v;
  }
  std::chrono::milliseconds durationOf(const StepDef& step, const char* name,
                                       std::chrono::milliseconds fallback) {
    const auto* a = step.attribute(name);
    if (a == nullptr) return fallback;
    const auto v = parseDuration(a->value);
    if (!v) {
      diagnostics_.error(a->value_where, std::string(name) +
                                             " must be a duration such as 250ms, 5s or 2m, not '" +
                                             a->value + "'");
      return fallback;
    }
    return *v;
  }
  AggregationStrategy strategyOf(const StepDef& step, AggregationStrategy::Kind fallback) {
    AggregationStrategy strategy;
    strategy.kind = fallback;
    if (const auto* a = step.attribute("strategy")) {
      const auto kind = AggregationStrategy::parse(a->value);
      if (!kind) {
        diagnostics_.error(
            a->value_where,
            "unknown strategy '" + a->value + "'" +
                didYouMean(a->value, {"none", "json-array", "concat", "xml", "first", "last"}) +
                "; use none, json-array, concat, xml, first or last");
      } else {
        strategy.kind = *kind;
      }
    }
    if (const auto* a = step.attribute("separator")) strategy.separator = a->value;
    if (const auto* a = step.attribute("root")) strategy.root = a->value;
    return strategy;
  }

  ProcessorPtr pipelineOf(const std::vector<StepDef>& steps) {
    std::vector<PipelineStep> compiled;
    for (const auto& step : steps) {
      auto processor = compileStep(step);
      if (processor) compiled.push_back(PipelineStep{std::move(processor), stepName(step)});
    }
    return std::make_shared<Pipeline>(route_name_, std::move(compiled));
  }

  const std::string* stepName(const StepDef& step) {
    const auto* id = step.attribute("id");
    if (id != nullptr) return intern(step.kind + ":" + id->value);
    if (step.kind == "to" || step.kind == "enrich" || step.kind == "wire-tap")
      return intern(step.kind + ":" + targetName(step));
    return intern(step.kind);
  }

  ProcessorPtr compileStep(const StepDef& step) {
    const auto executor = context_.executor();
    const std::string& k = step.kind;
    if (k == "to") {
      auto producer = producerOf(step);
      bool in_out = false;
      if (const auto* p = step.attribute("pattern")) {
        if (p->value != "in-only" && p->value != "in-out") {
          diagnostics_.error(p->value_where,
                             "pattern must be 'in-only' or 'in-out', not '" + p->value + "'");
        }
        in_out = p->value == "in-out";
      }
      if (!producer) return nullptr;
      return std::make_shared<ToStep>(std::move(producer), targetName(step), in_out);
    }
    if (k == "filter") {
      auto predicate = expressionOf(step);
      auto children = pipelineOf(step.children);
      if (!predicate) return nullptr;
      // The children run for matches; non-matches stop at the filter. The two inner steps
      // are not named: the filter is recorded once, by the pipeline that contains it.
      std::vector<PipelineStep> steps{{std::make_shared<FilterStep>(std::move(predicate)), nullptr},
                                      {std::move(children), nullptr}};
      return std::make_shared<Pipeline>(route_name_, std::move(steps));
    }
    if (k == "choice") {
      std::vector<ChoiceStep::Branch> whens;
      ProcessorPtr otherwise;
      bool seen_otherwise = false;
      for (const auto& child : step.children) {
        if (child.kind == "when") {
          if (seen_otherwise)
            diagnostics_.error(child.where, "<when> must come before <otherwise>");
          auto predicate = expressionOf(child);
          auto body = pipelineOf(child.children);
          if (predicate) whens.push_back({std::move(predicate), std::move(body)});
        } else if (child.kind == "otherwise") {
          if (seen_otherwise)
            diagnostics_.error(child.where, "a <choice> has at most one <otherwise>");
          seen_otherwise = true;
          otherwise = pipelineOf(child.children);
        }
      }
      const bool has_when = std::any_of(step.children.begin(), step.children.end(),
                                        [](const StepDef& c) { return c.kind == "when"; });
      if (!has_when) diagnostics_.error(step.where, "<choice> needs at least one <when>");
      return std::make_shared<ChoiceStep>(std::move(whens), std::move(otherwise));
    }
    if (k == "try") {
      std::vector<StepDef> body;
      std::vector<TryStep::Catch> catches;
      for (const auto& child : step.children) {
        if (child.kind != "catch") {
          if (!catches.empty())
            diagnostics_.error(child.where,
                               "the steps of a <try> come before its <catch> elements");
          body.push_back(child);
          continue;
        }
        TryStep::Catch c;
        if (const auto* on = child.attribute("on")) {
          for (const auto& name : splitWords(on->value)) {
            const auto kind = errorKindNamed(name);
            if (!kind) {
              diagnostics_.error(on->value_where,
                                 "on= takes error kinds (transient, permanent, invalid, timeout, "
                                 "rejected), not '" +
                                     name + "'");
            } else {
              c.kinds.push_back(*kind);
            }
          }
        }
        c.pipeline = pipelineOf(child.children);
        catches.push_back(std::move(c));
      }
      if (catches.empty())
        diagnostics_.error(
            step.where, "<try> needs at least one <catch> (<catch on=\"permanent\">...</catch>)");
      return std::make_shared<TryStep>(pipelineOf(body), std::move(catches));
    }
    if (k == "recipient-list") {
      auto computed = expressionOf(step);
      std::vector<std::pair<std::string, ProcessorPtr>> fixed;
      for (const auto& child : step.children) {
        if (auto producer = producerOf(child))
          fixed.emplace_back(targetName(child), std::move(producer));
      }
      const bool has_static = !step.children.empty();
      const bool has_computed =
          std::any_of(expressionAttributes().begin(), expressionAttributes().end(),
                      [&](const std::string& a) { return step.attribute(a) != nullptr; });
      if (has_static && has_computed) {
        diagnostics_.error(step.where,
                           "<recipient-list> is either static (<recipient> children) or computed "
                           "(an expression), not both");
      } else if (!has_static && !has_computed) {
        diagnostics_.error(step.where,
                           "<recipient-list> needs <recipient> children or an expression that "
                           "yields the recipients");
      }
      char delimiter = ',';
      if (const auto* d = step.attribute("delimiter")) {
        if (d->value.size() != 1)
          diagnostics_.error(d->value_where, "delimiter must be one character");
        else
          delimiter = d->value[0];
      }
      return std::make_shared<RecipientListStep>(std::move(fixed), std::move(computed), delimiter,
                                                 booleanOf(step, "parallel", false),
                                                 dynamicEndpoints(), executor);
    }
    if (k == "multicast") {
      std::vector<ProcessorPtr> branches;
      for (const auto& child : step.children) {
        if (child.kind == "pipeline")
          branches.push_back(pipelineOf(child.children));
        else if (auto p = compileStep(child))
          branches.push_back(std::move(p));
      }
      if (step.children.empty())
        diagnostics_.error(step.where,
                           "<multicast> needs at least one branch (<to> or <pipeline>)");
      const bool parallel = booleanOf(step, "parallel", false);
      const auto timeout = durationOf(step, "timeout", std::chrono::milliseconds(0));
      if (!parallel && step.attribute("timeout") != nullptr) {
        diagnostics_.warning(step.attribute("timeout")->where,
                             "timeout only applies to parallel=\"true\" multicasts");
      }
      return std::make_shared<MulticastStep>(std::move(branches), parallel,
                                             strategyOf(step, AggregationStrategy::Kind::last),
                                             timeout, executor);
    }
    if (k == "split") {
      SplitStep::Options options;
      if (const auto* lines = step.attribute("lines")) {
        options.mode = SplitStep::Mode::lines;
        if (lines->value != "true")
          diagnostics_.error(lines->value_where,
                             "lines must be \"true\" (or leave it out and give an expression)");
      } else if (const auto* token = step.attribute("tokenize")) {
        options.mode = SplitStep::Mode::tokenize;
        options.token = token->value;
        if (options.token.empty())
          diagnostics_.error(token->value_where, "tokenize needs the text that separates parts");
      } else {
        options.mode = SplitStep::Mode::expression;
        options.expression = expressionOf(step);
      }
      options.parallel = booleanOf(step, "parallel", false);
      options.max_in_flight = static_cast<std::size_t>(integerOf(step, "max-in-flight", 16, 1));
      options.stop_on_error = booleanOf(step, "stop-on-error", true);
      options.strategy = strategyOf(step, AggregationStrategy::Kind::none);
      auto body = pipelineOf(step.children);
      if (options.mode == SplitStep::Mode::expression && !options.expression) return nullptr;
      return std::make_shared<SplitStep>(std::move(options), std::move(body), executor);
    }
    if (k == "aggregate") {
      AggregateStep::Options options;
      options.where = route_id_ + "/aggregate";
      static const std::pair<const char*, const char*> kCorrelation[] = {
          {"correlation-header", "header"},
          {"correlation-jsonpath", "jsonpath"},
          {"correlation-xpath", "xpath"},
          {"correlation-simple", "simple"}};
      for (const auto& [attribute, language] : kCorrelation) {
        if (const auto* a = step.attribute(attribute))
          options.correlation = compileExpressionAttribute(*a, language);
      }
      options.size = static_cast<std::size_t>(integerOf(step, "size", 0, 1));
      options.timeout = durationOf(step, "timeout", std::chrono::milliseconds(0));
      if (const auto* a = step.attribute("complete-when"))
        options.complete_when = compileExpressionAttribute(*a, "simple");
      if (step.attribute("size") == nullptr && step.attribute("timeout") == nullptr &&
          step.attribute("complete-when") == nullptr) {
        diagnostics_.error(
            step.where,
            "<aggregate> needs a completion: size, timeout or complete-when (or several)");
      }
      options.strategy = strategyOf(step, AggregationStrategy::Kind::json_array);
      auto body = pipelineOf(step.children);
      if (!options.correlation) return nullptr;
      auto aggregate =
          std::make_shared<AggregateStep>(std::move(options), std::move(body), executor);
      stateful_.push_back(aggregate);
      return aggregate;
    }
    if (k == "enrich") {
      auto producer = producerOf(step);
      EnrichStep::Merge merge = EnrichStep::Merge::replace;
      std::string name;
      if (const auto* s = step.attribute("strategy")) {
        const std::string& v = s->value;
        if (v == "replace")
          merge = EnrichStep::Merge::replace;
        else if (v == "merge")
          merge = EnrichStep::Merge::merge;
        else if (v.rfind("header:", 0) == 0 && v.size() > 7) {
          merge = EnrichStep::Merge::header;
          name = v.substr(7);
        } else if (v.rfind("field:", 0) == 0 && v.size() > 6) {
          merge = EnrichStep::Merge::field;
          name = v.substr(6);
        } else
          diagnostics_.error(
              s->value_where,
              "strategy must be replace, merge, header:NAME or field:NAME, not '" + v + "'");
      }
      if (!producer) return nullptr;
      return std::make_shared<EnrichStep>(std::move(producer), targetName(step), merge,
                                          std::move(name));
    }
    if (k == "wire-tap") {
      auto producer = producerOf(step);
      if (!producer) return nullptr;
      return std::make_shared<WireTapStep>(std::move(producer), targetName(step), executor);
    }
    if (k == "throttle") {
      const auto rate = integerOf(step, "rate", 1, 1);
      const auto per = durationOf(step, "per", std::chrono::seconds(1));
      if (per.count() <= 0)
        diagnostics_.error(step.attribute("per")->value_where, "per must be longer than 0ms");
      return std::make_shared<ThrottleStep>(rate, per, booleanOf(step, "reject", false), executor);
    }
    if (k == "delay") {
      const auto fixed = durationOf(step, "duration", std::chrono::milliseconds(0));
      return std::make_shared<DelayStep>(fixed, expressionOf(step), executor);
    }
    if (k == "set-header") {
      auto value = expressionOf(step);
      if (!value) return nullptr;
      return std::make_shared<SetHeaderStep>(
          step.attribute("name") ? step.attribute("name")->value : "", std::move(value));
    }
    if (k == "remove-header") {
      return std::make_shared<RemoveHeaderStep>(
          step.attribute("name") ? step.attribute("name")->value : "");
    }
    if (k == "set-body") {
      auto expression = expressionOf(step);
      auto body = textTemplate(step);
      if (expression && body)
        diagnostics_.error(step.where,
                           "<set-body> takes an expression attribute or a text template, not both");
      if (!expression && !body) {
        const bool has_expression =
            std::any_of(expressionAttributes().begin(), expressionAttributes().end(),
                        [&](const std::string& a) { return step.attribute(a) != nullptr; });
        if (!has_expression && step.text.empty()) {
          diagnostics_.error(
              step.where, "<set-body> needs the new body: an expression attribute or text content");
        }
        return nullptr;
      }
      const auto* media = step.attribute("media-type");
      return std::make_shared<SetBodyStep>(std::move(expression), std::move(body),
                                           media ? media->value : "");
    }
    if (k == "transform") {
      const auto* ref = step.attribute("ref");
      if (ref == nullptr) return nullptr;
      auto transformer = context_.transformers().create(ref->value, {});
      if (!transformer) {
        reportResolve(ref->value_where, transformer.error());
        return nullptr;
      }
      return std::make_shared<TransformStep>(std::move(*transformer), "transform:" + ref->value);
    }
    if (isTransformStep(k)) {  // xslt, map, jq, lua, validate, marshal, unmarshal
      TransformBuild build{
          diagnostics_, context_.transformers(),
          [this](const SourceLocation& where, const Error& error) { reportResolve(where, error); }};
      auto transformer = compileTransformStep(step, build);
      if (!transformer) return nullptr;
      return std::make_shared<TransformStep>(std::move(transformer), *stepName(step));
    }
    if (k == "log") {
      std::optional<Template> message;
      if (const auto* m = step.attribute("message"))
        message = templateOf(*m);
      else
        message = Template::compile("${body}").value();
      LogLevel level = LogLevel::info;
      if (const auto* l = step.attribute("level")) {
        if (!parseLogLevel(l->value, level) || level == LogLevel::off) {
          diagnostics_.error(
              l->value_where,
              "level must be trace, debug, info, warn or error, not '" + l->value + "'");
        }
      }
      const auto* category = step.attribute("category");
      if (!message) return nullptr;
      return std::make_shared<LogStep>(std::move(*message), level,
                                       category ? category->value : route_id_);
    }
    if (k == "stop") return std::make_shared<StopStep>();
    if (k == "idempotent") {
      auto key = expressionOf(step);
      if (!key) return nullptr;
      const std::string repository =
          step.attribute("repository") ? step.attribute("repository")->value : route_id_;
      const auto expire = durationOf(step, "expire", std::chrono::hours(24));
      if (expire.count() <= 0)
        diagnostics_.error(step.attribute("expire")->value_where, "expire must be above zero");
      return std::make_shared<IdempotentStep>(std::move(key), repository, expire, context_);
    }
    if (k == "reply") {
      std::optional<std::int64_t> status;
      if (step.attribute("status") != nullptr) {
        status = integerOf(step, "status", 200, 100);
        if (*status > 599)
          diagnostics_.error(step.attribute("status")->value_where,
                             "status must be from 100 to 599");
      }
      const auto* media = step.attribute("media-type");
      return std::make_shared<ReplyStep>(textTemplate(step), status, media ? media->value : "");
    }
    // The loader only lets known steps through; anything else is a bug here.
    diagnostics_.error(step.where, "internal: no compiler for <" + k + ">");
    return nullptr;
  }

  std::shared_ptr<DynamicEndpoints> dynamicEndpoints() {
    if (!dynamic_)
      dynamic_ = std::make_shared<DynamicEndpoints>(context_.components(), endpoint_uris_);
    return dynamic_;
  }

  ErrorPolicy errorPolicyOf(const RouteDef& route) {
    const ErrorHandlerDef* def = nullptr;
    if (route.error_handler) {
      def = &*route.error_handler;
    } else if (route.error_handler_ref) {
      const auto it = error_handlers_.find(route.error_handler_ref->value);
      if (it == error_handlers_.end()) {
        std::vector<std::string> ids;
        for (const auto& [id, unused] : error_handlers_) ids.push_back(id);
        if (!skipped_.count(route.error_handler_ref->value)) {
          diagnostics_.error(route.error_handler_ref->value_where,
                             "unknown error handler '" + route.error_handler_ref->value + "'" +
                                 didYouMean(route.error_handler_ref->value, ids));
        }
      } else {
        def = it->second;
      }
    }
    ErrorPolicy policy;
    if (def == nullptr) return policy;
    policy.max_attempts = def->max_attempts;
    policy.delay = std::chrono::milliseconds(def->delay_ms);
    policy.backoff = def->backoff;
    policy.max_delay = std::chrono::milliseconds(def->max_delay_ms);
    policy.jitter = def->jitter;
    policy.retry_all = def->retry_all;
    StepDef target;
    target.kind = "dead-letter";
    target.where = def->where;
    if (def->dead_letter_ref) target.attributes.emplace("ref", *def->dead_letter_ref);
    if (def->dead_letter_uri) target.attributes.emplace("uri", *def->dead_letter_uri);
    if (!target.attributes.empty()) {
      policy.dead_letter = producerOf(target);
      policy.dead_letter_name = targetName(target);
    }
    return policy;
  }

  std::optional<CompiledRoute> compileRoute(
      const RouteDef& def,
      std::map<std::string, std::pair<std::string, SourceLocation>>& exclusive_sources) {
    route_id_ = def.id;
    route_name_ = intern(def.id);
    stateful_.clear();
    unavailable_.clear();
    CompiledRoute out;
    out.id = def.id;
    out.where = def.where;
    out.autostart = def.autostart;
    EndpointPtr from = def.from ? endpointOf(*def.from) : nullptr;
    ErrorPolicy policy = errorPolicyOf(def);
    ProcessorPtr pipeline = pipelineOf(def.steps);
    if (!unavailable_.empty()) {
      // Reported as warnings above; the route is kept, marked, so status can show why.
      out.unavailable = unavailable_;
      if (def.from) {
        if (const auto* ref = def.from->attribute("ref")) out.from = ref->value;
        if (const auto* uri = def.from->attribute("uri")) out.from = uri->value;
      }
      return out;
    }
    if (!from) return std::nullopt;
    out.from = from->uri().text;
    const std::string& scheme = from->uri().scheme;
    if (scheme == "direct" || scheme == "timer") {
      // One consumer per direct:/timer: name; queues may have several (competing consumers).
      const auto [it, fresh] =
          exclusive_sources.emplace(from->uri().key(), std::make_pair(def.id, def.from->where));
      if (!fresh) {
        diagnostics_.error(def.from->where, from->uri().key() + " is already consumed by route '" +
                                                it->second.first + "' (" +
                                                it->second.second.toString() +
                                                "); use a queue: for several consumers");
        return std::nullopt;
      }
    }
    if (!from->acknowledges() && scheme != "timer") {
      // A timer makes its own messages: nobody waits for an acknowledgement. Any other
      // source that cannot acknowledge has told its sender "done" before the route ran.
      std::string hint;
      if (scheme == "queue")
        hint =
            "; use " + from->uri().key() + "?durable=true to keep messages until they are handled";
      diagnostics_.warning(
          def.from->where,
          "route '" + def.id + "' reads " + from->uri().key() +
              ", which cannot acknowledge: its producers were answered before the route "
              "ran, so a crash loses what it holds and a failure without a dead-letter "
              "channel loses the message" +
              hint);
    }
    out.route = std::make_shared<Route>(def.id, std::move(pipeline), std::move(policy),
                                        context_.executor(), stateful_);
    auto consumer = from->createConsumer(out.route);
    if (!consumer) {
      diagnostics_.error(def.from->where, consumer.error().message);
      return std::nullopt;
    }
    out.consumer = std::move(*consumer);
    return out;
  }

  const TableDefinition& table_;
  BusContext& context_;
  Diagnostics& diagnostics_;
  std::set<std::string> skipped_;
  std::map<std::string, EndpointEntry> endpoints_;
  std::map<std::string, std::string> endpoint_uris_;
  std::vector<EndpointPtr> inline_endpoints_;  // given by uri= rather than declared
  std::map<std::string, const ErrorHandlerDef*> error_handlers_;
  std::shared_ptr<DynamicEndpoints> dynamic_;
  std::string route_id_;
  std::string unavailable_;  // of the route being compiled
  const std::string* route_name_ = nullptr;
  std::vector<std::shared_ptr<Stateful>> stateful_;
};

}  // namespace

std::unique_ptr<CompiledTable> compileTable(const TableDefinition& table, BusContext& context,
                                            Diagnostics& diagnostics) {
  return Compiler(table, context, diagnostics).run();
}

}  // namespace busway
