// busway side of tests/bench/durable_queue_bench.sh: P producer threads send N messages of
// SIZE bytes to queue:bench?durable=true through the queue's producer, each keeping at
// most WINDOW unanswered. A message counts when its producer is answered, which for a
// durable queue is after the fdatasync of the batch that holds it (group commit).
//
//   durable_queue_load DATA_DIR MESSAGES PRODUCERS WINDOW SIZE [log|rawlog|sqlite]
//
// `log` is the whole path: queue producer, channel, segment log. `rawlog` and `sqlite`
// compare the two storage engines alone, with the same producers and the same encoded
// messages: store::SegmentLog::append, and
// messages inserted through store::DeadLetterStore (SQLite in WAL mode, synchronous=FULL,
// one transaction per batch of whatever arrived meanwhile: group commit as well).
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "busway/endpoint/component_registry.hpp"
#include "busway/runtime/bus_context.hpp"
#include "busway/store/dead_letters.hpp"
#include "busway/store/message_codec.hpp"

int main(int argc, char** argv) {
  using namespace busway;
  if (argc != 6 && argc != 7) {
    std::fprintf(
        stderr, "usage: durable_queue_load DATA_DIR MESSAGES PRODUCERS WINDOW SIZE [log|sqlite]\n");
    return 2;
  }
  const std::string dir = argv[1];
  const long messages = std::atol(argv[2]);
  const int producers = std::atoi(argv[3]);
  const long window = std::atol(argv[4]);
  const std::string body(static_cast<std::size_t>(std::atol(argv[5])), 'x');
  const std::string engine = argc == 7 ? argv[6] : "log";

  BusContext context(2);
  store::LogOptions options;
  options.max_messages = static_cast<std::uint64_t>(messages) + 1;
  options.max_bytes = static_cast<std::uint64_t>(messages + 1) * (body.size() + 256);
  context.setDataDir(dir, options);
  auto endpoint = context.components().resolve(
      "queue:bench?durable=true&capacity=100000000&max-bytes=100GB&when-full=reject");
  if (!endpoint) {
    std::fprintf(stderr, "durable_queue_load: %s\n", endpoint.error().message.c_str());
    return 1;
  }
  (*endpoint)->activate();
  auto producer = (*endpoint)->createProducer();
  if (!producer) return 1;
  std::unique_ptr<store::DeadLetterStore> sqlite;
  if (engine == "sqlite") {
    auto opened = store::DeadLetterStore::open(dir + "/sqlite-candidate.db", true);
    if (!opened) {
      std::fprintf(stderr, "durable_queue_load: %s\n", opened.error().message.c_str());
      return 1;
    }
    sqlite = std::move(*opened);
  }
  std::atomic<long> ok{0}, failed{0};
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      const long mine = messages / producers + (p < messages % producers ? 1 : 0);
      std::mutex mutex;
      std::condition_variable cv;
      long outstanding = 0;
      for (long i = 0; i < mine; ++i) {
        {
          std::unique_lock lock(mutex);
          cv.wait(lock, [&] { return outstanding < window; });
          ++outstanding;
        }
        Message message;
        message.setBody(body, "application/octet-stream");
        const auto finished = [&](bool good) {
          (good ? ok : failed).fetch_add(1);
          std::lock_guard lock(mutex);
          --outstanding;
          cv.notify_one();
        };
        if (engine == "rawlog") {
          context.queueLog().value()->append(
              "bench", store::encodeMessage(message),
              [finished](Result<std::uint64_t> seq) { finished(seq.ok()); });
          continue;
        }
        if (sqlite) {
          store::DeadLetter row;
          row.queue = "bench";
          row.message_id = message.id();
          row.payload = store::encodeMessage(message);
          sqlite->add(std::move(row), [finished](Result<std::int64_t> id) { finished(id.ok()); });
          continue;
        }
        auto exchange = makeExchange(std::move(message));
        runToCompletion(**producer, exchange,
                        [finished, exchange] { finished(!exchange->failed()); });
      }
      std::unique_lock lock(mutex);
      cv.wait(lock, [&] { return outstanding == 0; });
    });
  }
  for (auto& t : threads) t.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const auto stats = context.queueLog().value()->stats();
  std::printf(
      "busway engine=%s messages=%ld failed=%ld seconds=%.3f msgs_per_s=%.0f batches=%llu\n",
      engine.c_str(), ok.load(), failed.load(), seconds, static_cast<double>(ok.load()) / seconds,
      static_cast<unsigned long long>(stats.batches));
  return failed.load() == 0 ? 0 : 1;
}
