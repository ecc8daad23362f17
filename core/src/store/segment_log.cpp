#include "busway/store/segment_log.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "busway/store/crc32c.hpp"
#include "busway/util/log.hpp"

namespace busway::store {
namespace fs = std::filesystem;
namespace {

constexpr std::uint8_t kMessage = 1;
constexpr std::uint8_t kAck = 2;
constexpr std::size_t kHeader = 8;              // length + crc
constexpr std::size_t kMinBody = 1 + 8;         // type + seq
constexpr std::uint32_t kMaxBody = 512u << 20;  // no record is larger
constexpr const char* kSuffix = ".seg";

std::string errnoText() { return std::strerror(errno); }

void putU32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFFU));
}
void putU64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFFU));
}
std::uint32_t getU32(const char* p) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i)
    v |= static_cast<std::uint32_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}
std::uint64_t getU64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i)
    v |= static_cast<std::uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}

// Appends one record to `out`.
void encodeRecord(std::string& out, std::uint8_t type, std::uint64_t seq, std::string_view queue,
                  std::string_view payload, std::uint64_t target) {
  std::string body;
  body.reserve(kMinBody + 2 + queue.size() + payload.size());
  body.push_back(static_cast<char>(type));
  putU64(body, seq);
  if (type == kMessage) {
    body.push_back(static_cast<char>(queue.size() & 0xFFU));
    body.push_back(static_cast<char>((queue.size() >> 8U) & 0xFFU));
    body.append(queue);
    body.append(payload);
  } else {
    putU64(body, target);
  }
  putU32(out, static_cast<std::uint32_t>(body.size()));
  putU32(out, crc32c(body));
  out.append(body);
}

struct Record {
  std::uint8_t type = 0;
  std::uint64_t seq = 0;
  std::string_view queue;
  std::string_view payload;
  std::uint64_t target = 0;
  std::size_t offset = 0;
  std::size_t size = 0;  // header included
};

// Parses the record at `pos`, checking length, checksum and layout.
bool parseAt(std::string_view data, std::size_t pos, Record& r) {
  if (data.size() - pos < kHeader + kMinBody) return false;
  const std::uint32_t length = getU32(data.data() + pos);
  if (length < kMinBody || length > kMaxBody || length > data.size() - pos - kHeader) return false;
  const char* body = data.data() + pos + kHeader;
  const auto type = static_cast<std::uint8_t>(body[0]);
  if (type != kMessage && type != kAck) return false;
  if (crc32c(std::string_view(body, length)) != getU32(data.data() + pos + 4)) return false;
  r.type = type;
  r.seq = getU64(body + 1);
  r.offset = pos;
  r.size = kHeader + length;
  if (type == kMessage) {
    if (length < kMinBody + 2) return false;
    const std::size_t qlen = static_cast<unsigned char>(body[9]) |
                             (static_cast<std::size_t>(static_cast<unsigned char>(body[10])) << 8U);
    if (kMinBody + 2 + qlen > length) return false;
    r.queue = std::string_view(body + 11, qlen);
    r.payload = std::string_view(body + 11 + qlen, length - kMinBody - 2 - qlen);
  } else {
    if (length != kMinBody + 8) return false;
    r.target = getU64(body + 9);
  }
  return true;
}

// Reads every intact record of one segment; damaged stretches go to `damage`.
void scanSegment(const std::string& file, std::string_view data, std::vector<Record>& records,
                 std::vector<Damage>& damage) {
  std::size_t pos = 0;
  while (pos < data.size()) {
    Record r;
    if (parseAt(data, pos, r)) {
      records.push_back(r);
      pos += r.size;
      continue;
    }
    // Look for the next intact record: damage in the middle loses only what is damaged.
    std::size_t next = pos + 1;
    Record probe;
    while (next < data.size() && !parseAt(data, next, probe)) ++next;
    Damage d;
    d.file = file;
    d.offset = pos;
    d.bytes = next - pos;
    d.tail = next >= data.size();
    const std::size_t left = data.size() - pos;
    if (left < kHeader + kMinBody)
      d.reason = "incomplete record header (" + std::to_string(left) + " bytes)";
    else {
      const std::uint32_t length = getU32(data.data() + pos);
      if (length > left - kHeader)
        d.reason = "record of " + std::to_string(length) + " bytes cut short at " +
                   std::to_string(left - kHeader);
      else
        d.reason = "checksum or layout mismatch";
    }
    damage.push_back(std::move(d));
    pos = next;
  }
}

Result<std::string> readFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error(ErrorKind::transient, "cannot read " + path.string() + ": " + errnoText());
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return data;
}

