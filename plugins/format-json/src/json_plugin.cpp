// format-json: the JSON data format (unmarshal:json checks and normalises an incoming body,
// marshal:json writes a JSON body out compact or pretty).

#include <string>

#include "busway/plugin.hpp"
#include "json_codec.hpp"

namespace {

namespace sdk = busway::sdk;
namespace json = busway::formats::json;

class JsonFormat : public sdk::Format {
 public:
  static constexpr std::string_view name = "json";
  JsonFormat(sdk::Host /*host*/, const sdk::Options& options)
      : options_(json::fromOptions(options)) {}

  void marshal(sdk::MessageRef message) override {
    message.setBody(json::convert(message.body(), options_, "the message body"),
                    "application/json");
  }
  void unmarshal(sdk::MessageRef message) override {
    message.setBody(json::convert(message.body(), options_, "the message body"),
                    "application/json");
  }

 private:
  json::Options options_;
};

class JsonPlugin : public sdk::Plugin {
 public:
  using Plugin::Plugin;
  using Formats = sdk::List<JsonFormat>;
};

}  // namespace

BUSWAY_PLUGIN(JsonPlugin);
