// format-csv: the CSV data format (unmarshal:csv, marshal:csv).

#include <string>

#include "busway/plugin.hpp"
#include "csv_codec.hpp"

namespace {

namespace sdk = busway::sdk;
namespace csv = busway::formats::csv;

class CsvFormat : public sdk::Format {
 public:
  static constexpr std::string_view name = "csv";
  CsvFormat(sdk::Host /*host*/, const sdk::Options& options)
      : options_(csv::fromOptions(options)) {}

  void marshal(sdk::MessageRef message) override {
    message.setBody(csv::marshal(message.body(), options_), "text/csv");
  }
  void unmarshal(sdk::MessageRef message) override {
    message.setBody(csv::unmarshal(message.body(), options_), "application/json");
  }

 private:
  csv::Options options_;
};

class CsvPlugin : public sdk::Plugin {
 public:
  using Plugin::Plugin;
  using Formats = sdk::List<CsvFormat>;
};

}  // namespace

BUSWAY_PLUGIN(CsvPlugin);