std::vector<fs::path> listSegments(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.is_regular_file() && entry.path().extension() == kSuffix) out.push_back(entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string segmentName(std::uint64_t first_seq) {
  char name[40];
  std::snprintf(name, sizeof name, "%020llu%s", static_cast<unsigned long long>(first_seq),
                kSuffix);
  return name;
}

void syncDir(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

bool writeAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

struct Scan {
  struct Live {
    std::string queue;
    std::string payload;
    std::uint64_t segment;
  };
  std::map<std::uint64_t, Live> live;  // seq -> message
  std::map<std::uint64_t, fs::path> segments;
  std::map<std::uint64_t, std::vector<Record>> records;  // per segment (views into `data`)
  std::map<std::uint64_t, std::string> data;
  std::uint64_t max_seq = 0;
  RecoveryReport report;
};

Result<Scan> scanDir(const fs::path& dir) {
  Scan scan;
  for (const auto& path : listSegments(dir)) {
    const std::string stem = path.stem().string();
    std::uint64_t first = 0;
    try {
      first = std::stoull(stem);
    } catch (const std::exception&) {
      continue;
    }
    auto data = readFile(path);
    if (!data) return std::move(data).error();
    scan.segments.emplace(first, path);
    auto& bytes = scan.data[first] = std::move(*data);
    auto& records = scan.records[first];
    scanSegment(path.string(), bytes, records, scan.report.damage);
    ++scan.report.segments;
    for (const auto& r : records) {
      ++scan.report.records;
      scan.max_seq = std::max(scan.max_seq, r.seq);
      if (r.type == kMessage) {
        ++scan.report.messages;
        scan.live[r.seq] = Scan::Live{std::string(r.queue), std::string(r.payload), first};
      } else {
        scan.live.erase(r.target);
      }
    }
  }
  scan.report.live = scan.live.size();
  for (const auto& [seq, m] : scan.live) scan.report.live_bytes += m.payload.size();
  return scan;
}

}  // namespace

std::uint64_t RecoveryReport::damagedBytes() const {
  std::uint64_t total = 0;
  for (const auto& d : damage) total += d.bytes;
  return total;
}

std::string RecoveryReport::describe() const {
  std::ostringstream out;
  for (const auto& d : damage) {
    out << d.file << ": offset " << d.offset << ": " << d.bytes << " damaged byte(s) (" << d.reason
        << ")" << (d.tail ? ", at the end of the segment" : ", intact records follow")
        << (d.repaired ? ", truncated" : "") << "\n";
  }
  out << segments << " segment(s), " << records << " intact record(s), " << live
      << " unacknowledged message(s) (" << live_bytes << " bytes)";
  if (!damage.empty())
    out << "; " << damage.size() << " damaged stretch(es), " << damagedBytes() << " byte(s) lost";
  return out.str();
}

SegmentLog::SegmentLog(fs::path dir, LogOptions options)
    : dir_(std::move(dir)), options_(options) {}

Result<std::unique_ptr<SegmentLog>> SegmentLog::open(const fs::path& dir, LogOptions options,
                                                     RecoveryReport* report) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    return Error(ErrorKind::permanent,
                 "cannot create the store folder " + dir.string() + ": " + ec.message());
  std::unique_ptr<SegmentLog> log(new SegmentLog(dir, options));
  log->lock_fd_ = ::open((dir / "LOCK").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (log->lock_fd_ < 0)
    return Error(ErrorKind::permanent,
                 "cannot open " + (dir / "LOCK").string() + ": " + errnoText());
  if (::flock(log->lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return Error(ErrorKind::permanent,
                 "the store " + dir.string() +
                     " is in use by another busway process; give each bus its own --data-dir");
  }
  RecoveryReport local;
  if (auto r = log->recover(report ? *report : local); !r) return std::move(r).error();
  log->writer_ = std::thread([raw = log.get()] { raw->writerLoop(); });
  return log;
}

Result<void> SegmentLog::recover(RecoveryReport& report) {
  auto scan = scanDir(dir_);
  if (!scan) return std::move(scan).error();
  report = scan->report;
  // A torn tail (a write cut short by a crash) is cut off, so the segment reads clean next time.
  for (auto& d : report.damage) {
    if (!d.tail) continue;
    if (::truncate(d.file.c_str(), static_cast<off_t>(d.offset)) == 0) d.repaired = true;
  }
  for (const auto& [first, path] : scan->segments) segments_.emplace(first, Segment{path, 0});
  for (auto& [seq, m] : scan->live) {
    segments_[m.segment].live++;
    live_sizes_[seq] = static_cast<std::uint32_t>(m.payload.size());
    live_bytes_ += m.payload.size();
    ++live_messages_;
    recovered_[m.queue].push_back(StoredMessage{seq, std::move(m.payload)});
  }
  next_seq_ = scan->max_seq + 1;
  written_seq_ = scan->max_seq;
  auto opened = openSegment(next_seq_);
  if (!opened) return opened;
  std::lock_guard lock(mutex_);
  removeDeadSegments();
  return {};
}

Result<void> SegmentLog::openSegment(std::uint64_t first_seq) {
  const fs::path path = dir_ / segmentName(first_seq);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0)
    return Error(ErrorKind::transient,
                 "cannot create the store segment " + path.string() + ": " + errnoText());
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
  active_first_ = first_seq;
  active_size_ = 0;
  syncDir(dir_);
  std::lock_guard lock(mutex_);
  segments_[first_seq] = Segment{path, 0};
  return {};
}

SegmentLog::~SegmentLog() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (writer_.joinable()) writer_.join();
  if (fd_ >= 0) ::close(fd_);
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

void SegmentLog::append(std::string_view queue, std::string payload, AppendDone done) {
  std::unique_lock lock(mutex_);
  if (live_messages_ + 1 > options_.max_messages ||
      live_bytes_ + payload.size() > options_.max_bytes) {
    const std::string text =
        "the store " + dir_.string() + " is full (" + std::to_string(live_messages_) +
        " messages, " + std::to_string(live_bytes_) + " bytes; limits " +
        std::to_string(options_.max_messages) + " messages, " + std::to_string(options_.max_bytes) +
        " bytes): the message was not accepted; let consumers catch up or raise "
        "--store-max-messages/--store-max-bytes";
    lock.unlock();
    done(Error(ErrorKind::rejected, text, "store"));
    return;
  }
  if (stopping_) {
    lock.unlock();
    done(Error(ErrorKind::transient, "the store " + dir_.string() + " is closing", "store"));
    return;
  }
  ++live_messages_;
  live_bytes_ += payload.size();
  const std::uint64_t seq = next_seq_++;
  live_sizes_[seq] = static_cast<std::uint32_t>(payload.size());
  pending_.push_back(
      Pending{kMessage, seq, std::string(queue), std::move(payload), 0, std::move(done)});
  const bool first = pending_.size() == 1;
  lock.unlock();
  if (first) wake_.notify_one();
}

void SegmentLog::ack(std::uint64_t seq) {
  std::unique_lock lock(mutex_);
  const auto it = live_sizes_.find(seq);
  if (it == live_sizes_.end()) return;  // acknowledged already
  --live_messages_;
  live_bytes_ -= it->second;
  live_sizes_.erase(it);
  pending_.push_back(Pending{kAck, next_seq_++, {}, {}, seq, {}});
  const bool first = pending_.size() == 1;
  lock.unlock();
  if (first) wake_.notify_one();
}

void SegmentLog::flush() {
  std::unique_lock lock(mutex_);
  const std::uint64_t target = next_seq_ - 1;
  wake_.notify_one();
  synced_.wait(lock, [&] { return written_seq_ >= target || (stopping_ && pending_.empty()); });
}

std::map<std::uint64_t, SegmentLog::Segment>::iterator SegmentLog::segmentOf(std::uint64_t seq) {
  auto it = segments_.upper_bound(seq);
  if (it == segments_.begin()) return segments_.end();
  return std::prev(it);
}

void SegmentLog::removeDeadSegments() {
  // Only from the oldest: an ack record must not disappear while its message is still on disk.
  while (!segments_.empty()) {
    auto it = segments_.begin();
    if (it->first == active_first_ || it->second.live != 0) break;
    std::error_code ec;
    fs::remove(it->second.path, ec);
    segments_.erase(it);
  }
}

void SegmentLog::writerLoop() {
  std::unique_lock lock(mutex_);
  std::string buffer;
  for (;;) {
    wake_.wait(lock, [&] { return stopping_ || !pending_.empty(); });
    if (pending_.empty()) break;  // stopping, nothing left
    std::vector<Pending> batch;
    batch.swap(pending_);
    lock.unlock();

    buffer.clear();
    for (const auto& p : batch) encodeRecord(buffer, p.type, p.seq, p.queue, p.payload, p.target);
    Result<void> status;
    if (active_size_ > 0 && active_size_ + buffer.size() > options_.segment_bytes)
      status = openSegment(batch.front().seq);
    if (status) {
      if (!writeAll(fd_, buffer)) {
        status = Error(ErrorKind::transient,
                       "cannot write the store segment in " + dir_.string() + ": " + errnoText(),
                       "store");
      } else if (options_.sync && ::fdatasync(fd_) != 0) {
        status = Error(ErrorKind::transient,
                       "cannot sync the store segment in " + dir_.string() + ": " + errnoText(),
                       "store");
      }
    }
    if (status) {
      active_size_ += buffer.size();
    } else {
      // The segment may end in a partial batch now: continue in a fresh one. Recovery
      // reports the partial batch as damage; none of it was acknowledged to anyone.
      active_size_ = options_.segment_bytes;
      logError("store", status.error().message);
    }

    lock.lock();
    ++batches_;
    for (const auto& p : batch) {
      if (p.type == kMessage) {
        if (status) {
          ++appended_;
          segments_[active_first_].live++;
        } else if (auto it = live_sizes_.find(p.seq); it != live_sizes_.end()) {
          --live_messages_;
          live_bytes_ -= it->second;
          live_sizes_.erase(it);
        }
      } else if (status) {
        auto seg = segmentOf(p.target);
        if (seg != segments_.end() && seg->second.live > 0) seg->second.live--;
      }
    }
    written_seq_ = batch.back().seq;
    if (status) removeDeadSegments();
    lock.unlock();
    synced_.notify_all();
    for (auto& p : batch) {
      if (!p.done) continue;
      if (status)
        p.done(p.seq);
      else
        p.done(status.error());
    }
    lock.lock();
  }
  synced_.notify_all();
}

std::vector<StoredMessage> SegmentLog::takeRecovered(const std::string& queue) {
  std::lock_guard lock(mutex_);
  auto it = recovered_.find(queue);
  if (it == recovered_.end()) return {};
  auto out = std::move(it->second);
  recovered_.erase(it);
  return out;
}

std::vector<std::string> SegmentLog::recoveredQueues() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  for (const auto& [name, messages] : recovered_) out.push_back(name);
  return out;
}

