// Compiled expressions are shared by every worker thread of a route.
#include <atomic>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "busway/expression/expression.hpp"

namespace busway {
namespace {

std::string orderJson(int i) {
  return R"({"order":{"id":)" + std::to_string(i) + R"(,"total":)" + std::to_string(i % 200) +
         R"(,"country":")" + (i % 3 == 0 ? "NL" : "DE") +
         R"(","items":[{"sku":"a"},{"sku":"b"}]}})";
}

TEST(ConcurrencyTest, ExpressionsEvaluateFromManyThreads) {
  auto predicate =
      compileExpression("jsonpath", "$.order.total > 100 and $.order.country == 'NL'").expression;
  auto wildcard = compileExpression("jsonpath", "$.order.items[*].sku").expression;
  auto header = compileExpression("header", "kind == 'order' and n >= 0").expression;
  auto simple = compileExpression("simple", "$.order.id").expression;
  auto xpath = compileExpression("xpath", "count(/o/i)").expression;
  auto tmpl = Template::compile("${$.order.id}-${header.kind}").value();
  ASSERT_TRUE(predicate && wildcard && header && simple && xpath);

  // One body shared by all threads too, as split and multicast do.
  auto shared_body = Body::make(orderJson(300), std::string(media::json));
  auto shared_xml = Body::make("<o><i/><i/><i/></o>", std::string(media::xml));

  constexpr int kThreads = 4;
  constexpr int kIterations = 2000;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kIterations; ++i) {
        int n = t * kIterations + i;
        Message m(Body::make(orderJson(n), std::string(media::json)));
        m.headers().set("kind", std::string("order"));
        m.headers().set("n", std::int64_t{n});
        Exchange ex(std::move(m));
        bool expected = (n % 200) > 100 && n % 3 == 0;
        auto r = predicate->test(ex);
        if (!r.ok() || *r != expected) ++failures;
        auto id = simple->evaluate(ex);
        if (!id.ok() || !valuesEqual(*id, Value(std::int64_t{n}))) ++failures;
        auto h = header->test(ex);
        if (!h.ok() || !*h) ++failures;
        auto rendered = tmpl.render(ex);
        if (!rendered.ok() || *rendered != std::to_string(n) + "-order") ++failures;

        Exchange shared{Message(shared_body)};
        auto skus = wildcard->select(shared);
        if (!skus.ok() || skus->size() != 2) ++failures;
        auto total = predicate->test(shared);
        if (!total.ok() || *total) ++failures;  // 300 % 200 = 100: not > 100
        auto count = xpath->evaluate(Exchange(Message(shared_xml)));
        if (!count.ok() || !valuesEqual(*count, Value(std::int64_t{3}))) ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
}

}  // namespace
}  // namespace busway
