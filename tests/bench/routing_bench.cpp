// Throughput of routes on direct: endpoints, one core, measured with Google Benchmark.
//   (a) a header predicate, (b) a JSON-path predicate on a fresh 1 KB JSON body,
//   (c) a five-step pipeline.
// Every iteration builds a new message (and, for (b), a new body from bytes) as a consumer
// would, so cached parses do not flatter the figures.
#include <stdexcept>

#include <benchmark/benchmark.h>

#include "busway/config/table_loader.hpp"
#include "busway/endpoint/component_registry.hpp"
#include "busway/router/route_compiler.hpp"
#include "busway/runtime/bus.hpp"

namespace {

constexpr const char* kTable = R"(<routes xmlns="urn:busway:routes:1">
  <route id="header-predicate">
    <from uri="direct:a"/>
    <filter header="priority == 'high'"/>
  </route>
  <route id="json-predicate">
    <from uri="direct:b"/>
    <filter jsonpath="$.order.total &gt; 100 and $.order.country == 'NL'"/>
  </route>
  <route id="five-steps">
    <from uri="direct:c"/>
    <filter header="priority == 'high'"/>
    <set-header name="route" constant="five-steps"/>
    <set-header name="customer-copy" header="customer"/>
    <remove-header name="customer"/>
    <to uri="direct:sink"/>
  </route>
  <route id="sink">
    <from uri="direct:sink"/>
    <set-header name="seen" constant="true"/>
  </route>
</routes>)";

std::string orderJson() {
  std::string json =
      R"({"order":{"id":"A-1001","country":"NL","total":250.5,"currency":"EUR","customer":{"id":"C-77","name":"Jansen","email":"jansen@example.com"},"lines":[)";
  for (int i = 0; json.size() < 960; ++i) {
    if (i > 0) json += ',';
    json += R"({"sku":"SKU-)" + std::to_string(1000 + i) + R"(","qty":)" +
            std::to_string(i % 5 + 1) + R"(,"price":12.5})";
  }
  json += "]}}";
  return json;
}

struct Fixture {
  busway::BusContext context{1};
  busway::Bus bus{context};
  busway::ProcessorPtr a, b, c;

  Fixture() {
    busway::Diagnostics diagnostics;
    auto table = busway::loadTableFromString(kTable, "bench.xml", ".", diagnostics);
    auto compiled = busway::compileTable(table, context, diagnostics);
    if (!compiled || !bus.activate(std::move(compiled), diagnostics))
      throw std::runtime_error(diagnostics.toString());
    a = producer("direct:a");
    b = producer("direct:b");
    c = producer("direct:c");
  }
  busway::ProcessorPtr producer(const char* uri) {
    return context.components().resolve(uri).value()->createProducer().value();
  }
  static Fixture& get() {
    static Fixture fixture;
    return fixture;
  }
};

void run(busway::Processor& p, const busway::ExchangePtr& exchange, benchmark::State& state) {
  if (!p.process(exchange, [] {}) || exchange->failed())
    state.SkipWithError("route did not complete synchronously");
}

void BM_RouteHeaderPredicate(benchmark::State& state) {
  auto& f = Fixture::get();
  std::int64_t i = 0;
  for (auto _ : state) {
    busway::Message m;
    m.headers().set("priority", (++i & 1) ? "high" : "low");
    auto exchange = busway::makeExchange(std::move(m));
    run(*f.a, exchange, state);
    benchmark::DoNotOptimize(exchange->stopped);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RouteHeaderPredicate);

void BM_RouteJsonPathPredicate1KB(benchmark::State& state) {
  auto& f = Fixture::get();
  const std::string json = orderJson();
  for (auto _ : state) {
    busway::Message m(busway::Body::make(json, "application/json"));
    auto exchange = busway::makeExchange(std::move(m));
    run(*f.b, exchange, state);
    benchmark::DoNotOptimize(exchange->stopped);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(json.size()));
  state.counters["body_bytes"] = static_cast<double>(json.size());
}
BENCHMARK(BM_RouteJsonPathPredicate1KB);

void BM_RouteFiveSteps(benchmark::State& state) {
  auto& f = Fixture::get();
  for (auto _ : state) {
    busway::Message m;
    m.headers().set("priority", "high");
    m.headers().set("customer", "C-77");
    auto exchange = busway::makeExchange(std::move(m));
    run(*f.c, exchange, state);
    benchmark::DoNotOptimize(exchange->message);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RouteFiveSteps);

}  // namespace
