#pragma once

// Helpers of the amqp integration tests: the shared broker, amqp-tool (a plain rabbitmq-c
// client built next to the plugin) and a running `busway run`.

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "child_process.hpp"
#include "servers/rabbitmq_server.hpp"

namespace busway::testing::amqp_test {

inline const std::string kTool = std::string(BUSWAY_BINARY_DIR) + "/bin/amqp-tool";

// One broker for the tests that do not restart it (start-up takes a while), with a TLS
// listener. Made on first use; the Environment in amqp_test.cpp destroys it, which stops
// the broker and its epmd by PID and removes its data directory.
inline std::unique_ptr<RabbitMqServer>& brokerSlot() {
  static std::unique_ptr<RabbitMqServer> server;
  return server;
}
inline RabbitMqServer& broker() {
  auto& server = brokerSlot();
  if (!server) server = std::make_unique<RabbitMqServer>(true);
  return *server;
}

struct Counts {
  long received = -1;
  long distinct = -1;
  long duplicates = -1;
  std::string output;
};

inline long field(const std::string& text, const std::string& name) {
  const std::regex pattern(name + "=([0-9]+)");
  std::smatch match;
  return std::regex_search(text, match, pattern) ? std::stol(match[1]) : -1;
}

inline CommandResult tool(const RabbitMqServer& server, std::vector<std::string> args,
                          std::chrono::milliseconds timeout = std::chrono::seconds(120)) {
  std::vector<std::string> argv = {kTool, args.front(), "--port", std::to_string(server.port())};
  argv.insert(argv.end(), args.begin() + 1, args.end());
  return runCommand(argv, timeout);
}

inline void publish(const RabbitMqServer& server, const std::string& queue, long count,
                    const std::string& prefix, std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"publish",  "--queue", queue, "--count", std::to_string(count),
                                   "--prefix", prefix};
  args.insert(args.end(), extra.begin(), extra.end());
  const CommandResult r = tool(server, args);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
}

inline Counts consume(const RabbitMqServer& server, const std::string& queue, long expect,
                      bool print = false,
                      std::chrono::milliseconds max_wait = std::chrono::seconds(60),
                      std::chrono::milliseconds idle = std::chrono::seconds(1)) {
  std::vector<std::string> args = {"consume",
                                   "--queue",
                                   queue,
                                   "--expect",
                                   std::to_string(expect),
                                   "--max-wait",
                                   std::to_string(max_wait.count()),
                                   "--idle",
                                   std::to_string(idle.count())};
  if (print) args.push_back("--print");
  const CommandResult r = tool(server, args, max_wait + std::chrono::seconds(60));
  Counts c;
  c.output = r.out + r.err;
  c.received = field(r.out, "received");
  c.distinct = field(r.out, "distinct");
  c.duplicates = field(r.out, "duplicates");
  return c;
}

inline long depth(const RabbitMqServer& server, const std::string& queue) {
  const CommandResult r = tool(server, {"depth", "--queue", queue});
  return r.exit_code == 0 ? field(r.out, "ready") : -1;
}

// A running bus with its table.
class Bus {
 public:
  Bus(const TempDir& dir, const std::string& name, const std::string& routes,
      std::map<std::string, std::string> env = {}, std::string drain = "30s",
      std::vector<std::string> extra_args = {})
      : drain_(std::move(drain)), extra_args_(std::move(extra_args)) {
    const std::string table = dir.write(name + ".xml", R"(<?xml version="1.0" encoding="UTF-8"?>
<routes xmlns="urn:busway:routes:1" version="1">
)" + routes + "</routes>\n");
    log_dir_ = dir.file(name + "-logs");
    std::filesystem::create_directories(log_dir_);
    start(table, env);
  }
  void start(const std::string& table, const std::map<std::string, std::string>& env) {
    table_ = table;
    env_ = env;
    process_ = std::make_unique<ChildProcess>();
    std::vector<std::string> argv = {BUSWAY_EXE, "run", "--no-watch", "--drain", drain_};
    argv.insert(argv.end(), extra_args_.begin(), extra_args_.end());
    argv.push_back(table);
    ASSERT_TRUE(process_->start(argv, log_dir_, env));
    ASSERT_TRUE(process_->waitForOutput("running:", std::chrono::seconds(60))) << process_->err();
  }
  void restart() {
    const std::string previous = process_->err();
    history_ += previous;
    start(table_, env_);
  }
  ChildProcess& process() { return *process_; }
  // Stops it (SIGTERM, drain) and returns everything it logged.
  std::string stop() {
    const int code = process_->stop(std::chrono::seconds(60));
    EXPECT_EQ(code, 0) << process_->err();
    return history_ + process_->err();
  }
  std::string log() const { return history_ + process_->err(); }

 private:
  std::string drain_;
  std::vector<std::string> extra_args_;
  std::string log_dir_;
  std::string table_;
  std::map<std::string, std::string> env_;
  std::string history_;
  std::unique_ptr<ChildProcess> process_;
};

inline std::string uri(const RabbitMqServer& server, const std::string& query) {
  return server.uri() + "?" + query;
}

}  // namespace busway::testing::amqp_test
