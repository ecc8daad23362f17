// Predicate evaluation rates on realistic messages. Run a release build:
//   expression_bench --benchmark_min_time=1
#include <string>

#include <benchmark/benchmark.h>

#include "busway/expression/expression.hpp"

namespace busway {
namespace {

// About 1 KB, with the fields the predicate reads after the item list, so the lookup has
// to skip most of the document.
std::string orderBody() {
  std::string items;
  for (int i = 0; i < 6; ++i) {
    if (i) items += ',';
    items += R"({"sku":"SKU-)" + std::to_string(1000 + i) + R"(","name":"Widget number )" +
             std::to_string(i) + R"(","qty":)" + std::to_string(i + 1) + R"(,"price":)" +
             std::to_string(9.95 + i) + "}";
  }
  std::string body =
      R"({"order":{"id":"ORD-2024-000173","created":"2024-05-01T12:34:56Z",)"
      R"("customer":{"id":"C-88231","name":"Ada Lovelace","email":"ada@example.com",)"
      R"("address":{"street":"Keizersgracht 123","city":"Amsterdam","zip":"1015 CJ"}},)"
      R"("items":[)" +
      items +
      R"(],"notes":"Leave the parcel with the neighbours if nobody is home.",)"
      R"("total":149.5,"currency":"EUR","country":"NL"}})";
  return body;
}

const std::string& body1k() {
  static const std::string body = [] {
    std::string b = orderBody();
    // Pad to ~1 KB with a field the predicate does not read.
    b.insert(b.size() - 2,
             R"(,"padding":")" + std::string(b.size() < 1010 ? 1010 - b.size() : 0, 'x') + "\"");
    return b;
  }();
  return body;
}

constexpr const char* kJsonPredicate = "$.order.total > 100 and $.order.country == 'NL'";

ExpressionPtr compileOrDie(const char* language, const char* text) {
  auto c = compileExpression(language, text);
  if (!c.expression) std::abort();
  return c.expression;
}

void expectTrue(const Result<bool>& r, benchmark::State& state) {
  if (!r.ok() || !*r) state.SkipWithError("predicate did not hold");
}

Message headerMessage() {
  Message m;
  m.headers().set("content-type", std::string("application/json"));
  m.headers().set("x-request-id", std::string("9f2c3a"));
  m.headers().set("source", std::string("webshop"));
  m.headers().set("x-tenant", std::string("acme"));
  m.headers().set("x-retries", std::int64_t{2});
  m.headers().set("priority", std::string("high"));
  return m;
}

// (a) header predicate on a message with six headers.
void BM_HeaderPredicate(benchmark::State& state) {
  auto e = compileOrDie("header", "priority == 'high' and x-retries < 5");
  Exchange ex(headerMessage());
  for (auto _ : state) {
    auto r = e->test(ex);
    benchmark::DoNotOptimize(r);
  }
  expectTrue(e->test(ex), state);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HeaderPredicate);

// (b) JSON path predicate on a body nothing has parsed: the On-Demand path. The body is
// reused, but the fast path caches nothing in it, so every iteration reads it afresh.
void BM_JsonPredicate_UnparsedBody(benchmark::State& state) {
  auto e = compileOrDie("jsonpath", kJsonPredicate);
  Exchange ex(Message(Body::make(body1k(), std::string(media::json))));
  for (auto _ : state) {
    auto r = e->test(ex);
    benchmark::DoNotOptimize(r);
  }
  expectTrue(e->test(ex), state);
  if (ex.message.body().jsonParsed()) state.SkipWithError("fast path built the DOM");
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(body1k().size()));
}
BENCHMARK(BM_JsonPredicate_UnparsedBody);

// (b') the same, creating a new Body, Message and Exchange for every evaluation, as a
// consumer does for each incoming message.
void BM_JsonPredicate_FreshMessage(benchmark::State& state) {
  auto e = compileOrDie("jsonpath", kJsonPredicate);
  for (auto _ : state) {
    Exchange ex(Message(Body::make(body1k(), std::string(media::json))));
    auto r = e->test(ex);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_JsonPredicate_FreshMessage);

// Baseline for the line above: the cost of the message alone.
void BM_FreshMessageOnly(benchmark::State& state) {
  for (auto _ : state) {
    Exchange ex(Message(Body::make(body1k(), std::string(media::json))));
    benchmark::DoNotOptimize(ex);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FreshMessageOnly);

// What the fast path avoids: building the nlohmann DOM for each fresh message.
void BM_JsonPredicate_FreshMessageWithDom(benchmark::State& state) {
  auto e = compileOrDie("jsonpath", kJsonPredicate);
  for (auto _ : state) {
    Exchange ex(Message(Body::make(body1k(), std::string(media::json))));
    benchmark::DoNotOptimize(ex.message.body().json());
    auto r = e->test(ex);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_JsonPredicate_FreshMessageWithDom);

// A body whose DOM is already cached (a second predicate on the same message).
void BM_JsonPredicate_CachedDom(benchmark::State& state) {
  auto e = compileOrDie("jsonpath", kJsonPredicate);
  Exchange ex(Message(Body::make(body1k(), std::string(media::json))));
  (void)ex.message.body().json();
  for (auto _ : state) {
    auto r = e->test(ex);
    benchmark::DoNotOptimize(r);
  }
  expectTrue(e->test(ex), state);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_JsonPredicate_CachedDom);

void BM_Template(benchmark::State& state) {
  auto t = Template::compile("order ${$.order.id} for ${header.x-tenant}").value();
  Message m = headerMessage();
  m.setBody(body1k(), std::string(media::json));
  Exchange ex(std::move(m));
  for (auto _ : state) {
    auto r = t.render(ex);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Template);

}  // namespace
}  // namespace busway
