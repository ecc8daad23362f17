#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

class QFileSystemWatcher;
class QTimer;
class QObject;

namespace busway {

class Bus;

// Reloads the routing table when one of its files (or an included file) changes on disk,
// or when asked (SIGHUP). The new table is loaded and checked in full first; if it has any
// error the running table stays and the errors are logged with their positions. Needs a
// running QCoreApplication event loop for file watching.
class TableReloader {
 public:
  TableReloader(Bus& bus, std::vector<std::string> tables);
  ~TableReloader();
  TableReloader(const TableReloader&) = delete;
  TableReloader& operator=(const TableReloader&) = delete;

  // Watches the table's files; changes are debounced (editors write in several steps).
  void watch();
  // Reloads now; true when the new table is running.
  bool reload(const std::string& reason);

  std::uint64_t reloads() const noexcept { return reloads_; }
  std::uint64_t rejected() const noexcept { return rejected_; }

 private:
  void rewatch();

  Bus& bus_;
  std::vector<std::string> tables_;
  std::unique_ptr<QObject> owner_;
  QFileSystemWatcher* watcher_ = nullptr;
  QTimer* debounce_ = nullptr;
  std::map<std::string, long long> stamps_;  // modification times seen, by absolute path
  std::atomic<std::uint64_t> reloads_{0};
  std::atomic<std::uint64_t> rejected_{0};
};

}  // namespace busway
