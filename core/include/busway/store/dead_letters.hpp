#pragma once

#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "busway/util/result.hpp"

struct sqlite3;

namespace busway::store {

// One dead letter as `busway dlq` shows it.
struct DeadLetter {
  std::int64_t id = 0;
  std::string queue;       // the NAME of dlq:NAME
  std::string state;       // stored, replay (asked for), replaying (handed to a route)
  std::int64_t at_ms = 0;  // when it was dead-lettered (Unix ms)
  std::string message_id;
  std::string route;
  std::string kind;
  std::string reason;
  std::int64_t attempts = 0;
  std::string payload;  // the message (message_codec), filled by get() and takeReplays()
};

// The dead-letter channel's durable side, in SQLite (WAL) at DATA_DIR/state.db: small,
// cold data that several processes must see safely. The running bus writes and replays;
// `busway dlq` lists, shows, marks for replay and purges from another process, and SQLite's
// locking keeps both consistent. Adds are group-committed: one transaction per batch.
class DeadLetterStore {
 public:
  static Result<std::unique_ptr<DeadLetterStore>> open(const std::filesystem::path& db_file,
                                                       bool create);
  ~DeadLetterStore();
  DeadLetterStore(const DeadLetterStore&) = delete;
  DeadLetterStore& operator=(const DeadLetterStore&) = delete;

  // Stores a dead letter; `done` gets its id once the transaction holding it committed
  // (called on the store's writer thread).
  void add(DeadLetter letter, std::function<void(Result<std::int64_t>)> done);

  Result<std::vector<DeadLetter>> list(const std::string& queue = {});
  Result<std::optional<DeadLetter>> get(std::int64_t id);
  // Marks dead letters for replay (ids empty: all of `queue`, or all); returns how many.
  Result<int> markReplay(const std::vector<std::int64_t>& ids, const std::string& queue = {});
  Result<int> purge(const std::vector<std::int64_t>& ids, const std::string& queue = {});
  // Dead letters of `queue` marked for replay, now handed out (state replaying).
  Result<std::vector<DeadLetter>> takeReplays(const std::string& queue, int limit = 100);
  // After a replay: handled (deleted) or failed again (stored, with the new reason).
  Result<void> replayed(std::int64_t id, bool ok, const std::string& reason = {});
  // At start: replays a crash interrupted are asked for again.
  Result<void> resetInterrupted();

 private:
  DeadLetterStore() = default;
  void writerLoop();

  std::mutex mutex_;  // one connection, used by one thread at a time
  sqlite3* db_ = nullptr;
  std::mutex queue_mutex_;
  std::condition_variable wake_;
  std::vector<std::pair<DeadLetter, std::function<void(Result<std::int64_t>)>>> pending_;
  bool stopping_ = false;
  std::thread writer_;
};

}  // namespace busway::store
