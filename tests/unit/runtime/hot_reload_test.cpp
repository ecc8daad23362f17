// Hot reload under load: the table file is rewritten while 10,000 messages flow through a
// queue, and the file watcher swaps the routes. Nothing may be lost or processed twice.
#include <QCoreApplication>
#include <atomic>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "busway/runtime/table_reloader.hpp"
#include "child_process.hpp"
#include "route_harness.hpp"

namespace busway::testing {
namespace {

using namespace std::chrono_literals;

QCoreApplication& app() {
  static int argc = 1;
  static char name[] = "busway-tests";
  static char* argv[] = {name, nullptr};
  static QCoreApplication instance(argc, argv);
  return instance;
}

std::string table(int version) {
  return RouteHarness::table(
      R"(<route id="work"><from uri="queue:in?capacity=20000&amp;consumers=4"/>)"
      R"(<set-header name="version" constant=")" +
      std::to_string(version) +
      R"("/>)"
      R"(<to uri="mock:out?delay=1ms"/></route>)");
}

// Pumps the Qt event loop (file watcher, debounce timer) until `done` or the timeout.
template <typename Predicate>
bool pumpUntil(Predicate done, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    app().processEvents(QEventLoop::AllEvents, 20);
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

struct LoadRun {
  std::vector<std::string> sent;
  std::atomic<std::size_t> count{0};
};

// Sends `n` messages into queue:in from another thread, spread over time.
std::thread produce(RouteHarness& h, LoadRun& run, std::size_t n) {
  run.sent.resize(n);
  return std::thread([&h, &run, n] {
    for (std::size_t i = 0; i < n; ++i) {
      Message m;
      run.sent[i] = m.id();
      auto exchange = h.send("queue:in", std::move(m));
      EXPECT_FALSE(exchange->failed()) << exchange->error->describe();
      run.count = i + 1;
      if (i % 50 == 0) std::this_thread::sleep_for(2ms);
    }
  });
}

void expectEachExactlyOnce(const LoadRun& run, const std::vector<Message>& received) {
  std::multiset<std::string> ids;
  for (const auto& m : received) ids.insert(m.id());
  std::size_t missing = 0;
  std::size_t duplicated = 0;
  for (const auto& id : run.sent) {
    const auto n = ids.count(id);
    if (n == 0) ++missing;
    if (n > 1) ++duplicated;
  }
  EXPECT_EQ(missing, 0u);
  EXPECT_EQ(duplicated, 0u);
  EXPECT_EQ(received.size(), run.sent.size());
}

TEST(HotReload, SwapInTheMiddleOfTenThousandMessagesLosesNoneAndDuplicatesNone) {
  app();
  TempDir dir;
  const std::string path = dir.write("routes.xml", table(1));
  RouteHarness h(4);
  TableReloader reloader(h.bus(), {path});
  ASSERT_TRUE(reloader.reload("start"));
  reloader.watch();

  LoadRun run;
  constexpr std::size_t kMessages = 10'000;
  std::thread producer = produce(h, run, kMessages);
  ASSERT_TRUE(pumpUntil([&] { return run.count >= kMessages / 3; }, 30s));
  dir.write("routes.xml", table(2));
  ASSERT_TRUE(pumpUntil([&] { return reloader.reloads() == 2; }, 10s))
      << "the file change was not picked up";
  const std::size_t sent_at_reload = run.count;
  producer.join();
  ASSERT_TRUE(h.mock("out").waitFor(kMessages, 30s))
      << "only " << h.mock("out").count() << " arrived";
  // Give stragglers (duplicates) a chance to show up before counting.
  std::this_thread::sleep_for(200ms);

  const auto received = h.mock("out").messages();
  expectEachExactlyOnce(run, received);
  std::size_t v1 = 0;
  std::size_t v2 = 0;
  for (const auto& m : received) (m.headers().text("version") == "1" ? v1 : v2)++;
  EXPECT_GT(v1, 0u);
  EXPECT_GT(v2, 0u);
  EXPECT_LT(sent_at_reload, kMessages) << "the reload must happen in the middle of the run";
  EXPECT_EQ(reloader.rejected(), 0u);
}

TEST(HotReload, AnInvalidTableLeavesTheOldRoutesRunning) {
  app();
  TempDir dir;
  const std::string path = dir.write("routes.xml", table(1));
  RouteHarness h(4);
  TableReloader reloader(h.bus(), {path});
  ASSERT_TRUE(reloader.reload("start"));
  reloader.watch();

  LoadRun run;
  constexpr std::size_t kMessages = 3'000;
  std::thread producer = produce(h, run, kMessages);
  ASSERT_TRUE(pumpUntil([&] { return run.count >= kMessages / 3; }, 30s));
  dir.write(
      "routes.xml",
      RouteHarness::table(
          R"(<route id="work"><from uri="queue:in?capacity=lots"/><to uri="mock:out"/></route>)"));
  ASSERT_TRUE(pumpUntil([&] { return reloader.rejected() == 1; }, 10s))
      << "the broken table was not noticed";
  producer.join();
  ASSERT_TRUE(h.mock("out").waitFor(kMessages, 30s))
      << "only " << h.mock("out").count() << " arrived";
  std::this_thread::sleep_for(100ms);

  const auto received = h.mock("out").messages();
  expectEachExactlyOnce(run, received);
  for (const auto& m : received) EXPECT_EQ(m.headers().text("version"), "1");
  EXPECT_EQ(h.bus().generation(), 1u);
  EXPECT_EQ(reloader.reloads(), 1u);
}

}  // namespace
}  // namespace busway::testing
