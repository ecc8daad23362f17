// format-fixed-width: fixed-width records described by an XML layout (unmarshal:fixed-width,
// marshal:fixed-width).

#include <string>

#include "busway/plugin.hpp"
#include "fixed_width_codec.hpp"

namespace {

namespace sdk = busway::sdk;
namespace fw = busway::formats::fixed_width;

class FixedWidthFormat : public sdk::Format {
 public:
  static constexpr std::string_view name = "fixed-width";
  // The layout is read once, here: a broken layout fails the route's load, not each message.
  FixedWidthFormat(sdk::Host /*host*/, const sdk::Options& options)
      : options_(fw::fromOptions(options)) {}

  void marshal(sdk::MessageRef message) override {
    message.setBody(fw::marshal(message.body(), options_), "text/plain");
  }
  void unmarshal(sdk::MessageRef message) override {
    message.setBody(fw::unmarshal(message.body(), options_), "application/json");
  }

 private:
  fw::Options options_;
};

class FixedWidthPlugin : public sdk::Plugin {
 public:
  using Plugin::Plugin;
  using Formats = sdk::List<FixedWidthFormat>;
};

}  // namespace

BUSWAY_PLUGIN(FixedWidthPlugin);
