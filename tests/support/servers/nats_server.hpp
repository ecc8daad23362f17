#pragma once

// A real nats-server (Debian's /usr/sbin/nats-server, 2.9 with JetStream) for a test:
// `nats-server -a 127.0.0.1 -p PORT -js -sd DIR` on a free port with its own store folder,
// stopped by PID. stop() and start() again reuse the port and the store, so streams,
// durable consumers and unacknowledged messages survive a restart.

#include <memory>
#include <string>

#include "child_process.hpp"

namespace busway::testing {

class NatsServer {
 public:
  NatsServer();
  ~NatsServer();
  NatsServer(const NatsServer&) = delete;
  NatsServer& operator=(const NatsServer&) = delete;

  int port() const noexcept { return port_; }
  // "nats://127.0.0.1:PORT/" + subject
  std::string uri(const std::string& subject) const;
  std::string log() const;

  // Starts the server and waits until it accepts connections; throws when it does not.
  void start();
  // SIGTERM (JetStream flushes its store) and waits for it to end.
  void stop();

 private:
  TempDir dir_;
  int port_;
  std::unique_ptr<ChildProcess> process_;
  std::string past_log_;
};

}  // namespace busway::testing
