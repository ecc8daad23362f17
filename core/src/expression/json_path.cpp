#include "json_path.hpp"

#include <charconv>
#include <cstring>
#include <limits>

#include <simdjson.h>

#include "busway/message/body.hpp"

namespace busway::expr {

static_assert(Body::kPadding >= simdjson::SIMDJSON_PADDING, "Body padding must satisfy simdjson");

// One On-Demand parser and the document it is iterating. Reused across evaluations so
// the parser's buffers are allocated once per thread, not once per message.
struct OnDemandState {
  simdjson::ondemand::parser parser;
  simdjson::ondemand::document doc;
  std::uint64_t owner = 0;  // EvalContext::json_token of the evaluation that iterated `doc`
};

EvalContext::EvalContext(const Exchange& e) noexcept : exchange(e) {}
EvalContext::~EvalContext() = default;

namespace {

using nlohmann::json;
namespace ondemand = simdjson::ondemand;

// Bodies above this get a parser of their own that is freed after the evaluation, so one
// huge message does not pin its index memory in every worker thread for good.
constexpr std::size_t kMaxThreadLocalBody = std::size_t{1} << 20;

thread_local std::uint64_t t_next_token = 0;

OnDemandState& threadState() {
  thread_local OnDemandState state;
  return state;
}

// ---------------------------------------------------------------------------------------
// Parsing

bool isMemberChar(char c) noexcept { return isNameChar(c) && c != '.'; }

bool parseQuoted(Cursor& cursor, std::string& out, ParseError& error) {
  std::size_t at = cursor.pos();
  char quote = cursor.peek();
  cursor.advance();
  while (!cursor.atEnd()) {
    char c = cursor.peek();
    cursor.advance();
    if (c == quote) return true;
    if (c == '\\' && !cursor.atEnd()) {
      c = cursor.peek();
      cursor.advance();
    }
    out.push_back(c);
  }
  error = {at, std::string("unterminated name: missing closing ") + quote};
  return false;
}

bool parseBracket(Cursor& cursor, JsonPath::Step& step, ParseError& error) {
  cursor.advance();  // '['
  cursor.skipSpace();
  std::size_t at = cursor.pos();
  char c = cursor.peek();
  if (c == '*') {
    step.kind = JsonPath::Step::Kind::wildcard;
    cursor.advance();
  } else if (c == '\'' || c == '"') {
    step.kind = JsonPath::Step::Kind::key;
    if (!parseQuoted(cursor, step.key, error)) return false;
  } else if ((c >= '0' && c <= '9') || c == '-') {
    std::size_t end = at + 1;
    while (end < cursor.text().size() && cursor.text()[end] >= '0' && cursor.text()[end] <= '9')
      ++end;
    std::string_view digits = cursor.text().substr(at, end - at);
    auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), step.index);
    if (ec != std::errc() || ptr != digits.data() + digits.size()) {
      error = {at, "invalid array index '" + std::string(digits) + "'"};
      return false;
    }
    step.kind = JsonPath::Step::Kind::index;
    cursor.setPos(end);
  } else if (c == '?') {
    error = {at, "filters [?(...)] are not supported; select the path and compare it instead"};
    return false;
  } else if (c == ':') {
    error = {at, "array slices are not supported; use an index"};
    return false;
  } else {
    error = {at, "expected an index, '*' or a quoted name after '[', found " +
                     describeToken(cursor.text(), at)};
    return false;
  }
  cursor.skipSpace();
  std::size_t close = cursor.pos();
  if (cursor.peek() == ']') {
    cursor.advance();
    return true;
  }
  if (cursor.peek() == ':') {
    error = {close, "array slices are not supported; use an index"};
  } else if (cursor.peek() == ',') {
    error = {close, "unions [a,b] are not supported; use 'or' between two paths"};
  } else {
    error = {close, "expected ']', found " + describeToken(cursor.text(), close)};
  }
  return false;
}

