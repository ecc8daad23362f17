#pragma once

#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "busway/util/result.hpp"

namespace busway::store {

// Limits and tuning of the queue log.
struct LogOptions {
  std::uint64_t segment_bytes = 64ull << 20;  // a new segment file is started past this size
  std::uint64_t max_messages = 1'000'000;     // live (unacknowledged) messages in the whole store
  std::uint64_t max_bytes = 1ull << 30;       // their payload bytes
  bool sync = true;                           // fdatasync every batch (off only for tests of logic)
};

// One damaged stretch of a segment found when the log was read.
struct Damage {
  std::string file;
  std::uint64_t offset = 0;  // where the damage starts
  std::uint64_t bytes = 0;   // how many bytes could not be read as records
  std::string reason;
  bool tail = false;      // nothing readable after it (a torn last write)
  bool repaired = false;  // the segment was truncated at `offset`
};

// What reading the log found.
struct RecoveryReport {
  std::uint64_t segments = 0;
  std::uint64_t records = 0;   // intact records read
  std::uint64_t messages = 0;  // of which message records
  std::uint64_t live = 0;      // messages not acknowledged: they are delivered again
  std::uint64_t live_bytes = 0;
  std::vector<Damage> damage;
  std::uint64_t damagedBytes() const;
  // One line per damage, plus the totals.
  std::string describe() const;
};

struct LogStats {
  std::uint64_t live_messages = 0;
  std::uint64_t live_bytes = 0;
  std::uint64_t segments = 0;
  std::uint64_t batches = 0;   // group commits (one fdatasync each)
  std::uint64_t appended = 0;  // message records written
};

// A message recovered from the log, not yet acknowledged.
struct StoredMessage {
  std::uint64_t seq = 0;
  std::string payload;
};

// The durable queue log: an append-only sequence of segment files in one folder. Each
// record is [length u32][crc32c u32][type u8][seq u64][body], checksummed over type, seq
// and body. Message records carry the queue name and the payload; ack records name the
// sequence number of the message they remove.
//
// Writes go through one writer thread that gathers everything appended meanwhile into one
// write() and one fdatasync() (group commit): N concurrent producers cost one sync, not N.
// A message's `done` runs after the sync that made it durable. Acks ride along with the
// next batch (a crash before then delivers the message again: at least once).
//
// Segments are deleted from the oldest while every message in them is acknowledged, so an
// ack never outlives the message it removes in a way that matters. On open, the log is read,
// each record's checksum verified; a damaged stretch is skipped (what follows it is read
// again from the next intact record) and reported; a damaged tail is truncated when
// `repair` is set. New records always go to a new segment.
//
// Thread-safe. The callbacks run on the writer thread: keep them short (post work).
class SegmentLog {
 public:
  using AppendDone = std::function<void(Result<std::uint64_t>)>;

  static Result<std::unique_ptr<SegmentLog>> open(const std::filesystem::path& dir,
                                                  LogOptions options,
                                                  RecoveryReport* report = nullptr);
  // Reads the log without changing it (repair=false) or truncates damaged tails and
  // rewrites segments with damage in the middle (repair=true). For `busway store verify|repair`.
  static Result<RecoveryReport> verify(const std::filesystem::path& dir, bool repair);
  // Lists the live messages of a stopped or running bus's log (read-only).
  static Result<std::map<std::string, std::vector<StoredMessage>>> readLive(
      const std::filesystem::path& dir);

  ~SegmentLog();
  SegmentLog(const SegmentLog&) = delete;
  SegmentLog& operator=(const SegmentLog&) = delete;

  // Appends a message of `queue`. `done` gets its sequence number once it is on disk, or an
  // error: `rejected` at once (on the caller's thread) when the store is full, `transient`
  // when the disk write failed.
  void append(std::string_view queue, std::string payload, AppendDone done);
  // The message `seq` was handled: it will not be delivered again.
  void ack(std::uint64_t seq);
  // Blocks until everything appended so far is on disk.
  void flush();

  // Messages of `queue` that were live when the log was opened, in order; each call
  // hands them out once.
  std::vector<StoredMessage> takeRecovered(const std::string& queue);
  std::vector<std::string> recoveredQueues() const;

  LogStats stats() const;
  const std::filesystem::path& dir() const noexcept { return dir_; }
  const LogOptions& options() const noexcept { return options_; }

 private:
  struct Segment {
    std::filesystem::path path;
    std::uint64_t live = 0;
  };
  struct Pending {
    std::uint8_t type;
    std::uint64_t seq;
    std::string queue;
    std::string payload;  // message: payload; ack: empty (target in `target`)
    std::uint64_t target = 0;
    AppendDone done;
  };

  SegmentLog(std::filesystem::path dir, LogOptions options);
  Result<void> recover(RecoveryReport& report);
  Result<void> openSegment(std::uint64_t first_seq);
  void writerLoop();
  void removeDeadSegments();  // with mutex_ held
  std::map<std::uint64_t, Segment>::iterator segmentOf(std::uint64_t seq);

  const std::filesystem::path dir_;
  const LogOptions options_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable synced_;
  std::vector<Pending> pending_;
  bool stopping_ = false;
  std::uint64_t next_seq_ = 1;
  std::uint64_t written_seq_ = 0;  // everything up to here is on disk
  std::uint64_t live_messages_ = 0;
  std::uint64_t live_bytes_ = 0;
  std::unordered_map<std::uint64_t, std::uint32_t> live_sizes_;  // seq -> payload bytes
  std::map<std::uint64_t, Segment> segments_;                    // first seq -> segment
  std::map<std::string, std::vector<StoredMessage>> recovered_;
  std::uint64_t batches_ = 0, appended_ = 0;

  int fd_ = -1;  // the active segment (writer thread only after open)
  std::uint64_t active_first_ = 0;
  std::uint64_t active_size_ = 0;
  int lock_fd_ = -1;
  std::thread writer_;
};

}  // namespace busway::store
