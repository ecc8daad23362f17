// log: writes each message it receives to the bus log.
#include "busway/endpoint/component_registry.hpp"
#include "busway/runtime/bus_context.hpp"
#include "busway/util/log.hpp"
#include "core_components_impl.hpp"

namespace busway {
namespace {

std::vector<OptionSpec> logOptions() {
  using T = OptionSpec::Type;
  return {
      {"level",
       T::enumeration,
       "info",
       false,
       {"trace", "debug", "info", "warn", "error"},
       "log level of each line"},
      {"show-headers", T::boolean, "false", false, {}, "also write the headers"},
      {"show-body", T::boolean, "true", false, {}, "write the body"},
      {"max-body", T::size, "4KB", false, {}, "longer bodies are cut, with a note of their size"},
  };
}

class LogProducer final : public Processor {
 public:
  LogProducer(std::string category, LogLevel level, bool headers, bool body, std::size_t max_body)
      : category_(std::move(category)),
        level_(level),
        headers_(headers),
        body_(body),
        max_body_(max_body) {}

  bool process(const ExchangePtr& exchange, Done) override {
    if (!Log::enabled(level_)) return true;
    const Message& m = exchange->message;
    std::string line = "id=" + m.id();
    if (headers_) {
      line += " headers={";
      bool first = true;
      for (const auto& [name, value] : m.headers()) {
        line += first ? "" : ", ";
        line += name + '=' + toText(value);
        first = false;
      }
      line += '}';
    }
    if (body_) {
      const auto text = m.bodyText();
      line += " body=";
      line.append(text.substr(0, max_body_));
      if (text.size() > max_body_) line += "... (" + std::to_string(text.size()) + " bytes)";
    }
    Log::write(level_, category_, line);
    return true;
  }

 private:
  std::string category_;
  LogLevel level_;
  bool headers_;
  bool body_;
  std::size_t max_body_;
};

class LogEndpoint final : public Endpoint {
 public:
  using Endpoint::Endpoint;
  Result<ProcessorPtr> createProducer() override {
    const auto specs = logOptions();
    const UriOptions options(uri(), specs);
    LogLevel level = LogLevel::info;
    parseLogLevel(options.text("level"), level);
    return ProcessorPtr(std::make_shared<LogProducer>(
        uri().path.empty() ? "log" : uri().path, level, options.boolean("show-headers"),
        options.boolean("show-body"), static_cast<std::size_t>(options.size("max-body"))));
  }
  Result<std::unique_ptr<Consumer>> createConsumer(ProcessorPtr) override {
    return Error(ErrorKind::invalid,
                 "log: can only receive messages (to), not start a route (from)");
  }
};

class LogComponent final : public Component {
 public:
  std::string_view scheme() const override { return "log"; }
  std::vector<OptionSpec> options() const override { return logOptions(); }
  Result<EndpointPtr> resolve(const Uri& uri, BusContext&) override {
    return EndpointPtr(std::make_shared<LogEndpoint>(uri));
  }
};

}  // namespace

std::shared_ptr<Component> makeLogComponent() { return std::make_shared<LogComponent>(); }

}  // namespace busway
