#pragma once

#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "busway/store/dead_letters.hpp"
#include "busway/store/idempotency.hpp"
#include "busway/store/segment_log.hpp"
#include "busway/util/asio.hpp"
#include "busway/util/result.hpp"

namespace busway {

class ComponentRegistry;
class TransformerRegistry;

// What every part of a running bus shares: the data-plane thread pool (Asio), the
// registry of endpoint components and the registry of transformers. One per bus.
class BusContext {
 public:
  explicit BusContext(unsigned threads = 0);  // 0: one per core
  ~BusContext();
  BusContext(const BusContext&) = delete;
  BusContext& operator=(const BusContext&) = delete;

  boost::asio::any_io_executor executor() { return pool_.get_executor(); }
  unsigned threads() const noexcept { return threads_; }

  ComponentRegistry& components() noexcept { return *components_; }
  TransformerRegistry& transformers() noexcept { return *transformers_; }

  // The data directory of the durable store (`busway run --data-dir`). Without one (validation,
  // unit tests that do not ask for it) durable endpoints cannot be used at run time.
  void setDataDir(std::filesystem::path dir, store::LogOptions options = {});
  const std::filesystem::path& dataDir() const noexcept { return data_dir_; }
  bool hasDataDir() const noexcept { return !data_dir_.empty(); }
  // The durable queue log in DATA_DIR/queues, opened (and recovered) on first use.
  Result<store::SegmentLog*> queueLog();
  // The dead-letter store in DATA_DIR/state.db (SQLite), opened on first use.
  Result<store::DeadLetterStore*> deadLetters();
  // The idempotent receivers' keys in DATA_DIR/state.db, opened on first use.
  Result<store::IdempotencyStore*> idempotency();

  // Stops the pool: handlers not yet started are dropped, running ones finish. Call it
  // after Bus::stop() has drained the routes (the destructor does).
  void join();

 private:
  unsigned threads_;
  boost::asio::thread_pool pool_;
  std::unique_ptr<ComponentRegistry> components_;
  std::unique_ptr<TransformerRegistry> transformers_;
  std::filesystem::path data_dir_;
  store::LogOptions log_options_;
  std::mutex store_mutex_;
  std::unique_ptr<store::SegmentLog> queue_log_;
  std::unique_ptr<store::DeadLetterStore> dead_letters_;
  std::unique_ptr<store::IdempotencyStore> idempotency_;
};

}  // namespace busway
