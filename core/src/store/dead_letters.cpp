#include "busway/store/dead_letters.hpp"

#include <chrono>

#include <sqlite3.h>

namespace busway::store {
namespace {

Error sqlError(sqlite3* db, const std::string& what) {
  return Error(ErrorKind::transient,
               what + ": " + (db != nullptr ? sqlite3_errmsg(db) : "out of memory"),
               "dead letters");
}

// A prepared statement, finalized on scope exit.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) { sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr); }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  explicit operator bool() const { return stmt_ != nullptr; }
  sqlite3_stmt* get() const { return stmt_; }
  void bind(int i, const std::string& text) {
    sqlite3_bind_text(stmt_, i, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  }
  void bind(int i, std::int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
  void blob(int i, const std::string& bytes) {
    sqlite3_bind_blob(stmt_, i, bytes.data(), static_cast<int>(bytes.size()), SQLITE_TRANSIENT);
  }
  std::string text(int col) const {
    const auto* p = sqlite3_column_blob(stmt_, col);
    return p == nullptr ? std::string()
                        : std::string(static_cast<const char*>(p),
                                      static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)));
  }
  std::int64_t integer(int col) const { return sqlite3_column_int64(stmt_, col); }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

constexpr const char* kColumns =
    "id, queue, state, at_ms, message_id, route, kind, reason, attempts";

DeadLetter rowOf(const Statement& s, bool with_payload) {
  DeadLetter d;
  d.id = s.integer(0);
  d.queue = s.text(1);
  d.state = s.text(2);
  d.at_ms = s.integer(3);
  d.message_id = s.text(4);
  d.route = s.text(5);
  d.kind = s.text(6);
  d.reason = s.text(7);
  d.attempts = s.integer(8);
  if (with_payload) d.payload = s.text(9);
  return d;
}

// "id IN (1,2,3)" for the given ids (integers only, so no injection), or a queue filter.
std::string where(const std::vector<std::int64_t>& ids, const std::string& queue) {
  std::string w;
  if (!ids.empty()) {
    w = "id IN (";
    for (std::size_t i = 0; i < ids.size(); ++i) w += (i > 0 ? "," : "") + std::to_string(ids[i]);
    w += ")";
  }
  if (!queue.empty()) w += std::string(w.empty() ? "" : " AND ") + "queue = ?1";
  return w.empty() ? "1" : w;
}

}  // namespace

Result<std::unique_ptr<DeadLetterStore>> DeadLetterStore::open(const std::filesystem::path& db_file,
                                                               bool create) {
  if (!create && !std::filesystem::exists(db_file)) {
    return Error(ErrorKind::invalid,
                 db_file.string() +
                     " does not exist: no dead letter was ever stored in this data directory");
  }
  if (create) {
    std::error_code ec;
    std::filesystem::create_directories(db_file.parent_path(), ec);
  }
  std::unique_ptr<DeadLetterStore> store(new DeadLetterStore());
  const int flags =
      SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_FULLMUTEX;
  if (sqlite3_open_v2(db_file.c_str(), &store->db_, flags, nullptr) != SQLITE_OK) {
    return sqlError(store->db_, "cannot open " + db_file.string());
  }
  sqlite3_busy_timeout(store->db_,
                       10'000);  // the other process (bus or CLI) holds the lock briefly
  const char* schema =
      "PRAGMA journal_mode=WAL;"
      "PRAGMA synchronous=FULL;"
      "CREATE TABLE IF NOT EXISTS dead_letters ("
      " id INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT NOT NULL, state TEXT NOT NULL DEFAULT "
      "'stored',"
      " at_ms INTEGER NOT NULL, message_id TEXT, route TEXT, kind TEXT, reason TEXT, attempts "
      "INTEGER, payload BLOB NOT NULL);"
      "CREATE INDEX IF NOT EXISTS dead_letters_queue_state ON dead_letters(queue, state);";
  char* error = nullptr;
  if (sqlite3_exec(store->db_, schema, nullptr, nullptr, &error) != SQLITE_OK) {
    std::string text = error != nullptr ? error : "unknown error";
    sqlite3_free(error);
    return Error(ErrorKind::transient, "cannot prepare " + db_file.string() + ": " + text,
                 "dead letters");
  }
  store->writer_ = std::thread([raw = store.get()] { raw->writerLoop(); });
  return store;
}

DeadLetterStore::~DeadLetterStore() {
  {
    std::lock_guard lock(queue_mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (writer_.joinable()) writer_.join();
  sqlite3_close_v2(db_);
}

void DeadLetterStore::add(DeadLetter letter, std::function<void(Result<std::int64_t>)> done) {
  {
    std::lock_guard lock(queue_mutex_);
    pending_.emplace_back(std::move(letter), std::move(done));
  }
  wake_.notify_one();
}

void DeadLetterStore::writerLoop() {
  std::unique_lock lock(queue_mutex_);
  for (;;) {
    wake_.wait(lock, [&] { return stopping_ || !pending_.empty(); });
    if (pending_.empty()) return;
    auto batch = std::move(pending_);
    pending_.clear();
    lock.unlock();
    std::vector<Result<std::int64_t>> results;
    {
      std::lock_guard db_lock(mutex_);
      // One transaction, one WAL sync, for everything that arrived meanwhile.
      const bool began =
          sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK;
      Statement insert(db_,
                       "INSERT INTO dead_letters (queue, at_ms, message_id, route, kind, reason, "
                       "attempts, payload)"
                       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
      for (auto& [letter, done] : batch) {
        if (!began || !insert) {
          results.emplace_back(sqlError(db_, "cannot store a dead letter"));
          continue;
        }
        sqlite3_reset(insert.get());
        insert.bind(1, letter.queue);
        insert.bind(2, letter.at_ms);
        insert.bind(3, letter.message_id);
        insert.bind(4, letter.route);
        insert.bind(5, letter.kind);
        insert.bind(6, letter.reason);
        insert.bind(7, letter.attempts);
        insert.blob(8, letter.payload);
        if (sqlite3_step(insert.get()) != SQLITE_DONE)
          results.emplace_back(sqlError(db_, "cannot store a dead letter"));
        else
          results.emplace_back(static_cast<std::int64_t>(sqlite3_last_insert_rowid(db_)));
      }
      if (began && sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
        const Error failed = sqlError(db_, "cannot commit dead letters");
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        for (auto& r : results) r = failed;
      }
    }
    for (std::size_t i = 0; i < batch.size(); ++i) batch[i].second(std::move(results[i]));
    lock.lock();
  }
}

Result<std::vector<DeadLetter>> DeadLetterStore::list(const std::string& queue) {
  std::lock_guard lock(mutex_);
  const std::string sql = std::string("SELECT ") + kColumns + " FROM dead_letters WHERE " +
                          where({}, queue) + " ORDER BY id";
  Statement s(db_, sql.c_str());
  if (!s) return sqlError(db_, "cannot list dead letters");
  if (!queue.empty()) s.bind(1, queue);
  std::vector<DeadLetter> out;
  while (sqlite3_step(s.get()) == SQLITE_ROW) out.push_back(rowOf(s, false));
  return out;
}

Result<std::optional<DeadLetter>> DeadLetterStore::get(std::int64_t id) {
  std::lock_guard lock(mutex_);
  const std::string sql =
      std::string("SELECT ") + kColumns + ", payload FROM dead_letters WHERE id = ?1";
  Statement s(db_, sql.c_str());
  if (!s) return sqlError(db_, "cannot read a dead letter");
  s.bind(1, id);
  if (sqlite3_step(s.get()) != SQLITE_ROW) return std::optional<DeadLetter>();
  return std::optional<DeadLetter>(rowOf(s, true));
}

Result<int> DeadLetterStore::markReplay(const std::vector<std::int64_t>& ids,
                                        const std::string& queue) {
  std::lock_guard lock(mutex_);
  const std::string sql =
      "UPDATE dead_letters SET state = 'replay' WHERE state = 'stored' AND " + where(ids, queue);
  Statement s(db_, sql.c_str());
  if (!s) return sqlError(db_, "cannot mark dead letters for replay");
  if (!queue.empty()) s.bind(1, queue);
  if (sqlite3_step(s.get()) != SQLITE_DONE)
    return sqlError(db_, "cannot mark dead letters for replay");
  return sqlite3_changes(db_);
}

Result<int> DeadLetterStore::purge(const std::vector<std::int64_t>& ids, const std::string& queue) {
  std::lock_guard lock(mutex_);
  const std::string sql = "DELETE FROM dead_letters WHERE " + where(ids, queue);
  Statement s(db_, sql.c_str());
  if (!s) return sqlError(db_, "cannot purge dead letters");
  if (!queue.empty()) s.bind(1, queue);
  if (sqlite3_step(s.get()) != SQLITE_DONE) return sqlError(db_, "cannot purge dead letters");
  return sqlite3_changes(db_);
}

Result<std::vector<DeadLetter>> DeadLetterStore::takeReplays(const std::string& queue, int limit) {
  std::lock_guard lock(mutex_);
  std::vector<DeadLetter> out;
  {
    const std::string sql =
        std::string("SELECT ") + kColumns +
        ", payload FROM dead_letters WHERE queue = ?1 AND state = 'replay' ORDER BY id LIMIT ?2";
    Statement s(db_, sql.c_str());
    if (!s) return sqlError(db_, "cannot read dead letters to replay");
    s.bind(1, queue);
    s.bind(2, static_cast<std::int64_t>(limit));
    while (sqlite3_step(s.get()) == SQLITE_ROW) out.push_back(rowOf(s, true));
  }
  if (out.empty()) return out;
  Statement update(db_, "UPDATE dead_letters SET state = 'replaying' WHERE id = ?1");
  for (const auto& d : out) {
    sqlite3_reset(update.get());
    update.bind(1, d.id);
    sqlite3_step(update.get());
  }
  return out;
}

Result<void> DeadLetterStore::replayed(std::int64_t id, bool ok, const std::string& reason) {
  std::lock_guard lock(mutex_);
  Statement s(db_, ok ? "DELETE FROM dead_letters WHERE id = ?1"
                      : "UPDATE dead_letters SET state = 'stored', reason = ?2, attempts = "
                        "attempts + 1 WHERE id = ?1");
  s.bind(1, id);
  if (!ok) s.bind(2, "replay failed: " + reason);
  if (sqlite3_step(s.get()) != SQLITE_DONE) return sqlError(db_, "cannot record a replay");
  return {};
}

Result<void> DeadLetterStore::resetInterrupted() {
  std::lock_guard lock(mutex_);
  if (sqlite3_exec(db_, "UPDATE dead_letters SET state = 'replay' WHERE state = 'replaying'",
                   nullptr, nullptr, nullptr) != SQLITE_OK) {
    return sqlError(db_, "cannot reset interrupted replays");
  }
  return {};
}

}  // namespace busway::store
