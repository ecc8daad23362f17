#include "busway/store/idempotency.hpp"

#include <sqlite3.h>

namespace busway::store {
namespace {

std::int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Error sqlError(sqlite3* db, const std::string& what) {
  return Error(ErrorKind::transient,
               what + ": " + (db != nullptr ? sqlite3_errmsg(db) : "out of memory"), "idempotent");
}

}  // namespace

Result<std::unique_ptr<IdempotencyStore>> IdempotencyStore::open(
    const std::filesystem::path& db_file) {
  std::error_code ec;
  std::filesystem::create_directories(db_file.parent_path(), ec);
  std::unique_ptr<IdempotencyStore> store(new IdempotencyStore());
  if (sqlite3_open_v2(db_file.c_str(), &store->db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    return sqlError(store->db_, "cannot open " + db_file.string());
  }
  sqlite3_busy_timeout(store->db_, 10'000);
  const char* schema =
      "PRAGMA journal_mode=WAL;"
      "PRAGMA synchronous=NORMAL;"
      "CREATE TABLE IF NOT EXISTS idempotent_keys ("
      " repository TEXT NOT NULL, key TEXT NOT NULL, message_id TEXT NOT NULL, expires_ms INTEGER "
      "NOT NULL,"
      " PRIMARY KEY (repository, key));";
  char* error = nullptr;
  if (sqlite3_exec(store->db_, schema, nullptr, nullptr, &error) != SQLITE_OK) {
    std::string text = error != nullptr ? error : "unknown error";
    sqlite3_free(error);
    return Error(ErrorKind::transient, "cannot prepare " + db_file.string() + ": " + text,
                 "idempotent");
  }
  return store;
}

IdempotencyStore::~IdempotencyStore() { sqlite3_close_v2(db_); }

Result<IdempotencyStore::Seen> IdempotencyStore::claim(const std::string& repository,
                                                       const std::string& key,
                                                       const std::string& message_id,
                                                       std::chrono::milliseconds expire) {
  std::lock_guard lock(mutex_);
  const std::int64_t now = nowMs();
  if (++claims_ % 1000 == 0) {
    // Expired keys go now and then, not on every claim.
    sqlite3_stmt* purge = nullptr;
    sqlite3_prepare_v2(db_, "DELETE FROM idempotent_keys WHERE expires_ms <= ?1", -1, &purge,
                       nullptr);
    sqlite3_bind_int64(purge, 1, now);
    sqlite3_step(purge);
    sqlite3_finalize(purge);
  }
  sqlite3_stmt* s = nullptr;
  // Insert, or take over an expired entry; a live one stays and tells whose it is.
  sqlite3_prepare_v2(
      db_,
      "INSERT INTO idempotent_keys (repository, key, message_id, expires_ms) VALUES (?1, ?2, ?3, "
      "?4)"
      " ON CONFLICT (repository, key) DO UPDATE SET message_id = excluded.message_id,"
      " expires_ms = excluded.expires_ms WHERE idempotent_keys.expires_ms <= ?5"
      " RETURNING message_id",
      -1, &s, nullptr);
  if (s == nullptr) return sqlError(db_, "cannot record an idempotency key");
  sqlite3_bind_text(s, 1, repository.data(), static_cast<int>(repository.size()), SQLITE_TRANSIENT);
  sqlite3_bind_text(s, 2, key.data(), static_cast<int>(key.size()), SQLITE_TRANSIENT);
  sqlite3_bind_text(s, 3, message_id.data(), static_cast<int>(message_id.size()), SQLITE_TRANSIENT);
  sqlite3_bind_int64(s, 4, now + expire.count());
  sqlite3_bind_int64(s, 5, now);
  const int rc = sqlite3_step(s);
  sqlite3_finalize(s);
  if (rc == SQLITE_ROW) return Seen::fresh;
  if (rc != SQLITE_DONE) return sqlError(db_, "cannot record an idempotency key");
  // A live entry exists: whose?
  sqlite3_prepare_v2(db_,
                     "SELECT message_id FROM idempotent_keys WHERE repository = ?1 AND key = ?2",
                     -1, &s, nullptr);
  sqlite3_bind_text(s, 1, repository.data(), static_cast<int>(repository.size()), SQLITE_TRANSIENT);
  sqlite3_bind_text(s, 2, key.data(), static_cast<int>(key.size()), SQLITE_TRANSIENT);
  Seen seen = Seen::duplicate;
  if (sqlite3_step(s) == SQLITE_ROW) {
    const auto* owner = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
    if (owner != nullptr && message_id == owner) seen = Seen::same_message;
  }
  sqlite3_finalize(s);
  return seen;
}

void IdempotencyStore::release(const std::string& repository, const std::string& key,
                               const std::string& message_id) {
  std::lock_guard lock(mutex_);
  sqlite3_stmt* s = nullptr;
  sqlite3_prepare_v2(
      db_, "DELETE FROM idempotent_keys WHERE repository = ?1 AND key = ?2 AND message_id = ?3", -1,
      &s, nullptr);
  sqlite3_bind_text(s, 1, repository.data(), static_cast<int>(repository.size()), SQLITE_TRANSIENT);
  sqlite3_bind_text(s, 2, key.data(), static_cast<int>(key.size()), SQLITE_TRANSIENT);
  sqlite3_bind_text(s, 3, message_id.data(), static_cast<int>(message_id.size()), SQLITE_TRANSIENT);
  sqlite3_step(s);
  sqlite3_finalize(s);
}

}  // namespace busway::store
