#include "servers/server_support.hpp"

#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "child_process.hpp"

namespace busway::testing {
namespace {

std::string find(const std::string& candidate) {
  namespace fs = std::filesystem;
  if (candidate.find('/') != std::string::npos)
    return fs::exists(candidate) ? candidate : std::string();
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  dirs += ":/usr/sbin:/sbin";
  std::size_t start = 0;
  while (start <= dirs.size()) {
    const std::size_t end = std::min(dirs.find(':', start), dirs.size());
    const fs::path full = fs::path(dirs.substr(start, end - start)) / candidate;
    if (end > start && fs::exists(full)) return full.string();
    start = end + 1;
  }
  return {};
}

std::string findAny(const std::vector<std::string>& candidates) {
  for (const auto& c : candidates)
    if (auto found = find(c); !found.empty()) return found;
  return {};
}

}  // namespace

std::string requireProgram(const std::vector<std::string>& candidates,
                           const std::string& install_group) {
  if (auto found = findAny(candidates); !found.empty()) return found;
  // One install at a time per process; install-deps.sh itself is idempotent.
  static std::mutex install_mutex;
  const std::lock_guard<std::mutex> lock(install_mutex);
  if (auto found = findAny(candidates); !found.empty()) return found;
  const std::string script = std::string(BUSWAY_SOURCE_DIR) + "/packaging/install-deps.sh";
  const auto result =
      runCommand({"bash", script, "--group", install_group}, std::chrono::minutes(10));
  if (auto found = findAny(candidates); !found.empty()) return found;
  std::string names;
  for (const auto& c : candidates) names += (names.empty() ? "" : ", ") + c;
  throw std::runtime_error("the test needs " + names + " (install group '" + install_group +
                           "'), and `packaging/install-deps.sh --group " + install_group +
                           "` did not provide it (exit " + std::to_string(result.exit_code) +
                           "): " + result.err);
}

bool waitForPort(int port, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd >= 0) {
      sockaddr_in address{};
      address.sin_family = AF_INET;
      address.sin_port = htons(static_cast<std::uint16_t>(port));
      address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): the sockets API
      const bool connected =
          ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
      ::close(fd);
      if (connected) return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

}  // namespace busway::testing
