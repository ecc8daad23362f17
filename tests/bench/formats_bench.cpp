// Data format codecs: CSV and HL7 v2 parsing (unmarshal) and writing (marshal), in
// messages/s and MB/s (bytes of the wire format). Run by hand on the release preset:
//   cmake --preset release && cmake --build --preset release --target busway_formats_bench
//   build/release/tests/bench/busway_formats_bench --benchmark_counters_tabular=true

#include <cstddef>
#include <string>

#include <benchmark/benchmark.h>

#include "busway_formats/test_support.hpp"
#include "csv_codec.hpp"
#include "hl7_codec.hpp"

namespace {

namespace csv = busway::formats::csv;
namespace hl7 = busway::formats::hl7;

const std::string kData = BUSWAY_SOURCE_DIR "/tests/data/formats/";

// An export of `rows` orders like tests/data/formats/orders.csv: quoted fields with
// delimiters, doubled quotes and line breaks in one row out of four.
std::string csvExport(std::size_t rows) {
  std::string out = "order_id,customer,ship_to,note,amount,currency,ordered_at\r\n";
  for (std::size_t i = 0; i < rows; ++i) {
    const std::string n = std::to_string(100000 + i);
    out += n + ",\"Customer " + n + ", Ltd\",";
    out += (i % 4 == 0) ? "\"12 High St\r\nFlat " + n + "\r\nLeeds\"" : "Hauptstraße " + n;
    out += (i % 3 == 0) ? ",\"He said \"\"ASAP\"\"\"," : ",,";
    out += std::to_string(i % 1000) + "." + std::to_string(10 + i % 90) +
           ",EUR,2026-11-28T09:15:00Z\r\n";
  }
  return out;
}

void rates(benchmark::State& state, std::size_t bytes) {
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
  state.counters["messages/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["MB/s"] = benchmark::Counter(static_cast<double>(state.iterations() * bytes) / 1e6,
                                              benchmark::Counter::kIsRate);
}

void CsvUnmarshal(benchmark::State& state) {
  const std::string text = csvExport(static_cast<std::size_t>(state.range(0)));
  const csv::Options options;
  for (auto _ : state) benchmark::DoNotOptimize(csv::unmarshal(text, options));
  rates(state, text.size());
  state.counters["rows/s"] = benchmark::Counter(
      static_cast<double>(state.iterations() * state.range(0)), benchmark::Counter::kIsRate);
}
BENCHMARK(CsvUnmarshal)->Arg(1)->Arg(100)->Arg(10000);

void CsvParseOnly(benchmark::State& state) {  // the streaming state machine without JSON output
  const std::string text = csvExport(static_cast<std::size_t>(state.range(0)));
  std::size_t fields = 0;
  for (auto _ : state) {
    csv::Parser parser({}, [&](const csv::Record& r) { fields += r.fields.size(); });
    parser.feed(text);
    parser.finish();
  }
  benchmark::DoNotOptimize(fields);
  rates(state, text.size());
}
BENCHMARK(CsvParseOnly)->Arg(10000);

void CsvMarshal(benchmark::State& state) {
  const std::string text = csvExport(static_cast<std::size_t>(state.range(0)));
  const std::string json = csv::unmarshal(text, {});
  for (auto _ : state) benchmark::DoNotOptimize(csv::marshal(json, {}));
  rates(state, text.size());  // MB/s of CSV written
}
BENCHMARK(CsvMarshal)->Arg(100)->Arg(10000);

void Hl7Unmarshal(benchmark::State& state, const char* file) {
  const std::string message = busway::formats::testing::readFile(kData + file);
  const hl7::Options options;
  for (auto _ : state) benchmark::DoNotOptimize(hl7::unmarshal(message, options));
  rates(state, message.size());
}
BENCHMARK_CAPTURE(Hl7Unmarshal, adt_a01, "adt_a01.hl7");
BENCHMARK_CAPTURE(Hl7Unmarshal, oru_r01, "oru_r01.hl7");

void Hl7Marshal(benchmark::State& state, const char* file) {
  const std::string message = busway::formats::testing::readFile(kData + file);
  const std::string json = hl7::unmarshal(message, {});
  for (auto _ : state) benchmark::DoNotOptimize(hl7::marshal(json, {}));
  rates(state, message.size());
}
BENCHMARK_CAPTURE(Hl7Marshal, adt_a01, "adt_a01.hl7");
BENCHMARK_CAPTURE(Hl7Marshal, oru_r01, "oru_r01.hl7");

}  // namespace
