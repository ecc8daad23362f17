#pragma once

// Helpers for the store's integration tests: a routing table around the linetest plugin
// (tests/plugins/linetest), the bus as a child process, and a line client that records
// which messages the bus acknowledged.

#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "child_process.hpp"
#include "servers/server_support.hpp"

namespace busway::testing::store {

inline std::string pluginDir() {
  return std::string(BUSWAY_BINARY_DIR) + "/tests/test-plugins/linetest";
}

inline std::vector<std::string> runArgs(const std::string& table, const std::string& data_dir,
                                        const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args{BUSWAY_EXE,      "run",       table,        "--data-dir", data_dir,
                                "--plugin-path", pluginDir(), "--no-watch", "--drain",    "5s"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

inline std::vector<std::string> readLines(const std::string& path) {
  std::vector<std::string> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

// A connection to a linetest source: sends "ID TEXT" lines and records the answers.
class LineClient {
 public:
  ~LineClient() { close(); }

  bool connect(int port, std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(static_cast<std::uint16_t>(port));
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
        reader_ = std::thread([this] { readLoop(); });
        return true;
      }
      ::close(fd_);
      fd_ = -1;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  bool send(const std::string& id, const std::string& text) {
    const std::string line = id + " " + text + "\n";
    {
      std::lock_guard lock(mutex_);
      sent_.insert(id);
    }
    return ::send(fd_, line.data(), line.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(line.size());
  }

  void close() {
    if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
    if (reader_.joinable()) reader_.join();
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  bool alive() const { return alive_.load(); }
  std::set<std::string> acked() const {
    std::lock_guard lock(mutex_);
    return acked_;
  }
  std::map<std::string, std::string> nacked() const {
    std::lock_guard lock(mutex_);
    return nacked_;
  }
  std::size_t answered() const {
    std::lock_guard lock(mutex_);
    return acked_.size() + nacked_.size();
  }
  // Waits until `count` answers arrived.
  bool waitAnswers(std::size_t count, std::chrono::milliseconds timeout) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (answered() < count) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return true;
  }

 private:
  void readLoop() {
    std::string buffer;
    char chunk[4096];
    for (;;) {
      const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n <= 0) break;
      buffer.append(chunk, static_cast<std::size_t>(n));
      std::size_t eol;
      while ((eol = buffer.find('\n')) != std::string::npos) {
        const std::string line = buffer.substr(0, eol);
        buffer.erase(0, eol + 1);
        std::lock_guard lock(mutex_);
        if (line.rfind("ACK ", 0) == 0)
          acked_.insert(line.substr(4));
        else if (line.rfind("NAK ", 0) == 0) {
          const auto rest = line.substr(4);
          const auto space = rest.find(' ');
          nacked_[rest.substr(0, space)] = space == std::string::npos ? "" : rest.substr(space + 1);
        }
      }
    }
    alive_ = false;
  }

  int fd_ = -1;
  std::thread reader_;
  std::atomic<bool> alive_{true};
  mutable std::mutex mutex_;
  std::set<std::string> sent_;
  std::set<std::string> acked_;
  std::map<std::string, std::string> nacked_;
};

}  // namespace busway::testing::store
