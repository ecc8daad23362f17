// Fault tests of the amqp plugin: the broker stopped and restarted in the middle of a
// 10,000-message run, and two competing bus nodes on one queue with one SIGKILLed mid-run
// and restarted. Every message must arrive (at least once); duplicates are counted and
// printed, not failed: at-least-once allows them.
#include <chrono>
#include <functional>
#include <iostream>
#include <string>
#include <thread>

#include <signal.h>

#include <gtest/gtest.h>

#include "amqp_support.hpp"

namespace busway::testing::amqp_test {
namespace {

using namespace std::chrono_literals;

constexpr long kMessages = 10'000;

std::string bridge(const RabbitMqServer& server, const std::string& in, const std::string& out) {
  // Patient redelivery: while the broker is away a send waits for the reconnect (up to
  // publish-timeout) and then fails as transient; the error handler tries again.
  return R"(
  <route id="bridge">
    <error-handler max-attempts="1000" delay="200ms" backoff="2.0" max-delay="2s" retry-on="all"/>
    <from uri=")" +
         uri(server, "queue=" + in + "&amp;prefetch=200&amp;reconnect-max-delay=1s") + R"("/>
    <to uri=")" +
         uri(server, "queue=" + out + "&amp;reconnect-max-delay=1s&amp;publish-timeout=20s") +
         R"("/>
  </route>
)";
}

bool waitUntil(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(100ms);
  }
  return false;
}

TEST(AmqpFault, BrokerStoppedAndRestartedInTheMiddleOfTenThousandMessages) {
  RabbitMqServer server;  // its own broker: this test stops it
  TempDir dir;
  publish(server, "restart-in", kMessages, "r", {"--window", "1000"});
  Bus bus(dir, "restart", bridge(server, "restart-in", "restart-out"));
  // Mid-run: some, not all, have gone through.
  ASSERT_TRUE(waitUntil(
      [&] {
        const long left = depth(server, "restart-in");
        return left >= 0 && left < kMessages - 1000;
      },
      120s))
      << bus.log();
  const long left_before = depth(server, "restart-in");
  std::cout << "[ stopping the broker with " << left_before << " of " << kMessages
            << " messages still queued ]\n";
  ASSERT_GT(left_before, 0)
      << "the run finished before the broker could be stopped; nothing was tested";
  server.stop();
  std::this_thread::sleep_for(3s);  // the bus sees the broker gone and keeps trying
  server.start();
  const Counts out = consume(server, "restart-out", kMessages, false, 300s, 3s);
  std::cout << "[ broker restart: " << out.distinct << " of " << kMessages << " arrived, "
            << out.duplicates << " duplicates, " << out.received << " received in all ]\n";
  EXPECT_EQ(out.distinct, kMessages) << out.output << bus.log().substr(0, 20000);
  const std::string log = bus.stop();
  EXPECT_NE(log.find("lost the connection to"), std::string::npos)
      << "the bus never saw the broker go";
  EXPECT_EQ(depth(server, "restart-in"), 0);
  // The per-node counters: stale acks are done callbacks for deliveries of the dead channel.
  for (const char* role : {"consumer", "producer"}) {
    const auto at = log.find(std::string(" ") + role + " amqp://");
    if (at != std::string::npos)
      std::cout << "[ " << log.substr(at + 1, log.find('\n', at) - at - 1) << " ]\n";
  }
}

TEST(AmqpFault, TwoNodesCompeteForOneQueueAndOneIsKilledMidRun) {
  RabbitMqServer& server = broker();
  TempDir dir;
  publish(server, "nodes-in", kMessages, "n", {"--window", "1000"});
  const std::string routes = bridge(server, "nodes-in", "nodes-out");
  Bus a(dir, "node-a", routes, {{"BUSWAY_NODE_ID", "node-a"}});  // the id from the environment
  Bus b(dir, "node-b", routes, {}, "30s", {"--node-id", "node-b"});
  ASSERT_TRUE(waitUntil(
      [&] {
        const long left = depth(server, "nodes-in");
        return left >= 0 && left < kMessages - 2000;
      },
      120s))
      << a.log() << b.log();
  const long left_before = depth(server, "nodes-in");
  std::cout << "[ SIGKILL node-a with " << left_before << " of " << kMessages
            << " messages still queued ]\n";
  ASSERT_GT(left_before, 0) << "the run finished before node-a could be killed; nothing was tested";
  a.process().signal(SIGKILL);
  a.process().wait(10s);
  std::this_thread::sleep_for(1s);
  a.restart();  // the same node, started again
  const Counts out = consume(server, "nodes-out", kMessages, false, 300s, 3s);
  std::cout << "[ two nodes, one killed: " << out.distinct << " of " << kMessages << " arrived, "
            << out.duplicates << " duplicates, " << out.received << " received in all ]\n";
  EXPECT_EQ(out.distinct, kMessages) << out.output;
  const std::string log_a = a.stop();
  const std::string log_b = b.stop();
  EXPECT_EQ(depth(server, "nodes-in"), 0);
  // Both nodes did work, each under its own consumer tag.
  for (const auto* log : {&log_a, &log_b}) {
    const auto at = log->find("consumer amqp://");
    ASSERT_NE(at, std::string::npos) << *log;
    std::cout << "[ "
              << log->substr(log->rfind("node ", at), log->find('\n', at) - log->rfind("node ", at))
              << " ]\n";
  }
  EXPECT_NE(log_a.find("node id node-a"), std::string::npos);
  EXPECT_NE(log_b.find("node id node-b"), std::string::npos);
  EXPECT_NE(log_b.find("threads as node node-b"), std::string::npos) << "busway run --node-id";
}

}  // namespace
}  // namespace busway::testing::amqp_test
