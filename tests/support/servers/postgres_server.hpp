#pragma once

// A real PostgreSQL 15 for tests: initdb into a fresh temporary directory, `postgres` on
// 127.0.0.1 on a free port (fsync off), one database `busway`. Host connections need the
// password (scram-sha-256), so a test can prove that a table's ${env:...} placeholder
// carries it. Runs as the `postgres` system user when the test runs as root (initdb and
// postgres refuse root). Stopped by PID in the destructor. Slow to start: make one per test
// binary (a static or a gtest Environment), not one per test.

#include <memory>
#include <string>

#include "child_process.hpp"

namespace busway::testing {

class PostgresServer {
 public:
  PostgresServer();  // initdb, start, wait until it answers, CREATE DATABASE busway
  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  int port() const noexcept { return port_; }
  static std::string user() { return "postgres"; }
  static std::string password() { return "busway-test-secret"; }
  static std::string database() { return "busway"; }
  // "host=127.0.0.1 port=N dbname=busway user=postgres" (no password: add it yourself).
  std::string connectionString() const;

  // Runs SQL with psql against `busway`; throws std::runtime_error with psql's output when
  // it fails. Returns the unaligned, tuples-only output (rows on lines, columns split by '|').
  std::string psql(const std::string& sql) const;

  // Fast shutdown (SIGINT: ends client sessions) and start again on the same port and data.
  void stop();
  void start();
  bool running() const noexcept { return process_ != nullptr; }

 private:
  void waitReady() const;

  TempDir dir_;
  std::string bin_dir_;
  std::string data_dir_;
  std::string socket_dir_;
  std::string log_dir_;
  int port_ = 0;
  bool as_postgres_user_ = false;
  std::unique_ptr<ChildProcess> process_;
};

}  // namespace busway::testing
