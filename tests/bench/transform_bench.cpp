// Throughput of the transformation steps (core/src/transform/), one core, Google Benchmark:
//   (a) a web shop order (JSON) mapped to the canonical Order as JSON, and (b) as XML,
//       with the <map> of docs/examples/transforms/shop-order-to-invoice.xml;
//   (c) the canonical Order (XML) rendered as an Invoice by order-to-invoice.xsl (XSLT);
//   (d) the canonical Order (JSON) validated against order-1.schema.json.
// Every iteration builds a new message from bytes, as a consumer would, so parses are paid
// for each message. items/s is messages per second; bytes/s counts input bytes.
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <benchmark/benchmark.h>

#include "busway/config/table_loader.hpp"
#include "busway/endpoint/component_registry.hpp"
#include "busway/router/route_compiler.hpp"
#include "busway/runtime/bus.hpp"

namespace {

const std::string kSource = BUSWAY_SOURCE_DIR;
const std::string kExamples = kSource + "/docs/examples/transforms/";

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The <map> element of the example table.
std::string exampleMap() {
  const std::string table = slurp(kExamples + "shop-order-to-invoice.xml");
  const auto start = table.find("<map ");
  const auto end = table.find("</map>");
  return table.substr(start, end + 6 - start);
}

std::string table() {
  std::string to_xml = exampleMap();
  std::string to_json = to_xml;
  to_json.replace(to_json.find("output=\"xml\""), 12, "output=\"json\"");
  return "<routes xmlns=\"urn:busway:routes:1\">"
         "<route id=\"map-json\"><from uri=\"direct:map-json\"/>" +
         to_json +
         "</route>"
         "<route id=\"map-xml\"><from uri=\"direct:map-xml\"/>" +
         to_xml +
         "</route>"
         "<route id=\"xslt\"><from uri=\"direct:xslt\"/><xslt stylesheet=\"" +
         kExamples +
         "order-to-invoice.xsl\">"
         "<param name=\"issue-date\" constant=\"2026-03-02\"/></xslt></route>"
         "<route id=\"validate\"><from uri=\"direct:validate\"/><validate schema=\"" +
         kSource +
         "/schemas/canonical/order-1.schema.json\"/></route>"
         "</routes>";
}

struct Fixture {
  busway::BusContext context{1};
  busway::Bus bus{context};
  busway::ProcessorPtr map_json, map_xml, xslt, validate;
  std::string shop_order = slurp(kExamples + "shop-order.json");
  std::string order_xml = slurp(kSource + "/schemas/canonical/examples/order-1.xml");
  std::string order_json = slurp(kSource + "/schemas/canonical/examples/order-1.json");

  Fixture() {
    busway::Diagnostics diagnostics;
    auto parsed = busway::loadTableFromString(table(), "bench.xml", ".", diagnostics);
    auto compiled = busway::compileTable(parsed, context, diagnostics);
    if (!compiled || !bus.activate(std::move(compiled), diagnostics))
      throw std::runtime_error(diagnostics.toString());
    map_json = producer("direct:map-json");
    map_xml = producer("direct:map-xml");
    xslt = producer("direct:xslt");
    validate = producer("direct:validate");
  }
  busway::ProcessorPtr producer(const char* uri) {
    return context.components().resolve(uri).value()->createProducer().value();
  }
  static Fixture& get() {
    static Fixture fixture;
    return fixture;
  }
};

void run(benchmark::State& state, busway::Processor& p, const std::string& body,
         const char* media_type) {
  for (auto _ : state) {
    auto exchange = busway::makeExchange(busway::Message(busway::Body::make(body, media_type)));
    if (!p.process(exchange, [] {}) || exchange->failed()) {
      state.SkipWithError(exchange->failed() ? exchange->error->describe().c_str()
                                             : "route did not complete synchronously");
      break;
    }
    benchmark::DoNotOptimize(exchange->message.bodyText().data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(body.size()));
}

void BM_TransformMapShopOrderToCanonicalJson(benchmark::State& state) {
  auto& f = Fixture::get();
  run(state, *f.map_json, f.shop_order, "application/json");
}
void BM_TransformMapShopOrderToCanonicalXml(benchmark::State& state) {
  auto& f = Fixture::get();
  run(state, *f.map_xml, f.shop_order, "application/json");
}
void BM_TransformXsltInvoice(benchmark::State& state) {
  auto& f = Fixture::get();
  run(state, *f.xslt, f.order_xml, "application/xml");
}
void BM_TransformValidateCanonicalOrderJson(benchmark::State& state) {
  auto& f = Fixture::get();
  run(state, *f.validate, f.order_json, "application/json");
}

}  // namespace

BENCHMARK(BM_TransformMapShopOrderToCanonicalJson);
BENCHMARK(BM_TransformMapShopOrderToCanonicalXml);
BENCHMARK(BM_TransformXsltInvoice);
BENCHMARK(BM_TransformValidateCanonicalOrderJson);