// The bytes a key has inside a JSON document, unless it would need escaping there (the
// On-Demand lookup compares raw bytes).
bool rawComparable(std::string_view key) noexcept {
  for (char c : key) {
    if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------
// DOM evaluation (nlohmann)

Value fromJson(const json& j) {
  switch (j.type()) {
    case json::value_t::null: return std::monostate{};
    case json::value_t::boolean: return j.get<bool>();
    case json::value_t::number_integer: return j.get<std::int64_t>();
    case json::value_t::number_unsigned: {
      auto u = j.get<std::uint64_t>();
      if (u <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        return static_cast<std::int64_t>(u);
      return static_cast<double>(u);
    }
    case json::value_t::number_float: return j.get<double>();
    case json::value_t::string: return j.get_ref<const std::string&>();
    default: return j;
  }
}

// Calls f(child) for each child `step` selects in `node`; stops early when f returns false.
template <typename F>
bool applyStep(const json& node, const JsonPath::Step& step, F&& f) {
  switch (step.kind) {
    case JsonPath::Step::Kind::key: {
      if (!node.is_object()) return true;
      auto it = node.find(step.key);
      return it == node.end() || f(*it);
    }
    case JsonPath::Step::Kind::index: {
      if (!node.is_array()) return true;
      auto size = static_cast<std::int64_t>(node.size());
      std::int64_t i = step.index < 0 ? size + step.index : step.index;
      if (i < 0 || i >= size) return true;
      return f(node[static_cast<std::size_t>(i)]);
    }
    case JsonPath::Step::Kind::wildcard: {
      if (!node.is_structured()) return true;
      for (const auto& child : node) {
        if (!f(child)) return false;
      }
      return true;
    }
  }
  return true;
}

// Visits every match in document order (object members in the DOM's key order); returns
// false when `visit` asked to stop.
template <typename Visit>
bool walk(const json& node, const JsonPath::Step* step, const JsonPath::Step* end, Visit& visit) {
  if (step == end) return visit(node);
  auto next = [&](const json& child) { return walk(child, step + 1, end, visit); };
  if (!step->recursive) return applyStep(node, *step, next);
  // Recursive descent with an explicit stack: a deeply nested body must not exhaust ours.
  std::vector<const json*> pending{&node};
  while (!pending.empty()) {
    const json* current = pending.back();
    pending.pop_back();
    if (!applyStep(*current, *step, next)) return false;
    if (current->is_structured()) {
      for (auto it = current->crbegin(); it != current->crend(); ++it) pending.push_back(&*it);
    }
  }
  return true;
}

Result<const json*> domOf(EvalContext& ctx) {
  std::string error;
  const json* root = ctx.message().body().json(&error);
  if (!root) return Error(ErrorKind::invalid, "JSON path on a body that is not JSON: " + error);
  return root;
}

// ---------------------------------------------------------------------------------------
// On-Demand evaluation (simdjson)

enum class Lookup { found, missing, fallback };

// The document for this evaluation, positioned at its root. The body is indexed once per
// evaluate() call; further paths in the same call rewind instead of indexing again.
ondemand::document* documentFor(EvalContext& ctx) {
  if (ctx.json_fast_failed) return nullptr;
  const Body& body = ctx.message().body();
  OnDemandState* state = &threadState();
  if (body.size() > kMaxThreadLocalBody) {
    if (!ctx.large_body) ctx.large_body = std::make_unique<OnDemandState>();
    state = ctx.large_body.get();
  }
  if (ctx.json_token != 0 && state->owner == ctx.json_token) {
    state->doc.rewind();
    return &state->doc;
  }
  simdjson::padded_string_view bytes(body.paddedData(), body.size(), body.size() + Body::kPadding);
  if (state->parser.iterate(bytes).get(state->doc) != simdjson::SUCCESS) {
    state->owner = 0;
    ctx.json_fast_failed = true;
    return nullptr;
  }
  ctx.json_token = ++t_next_token;
  state->owner = ctx.json_token;
  return &state->doc;
}

Lookup locate(ondemand::document& doc, const std::vector<JsonPath::Step>& steps,
              ondemand::value& out) {
  ondemand::json_type type;
  if (doc.type().get(type) != simdjson::SUCCESS) return Lookup::fallback;
  // On-Demand types a document by its first byte, so "not json" looks like a null. Scalar
  // documents are rare enough to leave to the DOM, which also tells garbage from a scalar.
  if (type != ondemand::json_type::object && type != ondemand::json_type::array)
    return Lookup::fallback;
  ondemand::value current;
  if (doc.get_value().get(current) != simdjson::SUCCESS) return Lookup::fallback;
  for (const auto& step : steps) {
    if (current.type().get(type) != simdjson::SUCCESS) return Lookup::fallback;
    if (step.kind == JsonPath::Step::Kind::key) {
      if (type != ondemand::json_type::object) return Lookup::missing;
      auto error = current.find_field_unordered(step.key).get(current);
      if (error == simdjson::NO_SUCH_FIELD) return Lookup::missing;
      if (error != simdjson::SUCCESS) return Lookup::fallback;
      continue;
    }
    if (type != ondemand::json_type::array) return Lookup::missing;
    ondemand::array array;
    if (current.get_array().get(array) != simdjson::SUCCESS) return Lookup::fallback;
    std::int64_t wanted = step.index;
    if (wanted < 0) {
      std::size_t count = 0;
      if (array.count_elements().get(count) != simdjson::SUCCESS) return Lookup::fallback;
      wanted += static_cast<std::int64_t>(count);
      if (wanted < 0) return Lookup::missing;
    }
    std::int64_t i = 0;
    bool found = false;
    for (auto element : array) {
      if (i == wanted) {
        if (element.get(current) != simdjson::SUCCESS) return Lookup::fallback;
        found = true;
        break;
      }
      if (element.error() != simdjson::SUCCESS) return Lookup::fallback;
      ++i;
    }
    if (!found) return Lookup::missing;
  }
  out = current;
  return Lookup::found;
}

Lookup convert(ondemand::value& v, Value& out) {
  ondemand::json_type type;
  if (v.type().get(type) != simdjson::SUCCESS) return Lookup::fallback;
  switch (type) {
    case ondemand::json_type::number: {
      ondemand::number_type number_type;
      if (v.get_number_type().get(number_type) != simdjson::SUCCESS) return Lookup::fallback;
      if (number_type == ondemand::number_type::signed_integer) {
        std::int64_t i = 0;
        if (v.get_int64().get(i) != simdjson::SUCCESS) return Lookup::fallback;
        out = i;
      } else {
        // Unsigned here means >= 2^63: it does not fit our signed integers either way.
        double d = 0;
        if (v.get_double().get(d) != simdjson::SUCCESS) return Lookup::fallback;
        out = d;
      }
      return Lookup::found;
    }
    case ondemand::json_type::string: {
      std::string_view s;
      if (v.get_string().get(s) != simdjson::SUCCESS) return Lookup::fallback;
      out = std::string(s);
      return Lookup::found;
    }
    case ondemand::json_type::boolean: {
      bool b = false;
      if (v.get_bool().get(b) != simdjson::SUCCESS) return Lookup::fallback;
      out = b;
      return Lookup::found;
    }
    case ondemand::json_type::null: {
      bool is_null = false;
      if (v.is_null().get(is_null) != simdjson::SUCCESS || !is_null) return Lookup::fallback;
      out = std::monostate{};
      return Lookup::found;
    }
    default:
      return Lookup::fallback;  // objects and arrays become json values: the DOM builds those
  }
}

// A miss on the fast path is only trusted when no key in the body can be escaped: a
// document may spell "name" as "n\u0061me", which raw comparison does not see.
bool missTrusted(const Body& body) noexcept {
  return std::memchr(body.paddedData(), '\\', body.size()) == nullptr;
}

Lookup fastFirst(EvalContext& ctx, const std::vector<JsonPath::Step>& steps, Value* out) {
  ondemand::document* doc = documentFor(ctx);
  if (!doc) return Lookup::fallback;
  ondemand::value v;
  Lookup found = locate(*doc, steps, v);
  if (found == Lookup::missing)
    return missTrusted(ctx.message().body()) ? Lookup::missing : Lookup::fallback;
  if (found != Lookup::found || !out) return found;
  return convert(v, *out);
}

}  // namespace

bool JsonPath::parse(Cursor& cursor, JsonPath& out, ParseError& error) {
  out = JsonPath();
  cursor.advance();  // '$'
  if (isMemberChar(cursor.peek())) {
    error = {cursor.pos(),
             "expected '.' or '[' after '$', found " + describeToken(cursor.text(), cursor.pos())};
    return false;
  }
  for (;;) {
    Step step;
    char c = cursor.peek();
    if (c == '.') {
      cursor.advance();
      if (cursor.peek() == '.') {
        step.recursive = true;
        cursor.advance();
      }
      std::size_t at = cursor.pos();
      c = cursor.peek();
      if (c == '*') {
        step.kind = Step::Kind::wildcard;
        cursor.advance();
      } else if (step.recursive && c == '[') {
        if (!parseBracket(cursor, step, error)) return false;
      } else if (isMemberChar(c)) {
        std::size_t end = at;
        while (end < cursor.text().size() && isMemberChar(cursor.text()[end])) ++end;
        step.kind = Step::Kind::key;
        step.key = std::string(cursor.text().substr(at, end - at));
        cursor.setPos(end);
      } else {
        error = {at, std::string("expected a name or '*' after '") + (step.recursive ? ".." : ".") +
                         "', found " + describeToken(cursor.text(), at)};
        return false;
      }
    } else if (c == '[') {
      if (!parseBracket(cursor, step, error)) return false;
    } else {
      break;
    }
    if (step.recursive || step.kind == Step::Kind::wildcard) out.simple_ = false;
    if (step.kind == Step::Kind::key && !rawComparable(step.key)) out.fast_ = false;
    out.steps_.push_back(std::move(step));
  }
  if (isMemberChar(cursor.peek()) || cursor.peek() == '$') {
    error = {cursor.pos(), "unexpected " + describeToken(cursor.text(), cursor.pos()) +
                               " in JSON path; expected '.' or '['"};
    return false;
  }
  out.fast_ = out.fast_ && out.simple_ && !out.steps_.empty();
  return true;
}

Result<Value> JsonPath::first(EvalContext& ctx) const {
  if (fast_ && !ctx.message().body().jsonParsed()) {
    Value value;
    switch (fastFirst(ctx, steps_, &value)) {
      case Lookup::found: return value;
      case Lookup::missing: return Value();
      case Lookup::fallback: break;  // let the DOM decide, and explain if the body is broken
    }
  }
  Result<const json*> root = domOf(ctx);
  if (!root) return std::move(root).error();
  Value result;
  auto visit = [&](const json& match) {
    result = fromJson(match);
    return false;
  };
  walk(**root, steps_.data(), steps_.data() + steps_.size(), visit);
  return result;
}

Result<bool> JsonPath::exists(EvalContext& ctx) const {
  if (fast_ && !ctx.message().body().jsonParsed()) {
    switch (fastFirst(ctx, steps_, nullptr)) {
      case Lookup::found: return true;
      case Lookup::missing: return false;
      case Lookup::fallback: break;
    }
  }
  Result<const json*> root = domOf(ctx);
  if (!root) return std::move(root).error();
  bool found = false;
  auto visit = [&](const json&) {
    found = true;
    return false;
  };
  walk(**root, steps_.data(), steps_.data() + steps_.size(), visit);
  return found;
}

Result<std::vector<Value>> JsonPath::all(EvalContext& ctx) const {
  Result<const json*> root = domOf(ctx);
  if (!root) return std::move(root).error();
  std::vector<Value> matches;
  auto visit = [&](const json& match) {
    matches.push_back(fromJson(match));
    return true;
  };
  walk(**root, steps_.data(), steps_.data() + steps_.size(), visit);
  return matches;
}

OperandPtr parseJsonPathOperand(Cursor& cursor, ParseError& error) {
  std::size_t at = cursor.pos();
  if (cursor.peek() != '$') {
    if (cursor.peek() == '@') {
      error = {at,
               "'@' is only meaningful inside filters, which are not supported; start the path "
               "with '$'"};
    } else {
      error = {at, "unexpected " + describeToken(cursor.text(), at) +
                       "; expected a JSON path starting with '$', a literal or '('"};
    }
    return nullptr;
  }
  JsonPath path;
  if (!JsonPath::parse(cursor, path, error)) return nullptr;
  return std::make_unique<JsonPathOperand>(std::move(path));
}

}  // namespace busway::expr
