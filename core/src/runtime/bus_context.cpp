#include "busway/runtime/bus_context.hpp"

#include <thread>

#include "busway/endpoint/component_registry.hpp"
#include "busway/endpoint/core_components.hpp"
#include "busway/router/transformer.hpp"
#include "busway/util/log.hpp"

namespace busway {
namespace {
unsigned pickThreads(unsigned requested) {
  if (requested > 0) return requested;
  const unsigned cores = std::thread::hardware_concurrency();
  return cores == 0 ? 2 : cores;
}
}  // namespace

BusContext::BusContext(unsigned threads)
    : threads_(pickThreads(threads)),
      pool_(threads_),
      components_(std::make_unique<ComponentRegistry>(*this)),
      transformers_(std::make_unique<TransformerRegistry>()) {
  registerCoreComponents(*this);
}

BusContext::~BusContext() { join(); }

void BusContext::setDataDir(std::filesystem::path dir, store::LogOptions options) {
  std::lock_guard lock(store_mutex_);
  data_dir_ = std::move(dir);
  log_options_ = options;
}

Result<store::SegmentLog*> BusContext::queueLog() {
  std::lock_guard lock(store_mutex_);
  if (queue_log_) return queue_log_.get();
  if (data_dir_.empty()) {
    return Error(ErrorKind::unavailable,
                 "durable queues need a data directory (busway run --data-dir DIR)");
  }
  store::RecoveryReport report;
  auto log = store::SegmentLog::open(data_dir_ / "queues", log_options_, &report);
  if (!log) return std::move(log).error();
  if (!report.damage.empty()) {
    logWarn("store",
            "recovered " + (data_dir_ / "queues").string() + " with damage:\n" + report.describe());
  } else {
    logInfo("store", "opened " + (data_dir_ / "queues").string() + ": " + report.describe());
  }
  queue_log_ = std::move(*log);
  return queue_log_.get();
}

Result<store::DeadLetterStore*> BusContext::deadLetters() {
  std::lock_guard lock(store_mutex_);
  if (dead_letters_) return dead_letters_.get();
  if (data_dir_.empty())
    return Error(ErrorKind::unavailable,
                 "dead letters need a data directory (busway run --data-dir DIR)");
  auto store = store::DeadLetterStore::open(data_dir_ / "state.db", true);
  if (!store) return std::move(store).error();
  if (auto reset = (*store)->resetInterrupted(); !reset) return reset.error();
  dead_letters_ = std::move(*store);
  return dead_letters_.get();
}

Result<store::IdempotencyStore*> BusContext::idempotency() {
  std::lock_guard lock(store_mutex_);
  if (idempotency_) return idempotency_.get();
  if (data_dir_.empty())
    return Error(ErrorKind::unavailable,
                 "idempotent receivers need a data directory (busway run --data-dir DIR)");
  auto store = store::IdempotencyStore::open(data_dir_ / "state.db");
  if (!store) return std::move(store).error();
  idempotency_ = std::move(*store);
  return idempotency_.get();
}

void BusContext::join() {
  pool_.stop();
  pool_.join();
  // Acks still queued reach the disk before the log closes.
  std::lock_guard lock(store_mutex_);
  if (queue_log_) queue_log_->flush();
}

}  // namespace busway
