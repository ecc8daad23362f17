// <jq program="..."/> (or the program as the element's text): a jq 1.6 program through
// libjq. Compiled when the table loads (a syntax error is a load error at its line).
// The program reads the JSON body; `$headers` holds the message headers as an object.
// One output becomes the body; several become a JSON array; none is an error.
// raw-output="true" writes a string result as plain text (like jq -r).
//
// A jq_state is not thread-safe: each worker takes a compiled state from a pool.
// The environment is hidden ($ENV and env are {}), and input/inputs fail: a program sees
// nothing but the message.
extern "C" {
#include <jq.h>
#include <jv.h>
}

#include <mutex>
#include <regex>

#include <nlohmann/json.hpp>

#include "busway/util/log.hpp"
#include "busway/util/text.hpp"
#include "transform_steps.hpp"

namespace busway {
namespace {

// Kept on the program's first line so that jq's line numbers are the user's.
constexpr const char* kPrelude =
    ".[1] as $headers | .[0] | {} as $ENV | def env: {}; def input: error(\"input is not available "
    "in busway\"); "
    "def inputs: error(\"inputs is not available in busway\"); (";

std::string jvText(jv value) {  // consumes value
  if (jv_get_kind(value) == JV_KIND_STRING) {
    std::string text = jv_string_value(value);
    jv_free(value);
    return text;
  }
  jv dumped = jv_dump_string(value, 0);
  std::string text = jv_string_value(dumped);
  jv_free(dumped);
  return text;
}

void collectError(void* data, jv message) {
  static_cast<std::vector<std::string>*>(data)->push_back(jvText(message));
}

void debugMessage(void*, jv message) { Log::write(LogLevel::debug, "jq", jvText(message)); }

struct StateDeleter {
  void operator()(jq_state* state) const {
    if (state != nullptr) jq_teardown(&state);
  }
};
using StatePtr = std::unique_ptr<jq_state, StateDeleter>;

// Compiles `program`; null with `errors` filled when it does not compile.
StatePtr compileProgram(const std::string& program, std::vector<std::string>& errors) {
  StatePtr state(jq_init());
  if (!state) {
    errors.push_back("cannot create a jq state (out of memory)");
    return nullptr;
  }
  jq_set_error_cb(state.get(), collectError, &errors);
  jq_set_debug_cb(state.get(), debugMessage, nullptr);
  const std::string wrapped = std::string(kPrelude) + program + "\n)";
  if (!jq_compile(state.get(), wrapped.c_str())) return nullptr;
  jq_set_error_cb(state.get(), nullptr, nullptr);
  return state;
}

class JqTransformer final : public Transformer {
 public:
  JqTransformer(std::string program, StatePtr first, bool raw_output)
      : program_(std::move(program)), raw_output_(raw_output) {
    pool_.push_back(std::move(first));
  }

