// `busway run` as a child process for the broker tests (mqtt, nats, ...): the table is
// written to the test's folder, start() waits until the consumers have subscribed, and
// output() keeps what every run of the process logged.
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

}  // namespace busway::testing
