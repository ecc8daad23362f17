#include "busway/store/segment_log.hpp"

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include <gtest/gtest.h>

#include "busway/store/crc32c.hpp"
#include "busway/store/message_codec.hpp"
#include "child_process.hpp"

namespace busway::store {
namespace {

namespace fs = std::filesystem;

// Appends and waits for the sync; returns the sequence number (0 on failure).
std::uint64_t appendSync(SegmentLog& log, const std::string& queue, std::string payload,
                         Error* error = nullptr) {
  std::promise<Result<std::uint64_t>> promise;
  log.append(queue, std::move(payload),
             [&](Result<std::uint64_t> r) { promise.set_value(std::move(r)); });
  auto r = promise.get_future().get();
  if (!r) {
    if (error != nullptr) *error = r.error();
    return 0;
  }
  return *r;
}

std::vector<fs::path> segments(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".seg") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(Crc32c, KnownValues) {
  EXPECT_EQ(crc32c("123456789"), 0xE3069283U);  // the standard check value
  EXPECT_EQ(crc32c(""), 0U);
  // Incremental equals one-shot.
  EXPECT_EQ(crc32c("6789", crc32c("12345")), crc32c("123456789"));
  const std::string long_text(1000, 'x');
  EXPECT_EQ(crc32c(long_text), crc32c(long_text.substr(500), crc32c(long_text.substr(0, 500))));
}

TEST(MessageCodec, RoundTripsEverythingButHistory) {
  Message m;
  m.setBody("{\"a\":1}", "application/json");
  m.setCorrelationId("corr-1");
  m.headers().set("s", std::string("text"));
  m.headers().set("i", std::int64_t{-42});
  m.headers().set("d", 2.5);
  m.headers().set("b", true);
  m.headers().set("n", std::monostate{});
  auto back = decodeMessage(encodeMessage(m));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->id(), m.id());
  EXPECT_EQ(back->correlationId(), "corr-1");
  EXPECT_EQ(back->bodyText(), "{\"a\":1}");
  EXPECT_EQ(back->body().mediaType(), "application/json");
  EXPECT_EQ(std::get<std::string>(*back->headers().find("s")), "text");
  EXPECT_EQ(std::get<std::int64_t>(*back->headers().find("i")), -42);
  EXPECT_EQ(std::get<double>(*back->headers().find("d")), 2.5);
  EXPECT_EQ(std::get<bool>(*back->headers().find("b")), true);
  EXPECT_TRUE(std::holds_alternative<std::monostate>(*back->headers().find("n")));
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::milliseconds>(back->timestamp() - m.timestamp())
                .count(),
            0);
  EXPECT_FALSE(decodeMessage(encodeMessage(m).substr(0, 10)).ok());
}

TEST(SegmentLog, UnacknowledgedMessagesComeBackInOrderAfterReopen) {
  testing::TempDir tmp;
  std::vector<std::uint64_t> seqs;
  {
    auto log = SegmentLog::open(tmp.path(), {});
    ASSERT_TRUE(log.ok()) << log.error().message;
    for (int i = 0; i < 10; ++i)
      seqs.push_back(appendSync(**log, i % 2 == 0 ? "a" : "b", "m" + std::to_string(i)));
    (*log)->ack(seqs[0]);
    (*log)->ack(seqs[3]);
    (*log)->flush();
  }
  RecoveryReport report;
  auto log = SegmentLog::open(tmp.path(), {}, &report);
  ASSERT_TRUE(log.ok()) << log.error().message;
  EXPECT_TRUE(report.damage.empty());
  EXPECT_EQ(report.live, 8U);
  auto a = (*log)->takeRecovered("a");
  auto b = (*log)->takeRecovered("b");
  ASSERT_EQ(a.size(), 4U);
  ASSERT_EQ(b.size(), 4U);
  EXPECT_EQ(a[0].payload, "m2");
  EXPECT_EQ(a[3].payload, "m8");
  EXPECT_EQ(b[0].payload, "m1");
  EXPECT_EQ(b[1].payload, "m5");
  EXPECT_TRUE((*log)->takeRecovered("a").empty());  // handed out once
  // New sequence numbers continue after the old ones.
  EXPECT_GT(appendSync(**log, "a", "new"), seqs.back());
}

TEST(SegmentLog, GroupCommitSyncsManyConcurrentAppendsTogether) {
  testing::TempDir tmp;
  auto log = SegmentLog::open(tmp.path(), {});
  ASSERT_TRUE(log.ok());
  constexpr int kThreads = 8, kEach = 200;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Each producer keeps a window of 16 messages in flight, like pipelined senders.
      std::mutex m;
      std::condition_variable cv;
      int outstanding = 0;
      for (int i = 0; i < kEach; ++i) {
        {
          std::unique_lock lock(m);
          cv.wait(lock, [&] { return outstanding < 16; });
          ++outstanding;
        }
        (*log)->append("q" + std::to_string(t), std::string(1024, 'x'),
                       [&](Result<std::uint64_t> r) {
                         if (r) ok.fetch_add(1);
                         std::lock_guard lock(m);
                         --outstanding;
                         cv.notify_one();
                       });
      }
      std::unique_lock lock(m);
      cv.wait(lock, [&] { return outstanding == 0; });
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), kThreads * kEach);
  const auto stats = (*log)->stats();
  EXPECT_EQ(stats.appended, static_cast<std::uint64_t>(kThreads * kEach));
  // Group commit: far fewer syncs than messages.
  EXPECT_LT(stats.batches, stats.appended / 4) << "batches=" << stats.batches;
}

