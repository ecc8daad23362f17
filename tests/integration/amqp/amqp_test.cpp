// The amqp plugin against a real RabbitMQ (Debian's rabbitmq-server on 127.0.0.1, free
// ports, own data dir, stopped by PID): the real `busway run` with a routing table, driven
// and checked with amqp-tool (a plain rabbitmq-c client built next to the plugin).
#include <chrono>
#include <map>
#include <string>
#include <thread>

#include <signal.h>

#include <gtest/gtest.h>

#include "amqp_support.hpp"

namespace busway::testing::amqp_test {
namespace {

using namespace std::chrono_literals;

class BrokerEnvironment : public ::testing::Environment {
 public:
  void TearDown() override { brokerSlot().reset(); }
};
[[maybe_unused]] const auto* const kEnvironment =
    ::testing::AddGlobalTestEnvironment(new BrokerEnvironment);

TEST(Amqp, PublishAndConsumeThroughTheBusWithHeadersAndProperties) {
  RabbitMqServer& server = broker();
  TempDir dir;
  Bus bus(dir, "bridge",
          R"(
  <route id="bridge">
    <from uri=")" +
              uri(server, "queue=bridge-in&amp;prefetch=10") + R"("/>
    <set-header name="seen-by" constant="busway"/>
    <to uri=")" +
              uri(server, "queue=bridge-out") + R"("/>
  </route>
)");
  publish(server, "bridge-in", 5, "order",
          {"--header", "x-order=42", "--content-type", "application/json", "--correlation-id",
           "corr-1"});
  const Counts out = consume(server, "bridge-out", 5, true);
  EXPECT_EQ(out.distinct, 5) << out.output;
  EXPECT_EQ(out.duplicates, 0) << out.output;
  // Properties and application headers cross the bus both ways: content type, correlation
  // id, message id (amqp.message-id is published again as message-id), persistent mode,
  // x-order; the route's own header goes out as an application header.
  for (int i = 0; i < 5; ++i) {
    const std::regex line(
        "MSG id=order-" + std::to_string(i) +
        " redelivered=false routing-key=bridge-out content-type=application/json "
        "correlation-id=corr-1 delivery-mode=2 [^\n]*h:x-order=42[^\n]*h:seen-by=busway");
    EXPECT_TRUE(std::regex_search(out.output, line)) << "message order-" << i << " in\n"
                                                     << out.output;
  }
  EXPECT_EQ(out.output.find("h:amqp."), std::string::npos) << "amqp.* headers are not republished";
  EXPECT_EQ(depth(server, "bridge-in"), 0) << "every message was acked";
  const std::string log = bus.stop();
  EXPECT_NE(log.find("consumer amqp://127.0.0.1:" + std::to_string(server.port()) +
                     "/ queue 'bridge-in': delivered=5 acked=5"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("published=5 confirmed=5 failed=0"), std::string::npos) << log;
}

TEST(Amqp, UnroutableMandatoryMessageGoesToTheDeadLetterNotIntoTheVoid) {
  RabbitMqServer& server = broker();
  TempDir dir;
  Bus bus(dir, "unroutable",
          R"(
  <route id="unroutable">
    <error-handler max-attempts="1" dead-letter-uri=")" +
              uri(server, "queue=unroutable-dead") + R"("/>
    <from uri=")" +
              uri(server, "queue=unroutable-in") + R"("/>
    <to uri=")" +
              uri(server, "exchange=unroutable-ex&amp;routing-key=no-such-binding") + R"("/>
  </route>
)");
  publish(server, "unroutable-in", 3, "lost");
  const Counts dead = consume(server, "unroutable-dead", 3, true);
  EXPECT_EQ(dead.distinct, 3) << dead.output;
  EXPECT_NE(dead.output.find("h:busway.failure.reason=amqp: "), std::string::npos) << dead.output;
  EXPECT_NE(dead.output.find("returned the message as unroutable (312 NO_ROUTE)"),
            std::string::npos)
      << dead.output;
  EXPECT_NE(dead.output.find("h:busway.failure.kind=permanent"), std::string::npos) << dead.output;
  EXPECT_EQ(depth(server, "unroutable-in"), 0);
  const std::string log = bus.stop();
  EXPECT_NE(log.find("published=3 confirmed=0 failed=3 returned=3"), std::string::npos) << log;
}

TEST(Amqp, FailingRouteNacksAndTheBrokerRedeliversWithRequeue) {
  RabbitMqServer& server = broker();
  TempDir dir;
  // The first delivery fails (no route consumes direct:nowhere, no error handler): the
  // plugin nacks with requeue; the redelivery (amqp.redelivered=true) goes through.
  Bus bus(dir, "requeue",
          R"(
  <route id="requeue">
    <from uri=")" +
              uri(server, "queue=requeue-in") + R"("/>
    <choice>
      <when header="amqp.redelivered == 'true'"><to uri=")" +
              uri(server, "queue=requeue-out") + R"("/></when>
      <otherwise><to uri="direct:nowhere"/></otherwise>
    </choice>
  </route>
)");
  publish(server, "requeue-in", 4, "retry");
  const Counts out = consume(server, "requeue-out", 4);
  EXPECT_EQ(out.distinct, 4) << out.output;
  EXPECT_EQ(out.duplicates, 0) << out.output;
  EXPECT_EQ(depth(server, "requeue-in"), 0);
  const std::string log = bus.stop();
  EXPECT_NE(log.find("queue 'requeue-in': delivered=8 acked=4 requeued=4 rejected=0"),
            std::string::npos)
      << log;
}

bool waitUntilDeclared(const RabbitMqServer& server, const std::string& queue) {
  for (int i = 0; i < 300; ++i) {
    if (depth(server, queue) >= 0) return true;
    std::this_thread::sleep_for(100ms);
  }
  return false;
}

TEST(Amqp, RejectOnFailureHandsTheMessageToTheQueuesDeadLetterExchange) {
  RabbitMqServer& server = broker();
  TempDir dir;
  // The broker's own dead-lettering: the consumer's queue is declared with
  // x-dead-letter-exchange; on-failure=reject nacks with requeue=false. The DLX and its
  // queue are declared by a second endpoint (a route that never gets a message).
  Bus bus(
      dir, "reject",
      R"(
  <route id="declare-dlx">
    <from uri=")" +
          uri(server, "queue=reject-dlq&amp;exchange=reject-dlx&amp;exchange-type=fanout") + R"("/>
    <to uri="log:never"/>
  </route>
  <route id="reject">
    <from uri=")" +
          uri(server, "queue=reject-in&amp;dead-letter-exchange=reject-dlx&amp;on-failure=reject") +
          R"("/>
    <to uri="direct:nowhere"/>
  </route>
)");
  // reject-in exists already, declared by the bus with its dead-letter argument.
  ASSERT_TRUE(waitUntilDeclared(server, "reject-in"));
  publish(server, "reject-in", 2, "rejected", {"--no-declare"});
  std::this_thread::sleep_for(3s);
  const std::string log = bus.stop();
  EXPECT_NE(log.find("queue 'reject-in': delivered=2 acked=0 requeued=0 rejected=2"),
            std::string::npos)
      << log;
  // The DLX route took them from reject-dlq (delivered=2) and acked them after logging.
  EXPECT_NE(log.find("queue 'reject-dlq' exchange 'reject-dlx': delivered=2 acked=2"),
            std::string::npos)
      << log;
  EXPECT_EQ(depth(server, "reject-in"), 0);
}

TEST(Amqp, PrefetchBoundsTheMessagesInFlight) {
  RabbitMqServer& server = broker();
  TempDir dir;
  Bus bus(dir, "prefetch",
          R"(
  <route id="slow">
    <from uri=")" +
              uri(server, "queue=prefetch-in&amp;prefetch=3") + R"("/>
    <delay duration="4s"/>
    <to uri=")" +
              uri(server, "queue=prefetch-out") + R"("/>
  </route>
)");
  publish(server, "prefetch-in", 10, "slow");
  std::this_thread::sleep_for(2s);
  // Three are with the bus (delayed), seven still wait in the queue.
  EXPECT_EQ(depth(server, "prefetch-in"), 7);
  const Counts out = consume(server, "prefetch-out", 10, false, 90s);
  EXPECT_EQ(out.distinct, 10) << out.output;
  bus.stop();
}

TEST(Amqp, ACleanStopHandsUnackedWorkBackToTheBroker) {
  RabbitMqServer& server = broker();
  TempDir dir;
  // Messages stuck in a long delay when the bus stops: the drain gives up, the connection
  // closes without acking them, and the broker has them again for the next node.
  auto bus = std::make_unique<Bus>(dir, "handback",
                                   R"(
  <route id="stuck">
    <from uri=")" + uri(server, "queue=handback-in&amp;prefetch=5") +
                                       R"("/>
    <delay duration="10m"/>
    <to uri=")" + uri(server, "queue=handback-out") +
                                       R"("/>
  </route>
)",
                                   std::map<std::string, std::string>{}, "2s");
  publish(server, "handback-in", 8, "back");
  std::this_thread::sleep_for(2s);
  EXPECT_EQ(depth(server, "handback-in"), 3);
  bus->process().signal(SIGTERM);
  const auto code = bus->process().wait(120s);
  ASSERT_TRUE(code.has_value());
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(depth(server, "handback-in"), 8) << "the 5 unacked came back to the queue\n"
                                             << bus->log();
}

TEST(Amqp, ConsumesAndPublishesOverTls) {
  RabbitMqServer& server = broker();
  TempDir dir;
  // TLS both ways, the broker's certificate checked against the test CA (host name
  // "localhost" is in the certificate).
  const std::string tls = "amqp://localhost:" + std::to_string(server.tlsPort()) +
                          "/?tls=true&amp;tls-ca=" + server.caFile();
  Bus bus(dir, "tls",
          R"(
  <route id="tls">
    <from uri=")" +
              tls + "&amp;queue=tls-in" + R"("/>
    <to uri=")" +
              tls + "&amp;queue=tls-out" + R"("/>
  </route>
)");
  publish(server, "tls-in", 3, "secure");
  const Counts out = consume(server, "tls-out", 3);
  EXPECT_EQ(out.distinct, 3) << out.output << bus.log();
  const std::string log = bus.stop();
  EXPECT_NE(log.find("consumer amqps://localhost:" + std::to_string(server.tlsPort()) +
                     "/ queue 'tls-in': delivered=3 acked=3"),
            std::string::npos)
      << log;
}

TEST(Amqp, TlsWithAnUntrustedCertificateIsRefusedAndSaysWhy) {
  RabbitMqServer& server = broker();
  TempDir dir;
  // No tls-ca: the broker's certificate (signed by the test CA) cannot be verified.
  Bus bus(dir, "tls-untrusted",
          R"(
  <route id="tls-untrusted">
    <from uri="amqp://localhost:)" +
              std::to_string(server.tlsPort()) + R"(/?tls=true&amp;queue=tls-untrusted"/>
    <to uri="log:never"/>
  </route>
)");
  EXPECT_TRUE(
      bus.process().waitForOutput("cannot connect to amqps://localhost:", std::chrono::seconds(30)))
      << bus.log();
  bus.stop();
}

TEST(Amqp, AMissingQueueIsNamedInTheLogAndRetriedWithBackoff) {
  RabbitMqServer& server = broker();
  TempDir dir;
  Bus bus(dir, "missing",
          R"(
  <route id="missing">
    <from uri=")" +
              uri(server, "queue=no-such-queue&amp;declare=false&amp;reconnect-delay=200ms") +
              R"("/>
    <to uri="log:never"/>
  </route>
)");
  ASSERT_TRUE(bus.process().waitForOutput("404 NOT_FOUND - no queue 'no-such-queue'",
                                          std::chrono::seconds(30)))
      << bus.log();
  std::this_thread::sleep_for(std::chrono::seconds(4));
  const std::string log = bus.stop();
  // 200ms, 400ms, 800ms, 1.6s...: a handful of attempts in 4 s, not a tight loop.
  std::size_t attempts = 0;
  for (auto at = log.find("404 NOT_FOUND"); at != std::string::npos;
       at = log.find("404 NOT_FOUND", at + 1))
    ++attempts;
  EXPECT_GE(attempts, 2U) << log;
  EXPECT_LE(attempts, 20U) << log;
}

TEST(Amqp, HeartbeatsKeepAnIdleConnectionAlive) {
  RabbitMqServer& server = broker();
  TempDir dir;
  // heartbeat=1s: the broker closes a connection that misses two heartbeats, so an idle
  // consumer and producer that serviced none would be dropped within a few seconds.
  Bus bus(dir, "heartbeat",
          R"(
  <route id="heartbeat">
    <from uri=")" +
              uri(server, "queue=heartbeat-in&amp;heartbeat=1s") + R"("/>
    <to uri=")" +
              uri(server, "queue=heartbeat-out&amp;heartbeat=1s") + R"("/>
  </route>
)");
  publish(server, "heartbeat-in", 1, "first");
  EXPECT_EQ(consume(server, "heartbeat-out", 1).distinct, 1);
  std::this_thread::sleep_for(std::chrono::seconds(6));  // idle
  publish(server, "heartbeat-in", 1, "second");
  EXPECT_EQ(consume(server, "heartbeat-out", 1).distinct, 1);
  const std::string log = bus.stop();
  EXPECT_EQ(log.find("lost the connection"), std::string::npos) << log;
}

}  // namespace
}  // namespace busway::testing::amqp_test
