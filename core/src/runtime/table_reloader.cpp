#include "busway/runtime/table_reloader.hpp"

#include <QDateTime>
#include <QDir>
#include <QFileInfo>
#include <QFileSystemWatcher>
#include <QObject>
#include <QTimer>
#include <filesystem>

#include "busway/runtime/bus.hpp"
#include "busway/util/log.hpp"

namespace busway {

TableReloader::TableReloader(Bus& bus, std::vector<std::string> tables)
    : bus_(bus), tables_(std::move(tables)) {}

TableReloader::~TableReloader() = default;

void TableReloader::watch() {
  owner_ = std::make_unique<QObject>();
  watcher_ = new QFileSystemWatcher(owner_.get());
  debounce_ = new QTimer(owner_.get());
  debounce_->setSingleShot(true);
  debounce_->setInterval(250);
  QObject::connect(debounce_, &QTimer::timeout, owner_.get(), [this] { reload("file changed"); });
  const auto changed = [this](const QString&) {
    debounce_->start();
    rewatch();
  };
  QObject::connect(watcher_, &QFileSystemWatcher::fileChanged, owner_.get(), changed);
  // Editors often save by writing a new file and renaming it over the old one: the watch
  // on the old file is lost, so the folders are watched too.
  QObject::connect(watcher_, &QFileSystemWatcher::directoryChanged, owner_.get(),
                   [this](const QString&) { rewatch(); });
  rewatch();
}

void TableReloader::rewatch() {
  if (watcher_ == nullptr) return;
  std::vector<std::string> files = bus_.files();
  files.insert(files.end(), tables_.begin(), tables_.end());
  QStringList wanted;
  for (const auto& f : files) {
    const QFileInfo info(QString::fromStdString(f));
    if (info.exists()) wanted << info.absoluteFilePath();
    if (info.absoluteDir().exists()) wanted << info.absolutePath();
  }
  wanted.removeDuplicates();
  QStringList watched = watcher_->files() + watcher_->directories();
  QStringList missing;
  for (const auto& w : wanted) {
    if (!watched.contains(w)) missing << w;
  }
  if (!missing.isEmpty()) watcher_->addPaths(missing);
  // A file replaced by rename has a new modification time; notice it via the folder.
  for (const auto& f : files) {
    const QFileInfo info(QString::fromStdString(f));
    const auto key = info.absoluteFilePath().toStdString();
    const auto stamp = info.exists() ? info.lastModified().toMSecsSinceEpoch() : -1;
    auto& known = stamps_[key];
    if (known != 0 && known != stamp && debounce_ != nullptr) debounce_->start();
    known = stamp;
  }
}

bool TableReloader::reload(const std::string& reason) {
  Diagnostics diagnostics;
  logInfo("reload", "reloading the routing table (" + reason + ")");
  if (bus_.load(tables_, diagnostics)) {
    ++reloads_;
    for (const auto& d : diagnostics.all()) logWarn("reload", d.toString());
    rewatch();
    return true;
  }
  ++rejected_;
  logError("reload", "the new routing table has " + std::to_string(diagnostics.errorCount()) +
                         " error(s); the running table (generation " +
                         std::to_string(bus_.generation()) + ") stays:");
  for (const auto& d : diagnostics.all()) logError("reload", d.toString());
  rewatch();
  return false;
}

}  // namespace busway
