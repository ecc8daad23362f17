// The child processes of the broker tests (mqtt, nats, ...): `busway run` with the test's
// table (start() waits until the consumers have subscribed; output() keeps what every run
// logged), and a peer tool subscribing in the background that prints its counts at the end.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "child_process.hpp"

namespace busway::testing {

// `<routes>` around `routes`.
std::string routesTable(const std::string& routes);
// `<route id><from uri/><to uri/></route>`, and the same with any steps after <from>.
std::string route(const std::string& id, const std::string& from, const std::string& to);
std::string route(const std::string& id, const std::string& from,
                  const std::vector<std::string>& steps);
// A URI with its "&" escaped for an XML attribute.
std::string xmlAttribute(std::string text);

class BusProcess {
 public:
  // `subscribed_marker` is the log text that each subscribed consumer prints once.
  BusProcess(std::string busway, const TempDir& dir, const std::string& routes,
             std::string subscribed_marker = "subscribed to '");
  ~BusProcess();
  BusProcess(const BusProcess&) = delete;
  BusProcess& operator=(const BusProcess&) = delete;

  // Starts `busway run` and waits until `consumers` more consumers have subscribed.
  void start(int consumers = 1);
  // SIGTERM and wait (the bus drains); returns the exit code.
  int stop();
  std::string output() const;

 private:
  bool waitForCount(int wanted, std::chrono::milliseconds timeout);

  std::string busway_;
  const TempDir& dir_;
  std::string marker_;
  ChildProcess process_;
  std::string past_;
  int total_subscribed_ = 0;
};

// What a peer tool's subscriber printed at the end: "received N unique N duplicates N"
// (-1 where it printed nothing).
struct PeerCounts {
  long received = -1;
  long unique = -1;
  long duplicates = -1;
};

class PeerSubscriber {
 public:
  // Starts `argv` (the peer tool and its arguments) and waits for its "ready".
  PeerSubscriber(const TempDir& dir, const std::vector<std::string>& argv);
  PeerCounts result(std::chrono::milliseconds timeout = std::chrono::seconds(120));
  std::string out() const { return process_.out(); }

 private:
  ChildProcess process_;
};

}  // namespace busway::testing
