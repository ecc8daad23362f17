#pragma once

// Starts a program for a test, with its output in files, and stops it by PID (never by
// name). Used for the busway binary and for the real servers integration tests start.

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

namespace busway::testing {

class ChildProcess {
 public:
  ChildProcess() = default;
  ~ChildProcess();  // kills (SIGKILL) and reaps the process if it still runs
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Starts argv[0] (searched in PATH) with stdout and stderr sent to files in `log_dir`.
  bool start(const std::vector<std::string>& argv, const std::string& log_dir,
             const std::map<std::string, std::string>& extra_env = {});
  pid_t pid() const noexcept { return pid_; }
  bool running();
  void signal(int signal_number) const;
  // Waits for the process to end; its exit code, or nullopt on timeout. A process ended
  // by a signal gives 128 + the signal number.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  // SIGTERM, then SIGKILL after `grace`.
  int stop(std::chrono::milliseconds grace = std::chrono::seconds(10));

  std::string out() const;  // what it wrote to stdout so far
  std::string err() const;  // what it wrote to stderr so far
  // Waits until stdout+stderr contain `text`; false on timeout or if the process ended first.
  bool waitForOutput(const std::string& text, std::chrono::milliseconds timeout);

 private:
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  std::string out_path_;
  std::string err_path_;
};

// Runs a command to completion and returns its exit code with its output.
struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};
CommandResult runCommand(const std::vector<std::string>& argv,
                         std::chrono::milliseconds timeout = std::chrono::seconds(60));

// A fresh directory under /tmp, removed with its content on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const noexcept { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  // Writes `text` atomically (temporary file + rename), as editors and admins do.
  std::string write(const std::string& name, const std::string& text) const;

 private:
  std::string path_;
};

// A TCP port on 127.0.0.1 that was free when asked.
int freePort();

}  // namespace busway::testing
