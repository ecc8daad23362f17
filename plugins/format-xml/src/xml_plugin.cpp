// format-xml: the XML data format (unmarshal:xml, marshal:xml).

#include <string>

#include "busway/plugin.hpp"
#include "xml_codec.hpp"

namespace {

namespace sdk = busway::sdk;
namespace xml = busway::formats::xml;

class XmlFormat : public sdk::Format {
 public:
  static constexpr std::string_view name = "xml";
  XmlFormat(sdk::Host /*host*/, const sdk::Options& options)
      : options_(xml::fromOptions(options)) {}

  void marshal(sdk::MessageRef message) override {
    message.setBody(xml::marshal(message.body(), options_), "application/xml");
  }
  void unmarshal(sdk::MessageRef message) override {
    message.setBody(xml::unmarshal(message.body(), options_), "application/json");
  }

 private:
  xml::Options options_;
};

class XmlPlugin : public sdk::Plugin {
 public:
  using Plugin::Plugin;
  using Formats = sdk::List<XmlFormat>;
};

}  // namespace

BUSWAY_PLUGIN(XmlPlugin);
