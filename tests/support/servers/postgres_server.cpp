#include "servers/postgres_server.hpp"

#include <csignal>
#include <filesystem>
#include <stdexcept>
#include <thread>
#include <vector>

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "servers/server_support.hpp"

namespace busway::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

void chownTree(const std::string& path, uid_t uid, gid_t gid) {
  if (::chown(path.c_str(), uid, gid) != 0) throw std::runtime_error("cannot chown " + path);
  for (const auto& entry : fs::recursive_directory_iterator(path)) {
    if (::chown(entry.path().c_str(), uid, gid) != 0)
      throw std::runtime_error("cannot chown " + entry.path().string());
  }
}

}  // namespace

PostgresServer::PostgresServer() {
  const std::string initdb = requireProgram({"/usr/lib/postgresql/15/bin/initdb"}, "servers");
  bin_dir_ = fs::path(initdb).parent_path().string();
  data_dir_ = dir_.file("data");
  socket_dir_ = dir_.file("socket");
  log_dir_ = dir_.file("log");
  fs::create_directories(socket_dir_);
  fs::create_directories(log_dir_);
  const std::string pwfile = dir_.write("pwfile", password() + "\n");
  as_postgres_user_ = ::geteuid() == 0;
  if (as_postgres_user_) {
    const passwd* pw = ::getpwnam("postgres");
    if (pw == nullptr)
      throw std::runtime_error(
          "running as root, but there is no 'postgres' user to run PostgreSQL as");
    ::chmod(dir_.path().c_str(), 0755);  // mkdtemp makes it 0700
    chownTree(dir_.path(), pw->pw_uid, pw->pw_gid);
  }
  std::vector<std::string> argv{initdb,
                                "-D",
                                data_dir_,
                                "-U",
                                user(),
                                "--auth-local=trust",
                                "--auth-host=scram-sha-256",
                                "--pwfile=" + pwfile,
                                "--no-sync",
                                "-E",
                                "UTF8"};
  if (as_postgres_user_)
    argv.insert(argv.begin(),
                {"setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"});
  const auto result = runCommand(argv, 120s);
  if (result.exit_code != 0) throw std::runtime_error("initdb failed: " + result.out + result.err);
  port_ = freePort();
  start();
}

PostgresServer::~PostgresServer() {
  try {
    stop();
  } catch (...) {  // NOLINT(bugprone-empty-catch): the ChildProcess destructor kills it anyway
  }
}

std::string PostgresServer::connectionString() const {
  return "host=127.0.0.1 port=" + std::to_string(port_) + " dbname=" + database() +
         " user=" + user();
}

void PostgresServer::start() {
  if (process_) return;
  std::vector<std::string> argv{bin_dir_ + "/postgres",
                                "-D",
                                data_dir_,
                                "-k",
                                socket_dir_,
                                "-h",
                                "127.0.0.1",
                                "-p",
                                std::to_string(port_),
                                "-c",
                                "fsync=off",
                                "-c",
                                "full_page_writes=off",
                                "-c",
                                "synchronous_commit=off"};
  if (as_postgres_user_)
    argv.insert(argv.begin(),
                {"setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"});
  process_ = std::make_unique<ChildProcess>();
  if (!process_->start(argv, log_dir_)) throw std::runtime_error("cannot start " + argv.front());
  waitReady();
}

void PostgresServer::stop() {
  if (!process_) return;
  process_->signal(SIGINT);  // fast shutdown: ends the sessions of connected clients
  if (!process_->wait(30s)) process_->stop(1s);
  process_.reset();
}

void PostgresServer::waitReady() const {
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  std::string last;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!process_->running())
      throw std::runtime_error("postgres ended at start: " + process_->err());
    const auto result =
        runCommand({bin_dir_ + "/pg_isready", "-h", socket_dir_, "-p", std::to_string(port_)}, 10s);
    if (result.exit_code == 0) {
      // First start: make the test database (ignore "already exists" on a restart).
      runCommand({bin_dir_ + "/psql", "-h", socket_dir_, "-p", std::to_string(port_), "-U", user(),
                  "-d", "postgres", "-c", "CREATE DATABASE " + database()},
                 30s);
      return;
    }
    last = result.out + result.err;
    std::this_thread::sleep_for(100ms);
  }
  throw std::runtime_error("postgres did not get ready on port " + std::to_string(port_) + ": " +
                           last + process_->err());
}

std::string PostgresServer::psql(const std::string& sql) const {
  // Through the socket directory (trust), so the password is needed only over TCP.
  const auto result =
      runCommand({bin_dir_ + "/psql", "-h", socket_dir_, "-p", std::to_string(port_), "-U", user(),
                  "-d", database(), "-v", "ON_ERROR_STOP=1", "-At", "-c", sql},
                 60s);
  if (result.exit_code != 0)
    throw std::runtime_error("psql failed on '" + sql + "': " + result.out + result.err);
  std::string out = result.out;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

}  // namespace busway::testing
