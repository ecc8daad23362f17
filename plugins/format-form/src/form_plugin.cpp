// format-form: application/x-www-form-urlencoded (unmarshal:form, marshal:form).

#include <string>

#include "busway/plugin.hpp"
#include "form_codec.hpp"

namespace {

namespace sdk = busway::sdk;
namespace form = busway::formats::form;

class FormFormat : public sdk::Format {
 public:
  static constexpr std::string_view name = "form";
  FormFormat(sdk::Host /*host*/, const sdk::Options& options)
      : options_(form::fromOptions(options)) {}

  void marshal(sdk::MessageRef message) override {
    message.setBody(form::marshal(message.body(), options_), "application/x-www-form-urlencoded");
  }
  void unmarshal(sdk::MessageRef message) override {
    message.setBody(form::unmarshal(message.body(), options_), "application/json");
  }

 private:
  form::Options options_;
};

class FormPlugin : public sdk::Plugin {
 public:
  using Plugin::Plugin;
  using Formats = sdk::List<FormFormat>;
};

}  // namespace

BUSWAY_PLUGIN(FormPlugin);