TEST(SegmentLog, FullStoreRefusesWithRejectedUntilAnAckFreesRoom) {
  testing::TempDir tmp;
  LogOptions options;
  options.max_messages = 3;
  options.max_bytes = 1000;
  auto log = SegmentLog::open(tmp.path(), options);
  ASSERT_TRUE(log.ok());
  const auto first = appendSync(**log, "q", "1");
  appendSync(**log, "q", "2");
  appendSync(**log, "q", "3");
  Error error;
  EXPECT_EQ(appendSync(**log, "q", "4", &error), 0U);
  EXPECT_EQ(error.kind, ErrorKind::rejected);
  EXPECT_NE(error.message.find("is full"), std::string::npos) << error.message;
  (*log)->ack(first);
  EXPECT_NE(appendSync(**log, "q", "4"), 0U);
  // Bytes count too.
  EXPECT_EQ(appendSync(**log, "q", std::string(2000, 'x'), &error), 0U);
  EXPECT_EQ(error.kind, ErrorKind::rejected);
}

TEST(SegmentLog, SecondOpenOfTheSameFolderIsRefused) {
  testing::TempDir tmp;
  auto log = SegmentLog::open(tmp.path(), {});
  ASSERT_TRUE(log.ok());
  auto second = SegmentLog::open(tmp.path(), {});
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.error().message.find("in use"), std::string::npos);
}

TEST(SegmentLog, TornTailIsCutOffAndEverythingBeforeItRecovered) {
  testing::TempDir tmp;
  {
    auto log = SegmentLog::open(tmp.path(), {});
    ASSERT_TRUE(log.ok());
    for (int i = 0; i < 20; ++i) appendSync(**log, "q", "message-" + std::to_string(i));
  }
  const auto files = segments(tmp.path());
  ASSERT_FALSE(files.empty());
  fs::path last;
  for (const auto& f : files)
    if (fs::file_size(f) > 0) last = f;
  const auto size = fs::file_size(last);
  fs::resize_file(last, size - 5);  // the last record is cut short
  {
    auto report = SegmentLog::verify(tmp.path(), false);
    ASSERT_TRUE(report.ok());
    ASSERT_EQ(report->damage.size(), 1U);
    EXPECT_TRUE(report->damage[0].tail);
    EXPECT_EQ(report->live, 19U);
  }
  RecoveryReport report;
  auto log = SegmentLog::open(tmp.path(), {}, &report);
  ASSERT_TRUE(log.ok());
  ASSERT_EQ(report.damage.size(), 1U);
  EXPECT_TRUE(report.damage[0].repaired);
  EXPECT_NE(report.describe().find("offset"), std::string::npos);
  const auto recovered = (*log)->takeRecovered("q");
  ASSERT_EQ(recovered.size(), 19U);
  EXPECT_EQ(recovered.back().payload, "message-18");
  log->reset();
  // The tail was cut: the next open is clean.
  auto again = SegmentLog::verify(tmp.path(), false);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->damage.empty()) << again->describe();
}

TEST(SegmentLog, ChecksumCatchesAFlippedByteAndLaterRecordsSurvive) {
  testing::TempDir tmp;
  {
    auto log = SegmentLog::open(tmp.path(), {});
    ASSERT_TRUE(log.ok());
    for (int i = 0; i < 10; ++i) appendSync(**log, "q", "payload-number-" + std::to_string(i));
  }
  fs::path file;
  for (const auto& f : segments(tmp.path()))
    if (fs::file_size(f) > 0) file = f;
  // Flip one byte inside the payload of the fourth record (records are equal-sized).
  const auto record = fs::file_size(file) / 10;
  {
    std::fstream io(file, std::ios::in | std::ios::out | std::ios::binary);
    io.seekp(static_cast<std::streamoff>(record * 3 + record - 3));
    io.put('#');
  }
  auto report = SegmentLog::verify(tmp.path(), false);
  ASSERT_TRUE(report.ok());
  ASSERT_EQ(report->damage.size(), 1U) << report->describe();
  EXPECT_FALSE(report->damage[0].tail);
  EXPECT_EQ(report->damage[0].offset, record * 3);
  EXPECT_EQ(report->live, 9U);
  // repair rewrites the segment without the damaged record.
  auto repaired = SegmentLog::verify(tmp.path(), true);
  ASSERT_TRUE(repaired.ok());
  auto clean = SegmentLog::verify(tmp.path(), false);
  ASSERT_TRUE(clean.ok());
  EXPECT_TRUE(clean->damage.empty());
  EXPECT_EQ(clean->live, 9U);
}

TEST(SegmentLog, FullyAcknowledgedSegmentsAreDeleted) {
  testing::TempDir tmp;
  LogOptions options;
  options.segment_bytes = 4096;
  auto log = SegmentLog::open(tmp.path(), options);
  ASSERT_TRUE(log.ok());
  std::vector<std::uint64_t> seqs;
  for (int i = 0; i < 40; ++i) seqs.push_back(appendSync(**log, "q", std::string(500, 'a')));
  EXPECT_GT(segments(tmp.path()).size(), 3U);
  for (auto s : seqs) (*log)->ack(s);
  (*log)->flush();
  appendSync(**log, "q", "last");  // one more batch after the acks
  EXPECT_LE(segments(tmp.path()).size(), 2U);
  EXPECT_EQ((*log)->stats().live_messages, 1U);
}

}  // namespace
}  // namespace busway::store