LogStats SegmentLog::stats() const {
  std::lock_guard lock(mutex_);
  return LogStats{live_messages_, live_bytes_, segments_.size(), batches_, appended_};
}

Result<RecoveryReport> SegmentLog::verify(const fs::path& dir, bool repair) {
  if (!fs::is_directory(dir))
    return Error(ErrorKind::invalid, dir.string() + " is not a store folder (it does not exist)");
  int lock_fd = -1;
  if (repair) {
    lock_fd = ::open((dir / "LOCK").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock_fd < 0 || ::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
      if (lock_fd >= 0) ::close(lock_fd);
      return Error(
          ErrorKind::rejected,
          "the store " + dir.string() + " is in use by a running busway; stop it before a repair");
    }
  }
  auto scan = scanDir(dir);
  if (!scan) {
    if (lock_fd >= 0) ::close(lock_fd);
    return std::move(scan).error();
  }
  RecoveryReport report = scan->report;
  if (repair) {
    // Rewrite each damaged segment with its intact records only (a tail is simply cut off).
    std::map<std::string, bool> done;
    for (auto& d : report.damage) {
      if (done.count(d.file) != 0) {
        d.repaired = true;
        continue;
      }
      done[d.file] = true;
      std::uint64_t first = 0;
      for (const auto& [f, p] : scan->segments)
        if (p.string() == d.file) first = f;
      std::string clean;
      for (const auto& r : scan->records[first])
        clean.append(scan->data[first].substr(r.offset, r.size));
      const fs::path tmp = d.file + ".repair";
      const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (fd < 0 || !writeAll(fd, clean) || ::fsync(fd) != 0) {
        if (fd >= 0) ::close(fd);
        ::close(lock_fd);
        return Error(ErrorKind::transient, "cannot write " + tmp.string() + ": " + errnoText());
      }
      ::close(fd);
      std::error_code ec;
      fs::rename(tmp, d.file, ec);
      if (ec) {
        ::close(lock_fd);
        return Error(ErrorKind::transient, "cannot replace " + d.file + ": " + ec.message());
      }
      d.repaired = true;
    }
    syncDir(dir);
  }
  if (lock_fd >= 0) ::close(lock_fd);
  return report;
}

Result<std::map<std::string, std::vector<StoredMessage>>> SegmentLog::readLive(
    const fs::path& dir) {
  auto scan = scanDir(dir);
  if (!scan) return std::move(scan).error();
  std::map<std::string, std::vector<StoredMessage>> out;
  for (auto& [seq, m] : scan->live)
    out[m.queue].push_back(StoredMessage{seq, std::move(m.payload)});
  return out;
}

}  // namespace busway::store
