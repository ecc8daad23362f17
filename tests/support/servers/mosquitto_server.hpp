#pragma once

// A real Mosquitto broker (Debian's /usr/sbin/mosquitto) for a test: listens on 127.0.0.1 on
// a free port, keeps its persistence file in its own temporary folder, and is stopped by PID.
// stop() and start() again reuse the port and the persistence file, so persistent sessions
// and queued QoS 1/2 messages survive a restart (mosquitto saves them on SIGTERM).

#include <memory>
#include <string>

#include "child_process.hpp"

namespace busway::testing {

class MosquittoServer {
 public:
  // `extra_config`: more lines for mosquitto.conf (e.g. a TLS listener).
  explicit MosquittoServer(std::string extra_config = {});
  ~MosquittoServer();
  MosquittoServer(const MosquittoServer&) = delete;
  MosquittoServer& operator=(const MosquittoServer&) = delete;

  int port() const noexcept { return port_; }
  // "mqtt://127.0.0.1:PORT/" + topic (topic as written in a URI: '#' as %23).
  std::string uri(const std::string& topic) const;
  const std::string& dir() const { return dir_.path(); }
  // The broker's log (its stdout and stderr).
  std::string log() const;

  // Starts the broker and waits until it accepts connections; throws when it does not.
  void start();
  // SIGTERM (the broker writes its persistence file) and waits for it to end.
  void stop();
  bool running();

 private:
  TempDir dir_;
  int port_;
  std::string extra_config_;
  std::unique_ptr<ChildProcess> process_;
  int generation_ = 0;
  std::string past_log_;
};

}  // namespace busway::testing
