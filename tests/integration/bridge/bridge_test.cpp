// Protocol conversion end to end (issue 7): HTTP POST -> RabbitMQ queue -> bus -> MQTT topic
// -> bus -> one file per order, through the example table docs/examples/bridge/bridge.xml,
// run by the real busway binary against a real RabbitMQ and a real Mosquitto on 127.0.0.1.
//
// Orders are POSTed concurrently by a few curl processes (keep-alive, one request at a time
// each); every order must come back as a CSV file with the converted content. Duplicates
// (at-least-once) are counted and printed, losses must be zero. The second test stops and
// restarts the MQTT broker in the middle of the run.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "child_process.hpp"
#include "servers/mosquitto_server.hpp"
#include "servers/rabbitmq_server.hpp"

namespace fs = std::filesystem;
using busway::testing::ChildProcess;
using busway::testing::CommandResult;
using busway::testing::freePort;
using busway::testing::MosquittoServer;
using busway::testing::RabbitMqServer;
using busway::testing::runCommand;
using busway::testing::TempDir;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kOrders = 500;
constexpr int kPosters = 4;

// The source tree: this file is tests/integration/bridge/bridge_test.cpp. Ninja compiles
// from the build folder and may give __FILE__ relative to it.
fs::path sourceDir() {
  fs::path file(__FILE__);
  if (file.is_relative()) file = fs::path(BUSWAY_BINARY_DIR) / file;
  return fs::weakly_canonical(file.parent_path() / ".." / ".." / "..");
}

std::string orderId(int n) {
  char text[16];
  std::snprintf(text, sizeof text, "ORD-%05d", n);
  return text;
}

// Order n has (n % 3) + 1 lines; line j orders j + 1 pieces.
int lineCount(int n) { return n % 3 + 1; }
int quantity(int n) { return lineCount(n) * (lineCount(n) + 1) / 2; }

std::string orderJson(int n) {
  std::ostringstream out;
  out << R"({"id":")" << orderId(n) << R"(","currency":"EUR","customer":{"name":"Customer )" << n
      << R"(","email":"customer)" << n << R"(@example.com"},"items":[)";
  for (int j = 0; j < lineCount(n); ++j) {
    out << (j ? "," : "") << R"({"sku":"SKU-)" << j << R"(","qty":)" << j + 1 << R"(,"price":)"
        << 9.5 + j << "}";
  }
  out << "]}";
  return out.str();
}

// The CSV file route 3 must write for order n.
std::string expectedCsv(int n) {
  return "order,customer,email,lines,quantity,currency\n" + orderId(n) + ",Customer " +
         std::to_string(n) + ",customer" + std::to_string(n) + "@example.com," +
         std::to_string(lineCount(n)) + "," + std::to_string(quantity(n)) + ",EUR\n";
}

std::string readFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// POSTs orders first..first+count-1 from one curl process (one keep-alive connection, one
// request after the other) and returns the HTTP status of each, in order.
std::vector<std::string> postOrders(const TempDir& dir, int port, int first, int count) {
  const std::string tag = std::to_string(first);
  std::ostringstream config;
  for (int n = first; n < first + count; ++n) {
    const std::string body = dir.write("body-" + std::to_string(n) + ".json", orderJson(n));
    config << "url = \"http://127.0.0.1:" << port << "/orders\"\n"
           << "header = \"Content-Type: application/json\"\n"
           << "data-binary = \"@" << body << "\"\n"
           << "output = \"/dev/null\"\n"
           << "max-time = 60\n"
           << "write-out = \"%{http_code}\\n\"\n";
    if (n + 1 < first + count) config << "next\n";
  }
  const std::string config_path = dir.write("curl-" + tag + ".conf", config.str());
  const CommandResult r = runCommand({"curl", "-sS", "-K", config_path}, std::chrono::minutes(3));
  std::vector<std::string> codes;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) codes.push_back(line);
  if (r.exit_code != 0) std::cerr << "curl (orders from " << first << "): " << r.err << "\n";
  return codes;
}

