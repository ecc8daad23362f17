#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include "busway/util/result.hpp"

struct sqlite3;

namespace busway::store {

// Keys an idempotent receiver has seen, in DATA_DIR/state.db (SQLite, WAL) next to the dead
// letters, on a connection of its own. Commits use synchronous=NORMAL: a key survives a
// process crash (the WAL is in the OS cache); after a power loss a key written just before
// may be forgotten, which lets a duplicate through (at least once), never loses a message.
class IdempotencyStore {
 public:
  static Result<std::unique_ptr<IdempotencyStore>> open(const std::filesystem::path& db_file);
  ~IdempotencyStore();
  IdempotencyStore(const IdempotencyStore&) = delete;
  IdempotencyStore& operator=(const IdempotencyStore&) = delete;

  enum class Seen { fresh, duplicate, same_message };
  // Records `key` in `repository` for `message_id` until now + expire, unless a live entry
  // exists: duplicate when it belongs to another message, same_message when it is this
  // message again (a redelivery after a crash, which must go through).
  Result<Seen> claim(const std::string& repository, const std::string& key,
                     const std::string& message_id, std::chrono::milliseconds expire);
  // Forgets a claim (its message failed: a redelivery must not be taken for a duplicate).
  void release(const std::string& repository, const std::string& key,
               const std::string& message_id);

 private:
  IdempotencyStore() = default;
  std::mutex mutex_;
  sqlite3* db_ = nullptr;
  std::uint64_t claims_ = 0;
};

}  // namespace busway::store
