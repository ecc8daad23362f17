#include "busway/message/message.hpp"

#include <atomic>
#include <cstdint>
#include <mutex>
#include <random>
#include <set>

#include <pthread.h>
#include <time.h>
#include <unistd.h>

namespace busway {

namespace {

struct InternTable {
  std::mutex mutex;
  // std::set never moves its nodes, so the pointers we hand out stay valid.
  std::set<std::string, std::less<>> names;
};

InternTable& internTable() {
  // Leaked on purpose: interned names must outlive every static that may still hold one.
  static InternTable* table = new InternTable;
  return *table;
}

std::uint64_t randomPrefix() {
  std::random_device device;
  std::uint64_t prefix = (std::uint64_t{device()} << 32) ^ device();
  // Mix in the pid and a clock so that a weak random_device still gives distinct prefixes.
  prefix ^= static_cast<std::uint64_t>(::getpid()) * 0x9E3779B97F4A7C15ULL;
  prefix ^= static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  return prefix;
}

struct IdSource {
  std::atomic<std::uint64_t> prefix{0};
  std::atomic<std::uint64_t> counter{0};
};

IdSource& idSource() {
  static IdSource* source = [] {
    auto* s = new IdSource;
    s->prefix.store(randomPrefix());
    // A forked child would otherwise hand out the same ids as its parent.
    ::pthread_atfork(nullptr, nullptr, [] {
      idSource().prefix.store(randomPrefix());
      idSource().counter.store(0);
    });
    return s;
  }();
  return *source;
}

void writeHex(char* out, std::uint64_t value) {
  static constexpr char kDigits[] = "0123456789abcdef";
  for (int i = 15; i >= 0; --i) {
    out[i] = kDigits[value & 0xF];
    value >>= 4;
  }
}

// History timestamps come from the coarse clock: a few milliseconds of resolution is
// plenty for "when did this step run" and costs a fraction of a precise read.
std::chrono::system_clock::time_point coarseNow() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec)));
}

const std::vector<HistoryEntry>& emptyHistory() noexcept {
  static const std::vector<HistoryEntry> history;
  return history;
}

}  // namespace

const std::string* intern(std::string_view name) {
  InternTable& table = internTable();
  std::lock_guard lock(table.mutex);
  auto it = table.names.find(name);
  if (it == table.names.end()) it = table.names.emplace(name).first;
  return &*it;
}

std::string Message::newId() {
  IdSource& source = idSource();
  const std::uint64_t n = source.counter.fetch_add(1, std::memory_order_relaxed);
  char text[33];
  writeHex(text, source.prefix.load(std::memory_order_relaxed));
  text[16] = '-';
  writeHex(text + 17, n);
  return std::string(text, sizeof text);
}

Message::Message() : Message(Body::empty()) {}

Message::Message(BodyPtr body)
    : id_(newId()),
      timestamp_(std::chrono::system_clock::now()),
      body_(body ? std::move(body) : Body::empty()) {}

void Message::setBody(BodyPtr body) { body_ = body ? std::move(body) : Body::empty(); }

void Message::setBody(std::string bytes, std::string media_type) {
  body_ = Body::make(std::move(bytes), std::move(media_type));
}

const std::vector<HistoryEntry>& Message::history() const noexcept {
  return history_ ? *history_ : emptyHistory();
}

void Message::recordStep(const std::string* route, const std::string* step, bool failed) {
  if (!history_) {
    history_ = std::make_shared<std::vector<HistoryEntry>>();
    history_->reserve(8);  // most routes are short: one allocation for the whole history
  } else if (history_.use_count() > 1) {
    history_ = std::make_shared<std::vector<HistoryEntry>>(*history_);
  }
  history_->push_back(HistoryEntry{route, step, coarseNow(), failed});
}

Message Message::derive() const {
  Message child(*this);
  child.id_ = newId();
  child.correlation_id_ = correlationId();
  child.timestamp_ = std::chrono::system_clock::now();
  return child;
}

}  // namespace busway