  Result<void> apply(Exchange& exchange) const override {
    const auto body = exchange.message.bodyText();
    nlohmann::json headers = nlohmann::json::object();
    for (const auto& [name, value] : exchange.message.headers())
      headers[name] = nlohmann::json(toText(value));
    // The input is [body, headers], unpacked by the prelude.
    const std::string headers_text = headers.dump();
    jv parsed_body = jv_parse_sized(body.data(), static_cast<int>(body.size()));
    if (!jv_is_valid(parsed_body)) {
      std::string why;
      if (jv_invalid_has_msg(jv_copy(parsed_body)))
        why = jvText(jv_invalid_get_msg(parsed_body));
      else
        jv_free(parsed_body);
      return Error(ErrorKind::invalid, "jq: the body is not JSON: " + why);
    }
    jv input =
        jv_array_append(jv_array_append(jv_array(), parsed_body),
                        jv_parse_sized(headers_text.data(), static_cast<int>(headers_text.size())));
    StatePtr state = take();
    if (!state) {
      jv_free(input);
      return Error(ErrorKind::permanent, "jq: cannot compile the program on this thread");
    }
    std::vector<std::string> errors;
    jq_set_error_cb(state.get(), collectError, &errors);
    jq_start(state.get(), input, 0);
    std::vector<jv> outputs;
    jv result;
    while (jv_is_valid(result = jq_next(state.get()))) outputs.push_back(result);
    std::string failure;
    if (jv_invalid_has_msg(jv_copy(result))) {
      failure = jvText(jv_invalid_get_msg(result));
    } else {
      jv_free(result);
      if (jq_halted(state.get())) failure = "the program halted";
    }
    jq_set_error_cb(state.get(), nullptr, nullptr);
    give(std::move(state));
    if (failure.empty() && !errors.empty()) failure = errors.front();
    if (failure.empty() && outputs.empty())
      failure = "the program produced no output (use 'empty' only inside a larger expression)";
    if (!failure.empty()) {
      for (auto& v : outputs) jv_free(v);
      return Error(ErrorKind::invalid, "jq: " + failure);
    }
    if (raw_output_ && outputs.size() == 1 && jv_get_kind(outputs[0]) == JV_KIND_STRING) {
      exchange.message.setBody(jvText(outputs[0]), "text/plain");
      return {};
    }
    jv out;
    if (outputs.size() == 1) {
      out = outputs[0];
    } else {
      out = jv_array();
      for (auto& v : outputs) out = jv_array_append(out, v);
    }
    exchange.message.setBody(jvText(jv_dump_string(out, 0)), "application/json");
    return {};
  }

 private:
  StatePtr take() const {
    {
      std::lock_guard lock(mutex_);
      if (!pool_.empty()) {
        StatePtr state = std::move(pool_.back());
        pool_.pop_back();
        return state;
      }
    }
    std::vector<std::string> errors;
    return compileProgram(program_, errors);  // compiled at load already: this succeeds
  }
  void give(StatePtr state) const {
    std::lock_guard lock(mutex_);
    pool_.push_back(std::move(state));
  }

  std::string program_;
  bool raw_output_;
  mutable std::mutex mutex_;
  mutable std::vector<StatePtr> pool_;
};

}  // namespace

std::shared_ptr<const Transformer> compileJqStep(const StepDef& step, TransformBuild& build) {
  const auto* attribute = step.attribute("program");
  if (attribute != nullptr && !step.text.empty()) {
    build.diagnostics.error(step.where,
                            "<jq> takes the program in the program attribute or as text, not both");
    return nullptr;
  }
  if (attribute == nullptr && step.text.empty()) {
    build.diagnostics.error(
        step.where, "<jq> needs a program: program=\"...\" or the program as the element's text");
    return nullptr;
  }
  const std::string program = attribute != nullptr ? attribute->value : step.text;
  bool raw_output = false;
  if (const auto* raw = step.attribute("raw-output")) {
    const auto v = parseBoolean(raw->value);
    if (!v)
      build.diagnostics.error(raw->value_where,
                              "raw-output must be true or false, not '" + raw->value + "'");
    raw_output = v.value_or(false);
  }
  std::vector<std::string> errors;
  StatePtr state = compileProgram(program, errors);
  if (!state) {
    // "jq: error: syntax error, ... at <top-level>, line 2:\n<source line>"
    int line = 1;
    std::string message;
    static const std::regex kLine(R"(line (\d+):)");
    for (const auto& e : errors) {
      if (e.find("compile error") != std::string::npos && !message.empty()) continue;
      std::smatch m;
      if (message.empty() && std::regex_search(e, m, kLine)) line = std::stoi(m[1].str());
      std::string text = e.substr(0, e.find('\n'));
      if (text.rfind("jq: error: ", 0) == 0) text = text.substr(11);
      if (const auto at = text.find(" at <top-level>, line "); at != std::string::npos)
        text.erase(at);  // the position is ours
      message += (message.empty() ? "" : "; ") + text;
    }
    SourceLocation where;
    if (attribute != nullptr) {
      where = attribute->value_where;
    } else {
      where = transform::textLine(step, line);
    }
    build.diagnostics.error(where, "jq program does not compile: " +
                                       (message.empty() ? std::string("unknown error") : message));
    return nullptr;
  }
  return std::make_shared<JqTransformer>(program, std::move(state), raw_output);
}

}  // namespace busway
