// file: messages from and to files in a folder.
//
//  - Consumer (<from uri="file:/var/spool/in?include=*.csv"/>): polls the folder on a thread
//    of its own, takes a file once it is complete (read lock), hands it to the route as one
//    message or, with split=lines, as one message per line, and moves it to the done folder
//    (or deletes it) only in the done callback of the delivery, when the bus has it (the ack
//    contract). A failed file goes to the error folder with the reason next to it.
//  - Producer (<to uri="file:/var/spool/out?file-name=${header.order-id}.csv"/>): writes the
//    body atomically (temporary name, fsync, rename) or appends it as a record.
//
// docs/plugins/file.md describes every option, header and error.

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file_support.hpp"
#include <busway/plugin.hpp>

namespace busway::file {

namespace fs = std::filesystem;
namespace sdk = busway::sdk;
using Clock = std::chrono::system_clock;

std::string errnoText(int error) { return std::string(std::strerror(error)); }

Clock::time_point toTimePoint(const struct stat& st) {
  return Clock::time_point(std::chrono::duration_cast<Clock::duration>(
      std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec)));
}

const char* fileKind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  return "not a regular file";
}

// Closes a file descriptor when it goes out of scope.
class Fd {
 public:
  explicit Fd(int fd) noexcept : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const noexcept { return fd_; }
  int release() noexcept { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

// Writes all of `data`; false with errno set on failure.
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

void syncFolder(const fs::path& folder) {
  const Fd fd(::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() >= 0) ::fsync(fd.get());
}

// Files a consumer of this plugin has taken and not finished, by path. Shared by every
// consumer of the plugin, so that two routes reading one folder, or the consumer of a
// reloaded table, never take a file that is still on its way.
class Claims {
 public:
  bool claim(const std::string& path) {
    const std::lock_guard<std::mutex> lock(mutex_);
    return paths_.insert(path).second;
  }
  void release(const std::string& path) {
    const std::lock_guard<std::mutex> lock(mutex_);
    paths_.erase(path);
  }
  bool has(const std::string& path) {
    const std::lock_guard<std::mutex> lock(mutex_);
    return paths_.count(path) != 0;
  }

 private:
  std::mutex mutex_;
  std::set<std::string> paths_;
};

class FileEndpoint;

class FilePlugin : public sdk::Plugin {
 public:
  using Plugin::Plugin;
  using Endpoints = sdk::List<FileEndpoint>;

  const std::shared_ptr<Claims>& claims() const noexcept { return claims_; }

 private:
  std::shared_ptr<Claims> claims_ = std::make_shared<Claims>();
};

enum class ReadLock { rename, stable_size, none };

struct ConsumerConfig {
  std::string uri;
  fs::path folder;
  fs::path done_dir;
  fs::path error_dir;
  fs::path in_progress_dir;
  std::chrono::milliseconds poll{};
  GlobList include;
  GlobList exclude;
  bool recursive = false;
  ReadLock lock = ReadLock::stable_size;
  bool remove = false;
  std::string media_type;  // empty: from the extension
  bool split_lines = false;
  std::uint64_t max_size = 0;
  std::size_t max_in_flight = 0;
};

// One file the consumer has taken, until it is moved to done or error (or given back).
struct Work {
  fs::path original;  // where it was found (the claim's key)
  fs::path current;   // where it is now: the in-progress folder after a rename claim
  fs::path relative;  // relative to the folder; kept under done/ and error/
  std::mutex mutex;
  std::uint64_t outstanding = 0;  // deliveries not yet answered
  bool reading_done = false;
  bool aborted = false;  // the bus stopped or refused: leave the file for next time
  bool finished = false;
  std::uint64_t delivered = 0;
  std::uint64_t failed = 0;
  std::string first_error;
};

enum class Outcome { done, failed, aborted };

class Consumer : public std::enable_shared_from_this<Consumer> {
 public:
  Consumer(ConsumerConfig config, sdk::Host host, sdk::Route route, std::shared_ptr<Claims> claims)
      : config_(std::move(config)),
        host_(host),
        route_(std::move(route)),
        claims_(std::move(claims)) {}
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;
  ~Consumer() {
    if (thread_.joinable()) thread_.detach();  // stop() joins; only a failed start gets here
    releaseOwnership();  // the last delivery of this consumer has been answered
  }

  void start() {
    if (config_.lock == ReadLock::rename) {
      claimOwnership();
      recoverInProgress();
    }
    thread_ = std::thread([self = shared_from_this()] { self->run(); });
  }

  void stop() {
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  bool stopping() {
    const std::lock_guard<std::mutex> lock(mutex_);
    return stopping_;
  }

  void run() {
    host_.debug("polling ", config_.folder.string(), " every ", config_.poll.count(), "ms");
    while (!stopping()) {
      try {
        scan();
      } catch (const std::exception& e) {
        host_.error(config_.uri, ": polling ", config_.folder.string(), " failed: ", e.what());
      }
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait_for(lock, config_.poll, [this] { return stopping_; });
    }
  }

  // A claim of the rename lock that a previous consumer did not finish (the bus stopped or
  // crashed): the file goes back into the folder to be taken again (at-least-once).
  // read-lock=rename: this consumer claims files into in-progress/OWNER/, and holds an
  // flock on in-progress/OWNER.lock for as long as it (or a delivery of its) lives. The
  // kernel drops the lock when the process dies, so a lock that can be taken belongs to a
  // bus that stopped or crashed: its files go back into the folder to be read again
  // (at-least-once), while the claims of buses that still run are left alone.
  void claimOwnership() {
    std::error_code ec;
    fs::create_directories(config_.in_progress_dir, ec);
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    static std::atomic<std::uint64_t> sequence{0};
    owner_ = std::string(host) + "-" + std::to_string(::getpid()) + "-" +
             std::to_string(sequence.fetch_add(1));
    const fs::path lock = config_.in_progress_dir / (owner_ + ".lock");
    auto fd = std::make_shared<Fd>(::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    if (fd->get() < 0 || ::flock(fd->get(), LOCK_EX | LOCK_NB) != 0) {
      throw sdk::TransientError(config_.uri + ": cannot create and lock " + lock.string() + ": " +
                                errnoText(errno) + "; read-lock=rename needs a writable " +
                                config_.in_progress_dir.string());
    }
    owner_lock_ = std::move(fd);
  }

  void recoverInProgress() {
    std::error_code ec;
    std::vector<fs::path> locks;
    for (auto it = fs::directory_iterator(config_.in_progress_dir, ec);
         !ec && it != fs::directory_iterator(); it.increment(ec)) {
      if (it->path().extension() == ".lock" && it->path().stem() != owner_)
        locks.push_back(it->path());
    }
    for (const fs::path& lock : locks) {
      const Fd fd(::open(lock.c_str(), O_RDWR | O_CLOEXEC));
      if (fd.get() < 0 || ::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) continue;  // alive
      const fs::path claimed = config_.in_progress_dir / lock.stem();
      bool all_back = true;
      std::error_code walk_error;
      for (auto it = fs::recursive_directory_iterator(claimed, walk_error);
           !walk_error && it != fs::recursive_directory_iterator(); it.increment(walk_error)) {
        std::error_code type_error;
        if (it->is_directory(type_error)) continue;
        const fs::path back = config_.folder / it->path().lexically_relative(claimed);
        std::error_code move_error;
        fs::create_directories(back.parent_path(), move_error);
        fs::rename(it->path(), back, move_error);
        if (move_error) {
          all_back = false;
          host_.warn(config_.uri, ": cannot give ", it->path().string(),
                     " back to the folder: ", move_error.message());
        } else {
          host_.info(config_.uri, ": ", back.string(),
                     " was in progress when its bus stopped; it is read again");
        }
      }
      if (all_back) {
        std::error_code remove_error;
        fs::remove_all(claimed, remove_error);
        fs::remove(lock, remove_error);
      }
    }
  }

  // Removes this consumer's in-progress folder and lock once nothing of it is left.
  void releaseOwnership() noexcept {
    if (!owner_lock_) return;
    std::error_code ec;
    const fs::path claimed = config_.in_progress_dir / owner_;
    bool empty = true;
    for (auto it = fs::recursive_directory_iterator(claimed, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      std::error_code type_error;
      if (!it->is_directory(type_error)) empty = false;
    }
    if (!empty) return;  // recovered by the next consumer that starts
    fs::remove_all(claimed, ec);
    fs::remove(config_.in_progress_dir / (owner_ + ".lock"), ec);
    owner_lock_.reset();
  }

  bool excludedFolder(const fs::path& path) const {
    return path == config_.done_dir || path == config_.error_dir || path == config_.in_progress_dir;
  }

  struct Candidate {
    fs::path path;
    fs::path relative;
  };

  void scan() {
    ++generation_;
    std::vector<Candidate> candidates;
    std::error_code ec;
    if (config_.recursive) {
      auto it = fs::recursive_directory_iterator(config_.folder,
                                                 fs::directory_options::skip_permission_denied, ec);
      for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        const fs::path& path = it->path();
        const std::string name = path.filename().string();
        std::error_code type_error;
        if (it->is_directory(type_error)) {
          if (name.front() == '.' || excludedFolder(path)) it.disable_recursion_pending();
          continue;
        }
        consider(path, candidates);
      }
    } else {
      for (auto it = fs::directory_iterator(config_.folder, ec);
           !ec && it != fs::directory_iterator(); it.increment(ec)) {
        std::error_code type_error;
        if (it->is_directory(type_error)) continue;
        consider(it->path(), candidates);
      }
    }
    if (ec) {
      // Said once per outage (a folder not mounted yet, removed, no permission), not per poll.
      if (listing_ok_) {
        host_.warn(config_.uri, ": cannot list ", config_.folder.string(), ": ", ec.message(),
                   "; trying again every poll");
      }
      listing_ok_ = false;
      return;
    }
    if (!listing_ok_) host_.info(config_.uri, ": can list ", config_.folder.string(), " again");
    listing_ok_ = true;
    // Forget files that are gone, so the map stays as small as the folder.
    std::erase_if(seen_,
                  [this](const auto& entry) { return entry.second.generation != generation_; });
    for (const Candidate& candidate : candidates) {
      if (stopping()) return;
      if (!take(candidate)) return;  // the bus refused: try again at the next poll
    }
  }

  // Adds `path` to `candidates` when it matches and is complete.
  void consider(const fs::path& path, std::vector<Candidate>& candidates) {
    const std::string name = path.filename().string();
    if (name.empty() || name.front() == '.') return;  // hidden: temporary files of writers
    const fs::path relative = path.lexically_relative(config_.folder);
    const std::string relative_text = relative.string();
    if (!config_.include.empty() && !config_.include.matches(name, relative_text)) return;
    if (config_.exclude.matches(name, relative_text)) return;
    const std::string key = path.string();
    if (claims_->has(key)) return;
    if (config_.lock != ReadLock::none) {
      // Complete when size and modification time did not change since the last poll.
      struct stat st {};
      if (::stat(path.c_str(), &st) != 0) return;
      const Seen now{static_cast<std::uint64_t>(st.st_size), toTimePoint(st)};
      const auto [it, inserted] = seen_.try_emplace(key, now);
      if (inserted || it->second.size != now.size || it->second.modified != now.modified) {
        it->second = now;
        it->second.generation = generation_;
        return;
      }
      it->second.generation = generation_;
    }
    candidates.push_back(Candidate{path, relative});
  }

  // Takes one file. False when the bus refused a delivery (stop scanning for now).
  bool take(const Candidate& candidate) {
    const std::string key = candidate.path.string();
    if (!claims_->claim(key)) return true;
    seen_.erase(key);
    auto work = std::make_shared<Work>();
    work->original = candidate.path;
    work->current = candidate.path;
    work->relative = candidate.relative;
    if (config_.lock == ReadLock::rename) {
      const fs::path claimed = config_.in_progress_dir / owner_ / candidate.relative;
      std::error_code ec;
      fs::create_directories(claimed.parent_path(), ec);
      fs::rename(candidate.path, claimed, ec);
      if (ec) {
        // Gone (another bus took it) or not ours to move: not an error of the file.
        host_.debug(config_.uri, ": could not claim ", key, ": ", ec.message());
        claims_->release(key);
        return true;
      }
      work->current = claimed;
    }
    if (config_.split_lines) return takeLines(work);
    return takeWhole(work);
  }

  // Opens the file for reading. On failure the file is finished (vanished or failed) and
  // the result is empty.
  std::optional<int> open(const std::shared_ptr<Work>& work, struct stat& st) {
    Fd fd(::open(work->current.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    if (fd.get() < 0) {
      const int error = errno;
      if (error == ENOENT) {
        host_.warn(config_.uri, ": ", work->current.string(),
                   " vanished before it could be read; nothing to do");
        claims_->release(work->original.string());
        return std::nullopt;
      }
      finish(work, Outcome::failed,
             "cannot open " + work->current.string() + ": " + errnoText(error));
      return std::nullopt;
    }
    if (::fstat(fd.get(), &st) != 0) {
      finish(work, Outcome::failed,
             "cannot stat " + work->current.string() + ": " + errnoText(errno));
      return std::nullopt;
    }
    if (!S_ISREG(st.st_mode)) {
      finish(work, Outcome::failed,
             "cannot read " + work->current.string() + ": it is " + fileKind(st.st_mode) +
                 ", not a regular file");
      return std::nullopt;
    }
    // Reading blocks from here on (a regular file never returns EAGAIN anyway).
    ::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) & ~O_NONBLOCK);
    return fd.release();
  }

  void setFileHeaders(sdk::MessageRef message, const Work& work, const struct stat& st) const {
    message.setHeader("file.name", work.original.filename().string());
    message.setHeader("file.path", work.original.string());
    message.setHeader("file.size", static_cast<std::int64_t>(st.st_size));
    message.setHeader("file.modified", isoTime(toTimePoint(st)));
    if (config_.recursive) message.setHeader("file.relative-path", work.relative.string());
  }

  bool takeWhole(const std::shared_ptr<Work>& work) {
    if (!acquireSlot()) {
      finish(work, Outcome::aborted, {});
      return false;
    }
    struct stat st {};
    const auto opened = open(work, st);
    if (!opened) {
      releaseSlot();
      return true;
    }
    const Fd fd(*opened);
    if (static_cast<std::uint64_t>(st.st_size) > config_.max_size) {
      releaseSlot();
      finish(work, Outcome::failed,
             work->current.string() + " has " + std::to_string(st.st_size) +
                 " bytes, more than max-size (" + std::to_string(config_.max_size) +
                 "); raise max-size or read it with split=lines");
      return true;
    }
    std::string body;
    body.reserve(static_cast<std::size_t>(st.st_size));
    char buffer[65536];
    for (;;) {
      const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        const int error = errno;
        releaseSlot();
        finish(work, Outcome::failed,
               "cannot read " + work->current.string() + ": " + errnoText(error));
        return true;
      }
      if (n == 0) break;
      body.append(buffer, static_cast<std::size_t>(n));
      if (body.size() > config_.max_size) {
        releaseSlot();
        finish(work, Outcome::failed,
               work->current.string() + " grew past max-size (" + std::to_string(config_.max_size) +
                   ") while it was read");
        return true;
      }
    }
    sdk::OwnedMessage message = host_.newMessage(
        body, config_.media_type.empty() ? mediaTypeFor(work->original) : config_.media_type);
    body = std::string();
    setFileHeaders(message, *work, st);
    {
      const std::lock_guard<std::mutex> lock(work->mutex);
      work->outstanding = 1;
      work->reading_done = true;
    }
    const sdk::Status status = route_.deliver(
        std::move(message), [self = shared_from_this(), work](const sdk::DeliveryResult& result) {
          self->answered(work, result.ok(), result.error, 0);
        });
    if (status != sdk::Status::ok) {
      releaseSlot();
      finish(work, Outcome::aborted, {});
      return false;
    }
    return true;
  }

  bool takeLines(const std::shared_ptr<Work>& work) {
    struct stat st {};
    const auto opened = open(work, st);
    if (!opened) return true;
    const Fd fd(*opened);
    const std::string media_type =
        config_.media_type.empty() ? lineMediaTypeFor(work->original) : config_.media_type;
    std::string line;
    bool too_long = false;
    std::uint64_t number = 0;
    bool refused = false;
    std::string read_error;

    // Delivers one line; false to stop reading (the bus stops or refused).
    const auto emit = [&]() -> bool {
      ++number;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (too_long) {
        too_long = false;
        line.clear();
        const std::lock_guard<std::mutex> lock(work->mutex);
        ++work->failed;
        if (work->first_error.empty()) {
          work->first_error = "line " + std::to_string(number) + " is longer than max-size (" +
                              std::to_string(config_.max_size) + " bytes)";
        }
        return true;
      }
      if (line.empty()) return true;  // blank lines carry no message
      if (!acquireSlot()) {
        const std::lock_guard<std::mutex> lock(work->mutex);
        work->aborted = true;
        return false;
      }
      sdk::OwnedMessage message = host_.newMessage(line, media_type);
      line.clear();
      setFileHeaders(message, *work, st);
      message.setHeader("file.line", static_cast<std::int64_t>(number));
      {
        const std::lock_guard<std::mutex> lock(work->mutex);
        ++work->outstanding;
        ++work->delivered;
      }
      const sdk::Status status = route_.deliver(
          std::move(message),
          [self = shared_from_this(), work, number](const sdk::DeliveryResult& result) {
            self->answered(work, result.ok(), result.error, number);
          });
      if (status != sdk::Status::ok) {
        releaseSlot();
        const std::lock_guard<std::mutex> lock(work->mutex);
        --work->outstanding;
        --work->delivered;
        work->aborted = true;
        refused = true;
        return false;
      }
      return true;
    };

    char buffer[65536];
    bool reading = true;
    while (reading) {
      const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        read_error = "cannot read " + work->current.string() + " after line " +
                     std::to_string(number) + ": " + errnoText(errno);
        break;
      }
      if (n == 0) {
        if (!line.empty() || too_long) reading = emit();
        break;
      }
      std::string_view chunk(buffer, static_cast<std::size_t>(n));
      while (!chunk.empty() && reading) {
        const std::size_t newline = chunk.find('\n');
        const std::string_view piece = chunk.substr(0, newline);
        if (!too_long) {
          if (line.size() + piece.size() > config_.max_size) {
            too_long = true;
            line.clear();
          } else {
            line.append(piece);
          }
        }
        if (newline == std::string_view::npos) break;
        chunk.remove_prefix(newline + 1);
        reading = emit();
      }
    }
    bool finished = false;
    Outcome outcome = Outcome::done;
    std::string reason;
    {
      const std::lock_guard<std::mutex> lock(work->mutex);
      if (!read_error.empty()) {
        ++work->failed;
        if (work->first_error.empty()) work->first_error = read_error;
      }
      work->reading_done = true;
      if (work->outstanding == 0 && !work->finished) {
        work->finished = true;
        finished = true;
        std::tie(outcome, reason) = outcomeOf(*work);
      }
    }
    if (finished) finish(work, outcome, reason);
    return !refused;
  }

  // The outcome of a finished work item (called with its mutex held).
  static std::pair<Outcome, std::string> outcomeOf(const Work& work) {
    if (work.aborted) return {Outcome::aborted, {}};
    if (work.failed > 0) {
      return {Outcome::failed, std::to_string(work.failed) +
                                   " of its records failed; the first: " + work.first_error};
    }
    return {Outcome::done, {}};
  }

  // A delivery was answered (the done callback).
  void answered(const std::shared_ptr<Work>& work, bool ok, std::string_view error,
                std::uint64_t line) {
    releaseSlot();
    bool finished = false;
    Outcome outcome = Outcome::done;
    std::string reason;
    {
      const std::lock_guard<std::mutex> lock(work->mutex);
      --work->outstanding;
      if (!ok) {
        ++work->failed;
        if (work->first_error.empty()) {
          work->first_error = (line > 0 ? "line " + std::to_string(line) + ": " : std::string()) +
                              std::string(error);
        }
      }
      if (work->reading_done && work->outstanding == 0 && !work->finished) {
        work->finished = true;
        finished = true;
        std::tie(outcome, reason) = outcomeOf(*work);
        if (!config_.split_lines && outcome == Outcome::failed) reason = work->first_error;
      }
    }
    if (finished) finish(work, outcome, reason);
  }

  bool acquireSlot() {
    std::unique_lock<std::mutex> lock(mutex_);
    wake_.wait(lock, [this] { return stopping_ || in_flight_ < config_.max_in_flight; });
    if (stopping_) return false;
    ++in_flight_;
    return true;
  }
  void releaseSlot() {
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      --in_flight_;
    }
    wake_.notify_all();
  }

  // Moves `from` to `to`; when `to` exists, to a name with a time suffix. Returns where the
  // file went, or nullopt (logged) when it could not be moved.
  std::optional<fs::path> move(const fs::path& from, fs::path to) {
    std::error_code ec;
    fs::create_directories(to.parent_path(), ec);
    if (fs::exists(fs::symlink_status(to, ec))) {
      to += "." + formatTime("yyyyMMddHHmmssSSS", Clock::now()) + "-" +
            std::to_string(suffix_.fetch_add(1));
    }
    ec.clear();
    fs::rename(from, to, ec);
    if (ec == std::errc::cross_device_link) {
      ec.clear();
      fs::copy_file(from, to, ec);
      if (!ec) fs::remove(from, ec);
    }
    if (ec) {
      if (ec == std::errc::no_such_file_or_directory) {
        host_.warn(config_.uri, ": ", from.string(), " vanished before it could be moved to ",
                   to.parent_path().string());
      } else {
        host_.error(config_.uri, ": cannot move ", from.string(), " to ", to.string(), ": ",
                    ec.message(), "; it stays where it is");
      }
      return std::nullopt;
    }
    return to;
  }

  void finish(const std::shared_ptr<Work>& work, Outcome outcome, const std::string& reason) {
    const std::string key = work->original.string();
    switch (outcome) {
      case Outcome::done: {
        if (config_.remove) {
          std::error_code ec;
          fs::remove(work->current, ec);
          if (ec) {
            host_.error(config_.uri, ": cannot delete ", work->current.string(), ": ",
                        ec.message());
          }
        } else {
          move(work->current, config_.done_dir / work->relative);
        }
        host_.metric("files.done");
        host_.debug(config_.uri, ": done with ", key);
        break;
      }
      case Outcome::failed: {
        host_.metric("files.failed");
        const auto moved = move(work->current, config_.error_dir / work->relative);
        if (moved) {
          host_.warn(config_.uri, ": moved ", key, " to ", moved->string(), ": ", reason);
          const fs::path note = moved->string() + ".error.txt";
          const Fd fd(::open(note.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
          const std::string text = "file: " + key + "\ntime: " + isoTime(Clock::now()) +
                                   "\nendpoint: " + config_.uri + "\nreason: " + reason + "\n";
          if (fd.get() < 0 || !writeAll(fd.get(), text)) {
            host_.error(config_.uri, ": cannot write ", note.string(), ": ", errnoText(errno));
          }
        } else {
          host_.warn(config_.uri, ": ", key, " failed: ", reason);
        }
        break;
      }
      case Outcome::aborted: {
        // Not finished (the bus stops or refused): the file is read again later.
        if (work->current != work->original) {
          std::error_code ec;
          fs::rename(work->current, work->original, ec);
          if (ec) {
            host_.warn(config_.uri, ": cannot give ", work->current.string(),
                       " back to the folder: ", ec.message(),
                       "; it is recovered at the next start");
          }
        }
        break;
      }
    }
    claims_->release(key);
  }

  struct Seen {
    std::uint64_t size = 0;
    Clock::time_point modified;
    std::uint64_t generation = 0;
  };

  ConsumerConfig config_;
  sdk::Host host_;
  sdk::Route route_;
  std::shared_ptr<Claims> claims_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::size_t in_flight_ = 0;
  std::map<std::string, Seen> seen_;  // consumer thread only
  std::uint64_t generation_ = 0;
  bool listing_ok_ = true;
  std::string owner_;               // read-lock=rename: names this consumer's claims
  std::shared_ptr<Fd> owner_lock_;  // the flock on in-progress/OWNER.lock
  std::atomic<std::uint64_t> suffix_{0};
  std::thread thread_;
};

class FileEndpoint : public sdk::Endpoint {
 public:
  static constexpr std::string_view scheme = "file";

  FileEndpoint(FilePlugin& plugin, const sdk::Options& options)
      : host_(plugin.host()),
        claims_(plugin.claims()),
        uri_(options.uri()),
        folder_(folderOf(options)),
        name_(nameTemplate(options)) {
    consumer_.uri = uri_;
    consumer_.folder = folder_;
    consumer_.done_dir = under(folder_, options.text("done"));
    consumer_.error_dir = under(folder_, options.text("error"));
    consumer_.in_progress_dir = under(folder_, options.text("in-progress"));
    consumer_.poll = options.duration("poll");
    if (consumer_.poll.count() <= 0) throw sdk::InvalidError(uri_ + ": poll must be above 0");
    consumer_.include = GlobList(options.text("include", ""));
    consumer_.exclude = GlobList(options.text("exclude", ""));
    consumer_.recursive = options.boolean("recursive");
    const std::string lock = options.text("read-lock");
    if (lock == "rename")
      consumer_.lock = ReadLock::rename;
    else if (lock == "stable-size")
      consumer_.lock = ReadLock::stable_size;
    else if (lock == "none")
      consumer_.lock = ReadLock::none;
    else
      throw sdk::InvalidError(uri_ + ": read-lock is '" + lock +
                              "'; use rename, stable-size or none");
    consumer_.remove = options.boolean("delete");
    consumer_.media_type = options.text("media-type", "");
    const std::string split = options.text("split");
    if (split == "lines")
      consumer_.split_lines = true;
    else if (split != "none")
      throw sdk::InvalidError(uri_ + ": split is '" + split + "'; use none or lines");
    consumer_.max_size = options.bytes("max-size");
    const std::int64_t in_flight = options.integer("max-in-flight");
    if (in_flight < 1) throw sdk::InvalidError(uri_ + ": max-in-flight must be at least 1");
    consumer_.max_in_flight = static_cast<std::size_t>(in_flight);

    append_ = options.boolean("append");
    separator_ = unescape(options.text("separator", ""));
    mkdirs_ = options.boolean("mkdirs");
    fsync_ = options.boolean("fsync");
  }

  void startConsumer(sdk::Route route) override {
    consumer_state_ = std::make_shared<Consumer>(consumer_, host_, std::move(route), claims_);
    consumer_state_->start();
  }

  void stopConsumer() override {
    if (consumer_state_) consumer_state_->stop();
    consumer_state_.reset();
  }

  void send(sdk::Sending& sending) override {
    const sdk::MessageRef message = sending.message();
    NameTemplate::Values values;
    values.header = [&message](std::string_view name) -> std::optional<std::string> {
      const auto value = message.header(name);
      if (!value) return std::nullopt;
      return std::string(*value);
    };
    values.id = std::string(message.id());
    values.correlation_id = std::string(message.correlationId());
    values.now = Clock::now();
    std::string name;
    try {
      name = name_.render(values);
    } catch (const std::invalid_argument& e) {
      throw sdk::InvalidError(uri_ + ": " + e.what());
    }
    if (const auto why = refuseName(name)) {
      throw sdk::InvalidError(uri_ + ": " + *why + "; a file name must stay inside the folder " +
                              folder_.string());
    }
    const fs::path target = (folder_ / name).lexically_normal();
    const fs::path parent = target.parent_path();
    std::error_code ec;
    {
      // The name stays inside lexically; a symbolic link inside the folder could still lead
      // out of it, so compare the real paths too (before any folder is created).
      std::error_code folder_error;
      const fs::path real_folder = fs::weakly_canonical(folder_, folder_error);
      const fs::path real_parent = fs::weakly_canonical(parent, ec);
      if (!ec && !folder_error) {
        const fs::path inside = real_parent.lexically_relative(real_folder);
        if (inside.empty() || *inside.begin() == "..") {
          throw sdk::InvalidError(uri_ + ": the file name '" + name +
                                  "' leaves the folder through a symbolic link (to " +
                                  real_parent.string() + ")");
        }
      }
      ec.clear();
    }
    if (mkdirs_) {
      fs::create_directories(parent, ec);
      if (ec) {
        throw sdk::TransientError(uri_ + ": cannot create the folder " + parent.string() + ": " +
                                  ec.message());
      }
    } else if (!fs::is_directory(parent, ec)) {
      throw sdk::Error(sdk::Status::permanent, uri_ + ": the folder " + parent.string() +
                                                   " does not exist; create it or set mkdirs=true");
    }
    if (append_)
      appendTo(target, message.body());
    else
      writeAtomically(target, message.body());
    message.setHeader("file.path", target.string());
    message.setHeader("file.name", target.filename().string());
    host_.metric("files.written");
  }

 private:
  static fs::path folderOf(const sdk::Options& options) {
    std::string path = options.path();
    // file:///var/spool/in and file:/var/spool/in name the same folder.
    while (path.rfind("//", 0) == 0) path.erase(0, 1);
    const fs::path folder = fs::path(path).lexically_normal();
    if (path.empty() || !folder.is_absolute()) {
      throw sdk::InvalidError(options.uri() +
                              ": the file endpoint needs an absolute folder, "
                              "e.g. file:/var/spool/orders");
    }
    std::string text = folder.string();
    if (text.size() > 1 && text.back() == '/') text.pop_back();
    return fs::path(text);
  }

  static NameTemplate nameTemplate(const sdk::Options& options) {
    try {
      return NameTemplate(options.text("file-name"));
    } catch (const std::invalid_argument& e) {
      throw sdk::InvalidError(options.uri() + ": file-name: " + e.what());
    }
  }

  static fs::path under(const fs::path& folder, const std::string& name) {
    const fs::path path(name);
    return (path.is_absolute() ? path : folder / path).lexically_normal();
  }

  void writeAtomically(const fs::path& target, std::string_view body) {
    // A hidden temporary name in the same folder (so rename is atomic, and consumers that
    // skip hidden files never see it), then rename over the target.
    thread_local std::mt19937_64 random{std::random_device{}()};
    const fs::path temporary = target.parent_path() / ("." + target.filename().string() +
                                                       ".busway-tmp-" + std::to_string(random()));
    {
      Fd fd(::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
      if (fd.get() < 0) {
        throw sdk::TransientError(uri_ + ": cannot create " + temporary.string() + ": " +
                                  errnoText(errno));
      }
      if (!writeAll(fd.get(), body) || (fsync_ && ::fsync(fd.get()) != 0)) {
        const int error = errno;
        ::unlink(temporary.c_str());
        throw sdk::TransientError(uri_ + ": cannot write " + temporary.string() + ": " +
                                  errnoText(error) + " (disk full?)");
      }
      if (::close(fd.release()) != 0) {
        const int error = errno;
        ::unlink(temporary.c_str());
        throw sdk::TransientError(uri_ + ": cannot write " + temporary.string() + ": " +
                                  errnoText(error));
      }
    }
    if (::rename(temporary.c_str(), target.c_str()) != 0) {
      const int error = errno;
      ::unlink(temporary.c_str());
      throw sdk::TransientError(uri_ + ": cannot rename " + temporary.string() + " to " +
                                target.string() + ": " + errnoText(error));
    }
    if (fsync_) syncFolder(target.parent_path());
  }

  void appendTo(const fs::path& target, std::string_view body) {
    std::string record(body);
    record += separator_;
    // One write per record under a lock, so records of concurrent sends never interleave.
    const std::lock_guard<std::mutex> lock(append_mutex_);
    Fd fd(::open(target.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
    if (fd.get() < 0) {
      throw sdk::TransientError(uri_ + ": cannot open " + target.string() +
                                " to append: " + errnoText(errno));
    }
    if (!writeAll(fd.get(), record) || (fsync_ && ::fsync(fd.get()) != 0)) {
      throw sdk::TransientError(uri_ + ": cannot append to " + target.string() + ": " +
                                errnoText(errno) + " (disk full?)");
    }
    if (::close(fd.release()) != 0) {
      throw sdk::TransientError(uri_ + ": cannot append to " + target.string() + ": " +
                                errnoText(errno));
    }
  }

  sdk::Host host_;
  std::shared_ptr<Claims> claims_;
  std::string uri_;
  fs::path folder_;
  NameTemplate name_;
  ConsumerConfig consumer_;
  std::shared_ptr<Consumer> consumer_state_;
  bool append_ = false;
  std::string separator_;
  bool mkdirs_ = true;
  bool fsync_ = true;
  std::mutex append_mutex_;
};

}  // namespace busway::file

BUSWAY_PLUGIN(busway::file::FilePlugin);
