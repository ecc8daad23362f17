#pragma once

// A real RabbitMQ broker for a test: Debian's rabbitmq-server on 127.0.0.1, on free ports
// (AMQP, Erlang distribution and its own epmd), with its data, logs, configuration and
// Erlang cookie in a TempDir. It never touches the system's broker, epmd or cookie.
//
// Processes and PIDs: epmd runs in the foreground as its own ChildProcess (so it has a PID
// to stop); the broker is the rabbitmq-server script run directly (not Debian's wrapper in
// /usr/sbin, which switches to the rabbitmq user), and the script starts the Erlang VM
// (beam.smp) as its child. stop() and kill() act on that beam PID; the script then exits.
// restart() starts the broker again on the SAME ports and data directory, so durable queues
// and persistent messages survive it, as after a real broker restart.
//
// Start-up takes several seconds (tens on a loaded machine): share one broker per test
// binary (a static or a gtest Environment).

#include <chrono>
#include <memory>
#include <string>

#include <sys/types.h>

#include "child_process.hpp"

namespace busway::testing {

class RabbitMqServer {
 public:
  // Starts it; throws std::runtime_error with the broker's log on failure. With `tls`, it
  // also listens for AMQP over TLS on tlsPort(), with a certificate for "localhost" (and
  // 127.0.0.1) signed by a throwaway CA made with openssl (caFile()).
  explicit RabbitMqServer(bool tls = false);
  ~RabbitMqServer();
  RabbitMqServer(const RabbitMqServer&) = delete;
  RabbitMqServer& operator=(const RabbitMqServer&) = delete;

  int port() const noexcept { return port_; }
  int tlsPort() const noexcept { return tls_port_; }  // 0 without TLS
  std::string caFile() const { return dir_.file("tls/ca.pem"); }
  // amqp://127.0.0.1:PORT/ (append "?queue=..." etc.)
  std::string uri() const;
  const std::string& dataDir() const noexcept { return dir_.path(); }
  pid_t brokerPid() const noexcept { return beam_pid_; }

  // Graceful stop (SIGTERM to the Erlang VM): connections are closed, persistent messages
  // of durable queues are kept. Waits until the VM has exited.
  void stop();
  // SIGKILL to the Erlang VM: a crash.
  void kill();
  // Starts it again on the same ports and data directory; waits until it accepts AMQP.
  void start();
  bool running() const noexcept { return beam_pid_ > 0; }
  // The broker's log (for failure messages).
  std::string log() const;

 private:
  void waitForExit(std::chrono::milliseconds timeout);

  TempDir dir_;
  int port_ = 0;
  int tls_port_ = 0;
  int dist_port_ = 0;
  int epmd_port_ = 0;
  std::string node_name_;
  std::string script_;
  std::unique_ptr<ChildProcess> epmd_;
  std::unique_ptr<ChildProcess> script_process_;
  pid_t beam_pid_ = -1;
  int starts_ = 0;
};

}  // namespace busway::testing