// POSTs kOrders orders from kPosters threads; returns how many were answered 202.
int postAll(const TempDir& dir, int port) {
  std::vector<std::thread> threads;
  std::vector<std::vector<std::string>> codes(kPosters);
  const int share = kOrders / kPosters;
  for (int t = 0; t < kPosters; ++t) {
    threads.emplace_back(
        [&, t] { codes[static_cast<size_t>(t)] = postOrders(dir, port, 1 + t * share, share); });
  }
  for (auto& thread : threads) thread.join();
  int accepted = 0;
  std::map<std::string, int> others;
  for (const auto& list : codes) {
    for (const auto& code : list) {
      if (code == "202") {
        ++accepted;
      } else {
        ++others[code];
      }
    }
  }
  for (const auto& [code, times] : others)
    std::cout << "HTTP " << code << ": " << times << " answers\n";
  return accepted;
}

// What arrived in the output folder: files per order.
struct Arrivals {
  std::map<std::string, std::vector<fs::path>> files;  // order id -> its files
  int total = 0;
};

Arrivals scan(const fs::path& out) {
  Arrivals a;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(out, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name[0] == '.' || name.size() < 13 ||
        name.substr(name.size() - 4) != ".csv")
      continue;
    a.files[name.substr(0, 9)].push_back(entry.path());
    ++a.total;
  }
  return a;
}

// Waits until every order has a file (or the deadline passes).
Arrivals waitForOrders(const fs::path& out, std::chrono::seconds deadline) {
  const auto until = Clock::now() + deadline;
  Arrivals a = scan(out);
  while (static_cast<int>(a.files.size()) < kOrders && Clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    a = scan(out);
  }
  return a;
}

class Bridge {
 public:
  Bridge(const TempDir& dir, const RabbitMqServer& rabbit, const MosquittoServer& mosquitto,
         const std::string& name)
      : http_port_(freePort()), out_(dir.file("out")), dead_(dir.file("dead")) {
    fs::create_directories(out_);
    const std::string log_dir = dir.file("bus-logs");
    fs::create_directories(log_dir);
    const std::map<std::string, std::string> env = {
        {"BRIDGE_HTTP_PORT", std::to_string(http_port_)},
        {"BRIDGE_AMQP_PORT", std::to_string(rabbit.port())},
        {"BRIDGE_QUEUE", "bridge." + name},
        {"BRIDGE_MQTT_PORT", std::to_string(mosquitto.port())},
        {"BRIDGE_TOPIC", "bridge/" + name},
        {"BRIDGE_MQTT_CLIENT", "bridge-" + name},
        {"BRIDGE_OUT_DIR", out_.string()},
        {"BRIDGE_DEAD_DIR", dead_.string()},
    };
    const std::string table = (sourceDir() / "docs/examples/bridge/bridge.xml").string();
    started_ =
        process_.start({BUSWAY_EXE, "run", "--no-watch", "--drain", "30s", table}, log_dir, env);
    if (started_) started_ = process_.waitForOutput("running:", std::chrono::seconds(60));
  }
  bool started() const { return started_; }
  int httpPort() const { return http_port_; }
  const fs::path& out() const { return out_; }
  const fs::path& dead() const { return dead_; }
  std::string log() const { return process_.err() + process_.out(); }
  int stop() { return process_.stop(std::chrono::seconds(60)); }

 private:
  int http_port_;
  fs::path out_;
  fs::path dead_;
  ChildProcess process_;
  bool started_ = false;
};

// Checks the arrivals: no loss, the converted content of every file; prints duplicates.
void checkArrivals(const Arrivals& a, const Bridge& bus) {
  int missing = 0;
  int duplicates = 0;
  int wrong = 0;
  std::string first_missing;
  for (int n = 1; n <= kOrders; ++n) {
    const auto found = a.files.find(orderId(n));
    if (found == a.files.end()) {
      if (missing++ == 0) first_missing = orderId(n);
      continue;
    }
    duplicates += static_cast<int>(found->second.size()) - 1;
    if (found->second.size() > 1)
      std::cout << "duplicate: " << orderId(n) << " arrived " << found->second.size() << " times\n";
    for (const auto& path : found->second) {
      const std::string content = readFile(path);
      if (content != expectedCsv(n)) {
        if (wrong++ < 3)
          ADD_FAILURE() << path << " holds\n" << content << "expected\n" << expectedCsv(n);
      }
    }
  }
  std::cout << "orders: " << kOrders << ", files: " << a.total << ", distinct: " << a.files.size()
            << ", duplicates: " << duplicates << ", lost: " << missing << "\n";
  EXPECT_EQ(missing, 0) << "first missing: " << first_missing << "\n" << bus.log().substr(0, 20000);
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(static_cast<int>(a.files.size()), kOrders);
  std::error_code ec;
  EXPECT_FALSE(fs::exists(bus.dead(), ec) && !fs::is_empty(bus.dead(), ec))
      << "dead letters in " << bus.dead();
}

}  // namespace

class BridgeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { rabbit_ = std::make_unique<RabbitMqServer>(); }
  static void TearDownTestSuite() { rabbit_.reset(); }
  static std::unique_ptr<RabbitMqServer> rabbit_;
};
std::unique_ptr<RabbitMqServer> BridgeTest::rabbit_;

TEST_F(BridgeTest, EveryHttpOrderArrivesAsACsvFileThroughAmqpAndMqtt) {
  MosquittoServer mosquitto;
  TempDir dir;
  Bridge bus(dir, *rabbit_, mosquitto, "plain");
  ASSERT_TRUE(bus.started()) << bus.log();

  const auto start = Clock::now();
  const int accepted = postAll(dir, bus.httpPort());
  const double post_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  EXPECT_EQ(accepted, kOrders) << bus.log().substr(0, 20000);

  const Arrivals a = waitForOrders(bus.out(), std::chrono::seconds(90));
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::cout << "posted " << kOrders << " orders in " << post_seconds << " s ("
            << kOrders / post_seconds << " req/s); all through the chain in " << seconds << " s ("
            << kOrders / seconds << " msgs/s end to end)\n";
  checkArrivals(a, bus);

  // A bad order is refused with the reason and goes nowhere: the caller still has it.
  const CommandResult bad = runCommand(
      {"curl", "-sS", "-H", "Content-Type: application/json", "-w", "\n%{http_code}", "-d",
       R"({"id":"ORD-99999","currency":"euro","customer":{"name":"X","email":"x@example.com"},"items":[]})",
       "http://127.0.0.1:" + std::to_string(bus.httpPort()) + "/orders"});
  EXPECT_NE(bad.out.find("\n500"), std::string::npos) << bad.out << bad.err;
  EXPECT_NE(bad.out.find("currency"), std::string::npos) << bad.out;
  EXPECT_NE(bad.out.find("items"), std::string::npos) << bad.out;
  std::this_thread::sleep_for(std::chrono::seconds(1));
  EXPECT_EQ(scan(bus.out()).files.count("ORD-99999"), 0U);
  EXPECT_EQ(bus.stop(), 0) << bus.log();
}

TEST_F(BridgeTest, NothingIsLostWhenTheMqttBrokerRestartsInTheMiddle) {
  MosquittoServer mosquitto;
  TempDir dir;
  Bridge bus(dir, *rabbit_, mosquitto, "restart");
  ASSERT_TRUE(bus.started()) << bus.log();

  const auto start = Clock::now();
  std::atomic<int> accepted{-1};
  std::thread poster([&] { accepted = postAll(dir, bus.httpPort()); });

  // Stop the broker once a fifth of the orders have arrived as files.
  const auto until = Clock::now() + std::chrono::seconds(60);
  int before = 0;
  while (Clock::now() < until) {
    before = static_cast<int>(scan(bus.out()).files.size());
    if (before >= kOrders / 5) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  mosquitto.stop();
  std::cout << "MQTT broker stopped after " << before << " files\n";
  std::this_thread::sleep_for(std::chrono::seconds(3));
  const int during = static_cast<int>(scan(bus.out()).files.size());
  mosquitto.start();
  std::cout << "MQTT broker started again (" << during << " files while it was down)\n";

  poster.join();
  EXPECT_EQ(accepted.load(), kOrders) << bus.log().substr(0, 20000);
  const Arrivals a = waitForOrders(bus.out(), std::chrono::seconds(100));
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::cout << "all through the chain in " << seconds << " s (" << kOrders / seconds
            << " msgs/s end to end, broker restart included)\n";
  EXPECT_LT(before, kOrders) << "the broker was stopped only after every order had arrived";
  checkArrivals(a, bus);
  EXPECT_EQ(bus.stop(), 0) << bus.log();
}
