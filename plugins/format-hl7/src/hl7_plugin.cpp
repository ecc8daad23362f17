// format-hl7: the HL7 v2 data format (unmarshal:hl7, marshal:hl7).

#include <string>

#include "busway/plugin.hpp"
#include "hl7_codec.hpp"

namespace {

namespace sdk = busway::sdk;
namespace hl7 = busway::formats::hl7;

class Hl7Format : public sdk::Format {
 public:
  static constexpr std::string_view name = "hl7";
  Hl7Format(sdk::Host /*host*/, const sdk::Options& options)
      : options_(hl7::fromOptions(options)) {}

  void marshal(sdk::MessageRef message) override {
    message.setBody(hl7::marshal(message.body(), options_), "x-application/hl7-v2+er7");
  }
  void unmarshal(sdk::MessageRef message) override {
    hl7::MessageInfo info;
    std::string json = hl7::unmarshal(message.body(), options_, &info);
    message.setBody(json, "application/json");
    if (!info.message_type.empty()) message.setHeader("hl7.message-type", info.message_type);
    if (!info.control_id.empty()) message.setHeader("hl7.control-id", info.control_id);
    if (!info.version.empty()) message.setHeader("hl7.version", info.version);
    message.setHeader("hl7.segment-count", static_cast<std::int64_t>(info.segments));
  }

 private:
  hl7::Options options_;
};

class Hl7Plugin : public sdk::Plugin {
 public:
  using Plugin::Plugin;
  using Formats = sdk::List<Hl7Format>;
};

}  // namespace

BUSWAY_PLUGIN(Hl7Plugin);
