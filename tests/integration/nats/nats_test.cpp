// The nats plugin through the real busway binary, against a real nats-server (2.9, with
// JetStream) on 127.0.0.1 (one per test, on a free port, with its own store folder). The
// peers are busway-nats-peer (plugins/nats/tools), on the plugin's own protocol client.

#include <chrono>
#include <iostream>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "bus_process.hpp"
#include "child_process.hpp"
#include "servers/nats_server.hpp"

namespace busway::testing {
namespace {

using namespace std::chrono_literals;

const std::string kBusway = BUSWAY_EXE;
const std::string kPeer = std::string(BUSWAY_BINARY_DIR) + "/bin/busway-nats-peer";

// `busway run` with the test's table; start() waits for the consumers to subscribe.
class Bus : public BusProcess {
 public:
  Bus(const TempDir& dir, const std::string& routes) : BusProcess(kBusway, dir, routes) {}
};

using Counts = PeerCounts;

// The peer tool subscribing in the background; result() waits for it and reads its counts.
class Subscriber : public PeerSubscriber {
 public:
  Subscriber(const TempDir& dir, const std::vector<std::string>& args)
      : PeerSubscriber(dir, withPeer(args)) {}

 private:
  static std::vector<std::string> withPeer(const std::vector<std::string>& args) {
    std::vector<std::string> argv{kPeer};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }
};

CommandResult publish(const std::vector<std::string>& args,
                      std::chrono::milliseconds timeout = 120s) {
  std::vector<std::string> argv{kPeer, "pub"};
  argv.insert(argv.end(), args.begin(), args.end());
  return runCommand(argv, timeout);
}

TEST(Nats, CorePublishSubscribeThroughTheBus) {
  NatsServer server;
  TempDir dir;
  Bus bus(dir, route("pass", server.uri("in.a"), server.uri("out.a")));
  bus.start();
  const std::string port = std::to_string(server.port());
  Subscriber sub(
      dir, {"sub", "--port", port, "--subject", "out.a", "--count", "300", "--timeout", "60"});
  const auto pub = publish(
      {"--port", port, "--subject", "in.a", "--count", "300", "--size", "100", "--rate", "3000"});
  ASSERT_EQ(pub.exit_code, 0) << pub.out << pub.err;
  EXPECT_EQ(sub.result().unique, 300) << bus.output();
}

TEST(Nats, QueueGroupsShareTheMessages) {
  NatsServer server;
  TempDir dir;
  // Two bus consumers in one queue group: each message crosses the bus once.
  Bus bus(dir, route("first", server.uri("in.q?queue=bus"), server.uri("out.q")) + "\n" +
                   route("second", xmlAttribute(server.uri("in.q?queue=bus&media-type=text/plain")),
                         server.uri("out.q")));
  bus.start(2);
  const std::string port = std::to_string(server.port());
  // Two subscribers in the group 'workers': they share what the bus publishes.
  Subscriber one(dir, {"sub", "--port", port, "--subject", "out.q", "--queue", "workers", "--count",
                       "200", "--timeout", "8"});
  Subscriber two(dir, {"sub", "--port", port, "--subject", "out.q", "--queue", "workers", "--count",
                       "200", "--timeout", "8"});
  const auto pub =
      publish({"--port", port, "--subject", "in.q", "--count", "200", "--rate", "2000"});
  ASSERT_EQ(pub.exit_code, 0) << pub.err;
  const Counts a = one.result();
  const Counts b = two.result();
  EXPECT_GT(a.received, 0);
  EXPECT_GT(b.received, 0);
  EXPECT_EQ(a.received + b.received, 200) << "one " << a.received << ", two " << b.received;
  EXPECT_EQ(a.duplicates + b.duplicates, 0);
}

TEST(Nats, RequestReplyAnsweredByARoute) {
  NatsServer server;
  TempDir dir;
  Bus bus(dir, route("service", server.uri("svc.ping"),
                     std::vector<std::string>{"<set-body>pong ${body}</set-body>"}));
  bus.start();
  const auto r = runCommand({kPeer, "request", "--port", std::to_string(server.port()), "--subject",
                             "svc.ping", "--body", "hello", "--timeout", "10"},
                            30s);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err << bus.output();
  EXPECT_NE(r.out.find("reply: pong hello"), std::string::npos) << r.out;
}

TEST(Nats, ARouteAsksAnotherServiceAndHeadersTravel) {
  NatsServer server;
  TempDir dir;
  Bus bus(dir, route("ask", server.uri("in.rr"),
                     std::vector<std::string>{
                         "<to uri=\"" + server.uri("svc.answer") + "\" pattern=\"in-out\"/>",
                         "<to uri=\"" + server.uri("out.rr") + "\"/>"}));
  bus.start();
  const std::string port = std::to_string(server.port());
  ChildProcess responder;
  ASSERT_TRUE(responder.start({kPeer, "reply", "--port", port, "--subject", "svc.answer",
                               "--prefix", "answer:", "--timeout", "60"},
                              dir.path()));
  ASSERT_TRUE(responder.waitForOutput("ready", 20s));
  Subscriber sub(dir, {"sub", "--port", port, "--subject", "out.rr", "--count", "1", "--timeout",
                       "30", "--print"});
  const auto pub =
      publish({"--port", port, "--subject", "in.rr", "--count", "1", "--header", "Order=42"});
  ASSERT_EQ(pub.exit_code, 0) << pub.err;
  sub.result();
  EXPECT_NE(sub.out().find("msg out.rr answer:0"), std::string::npos) << sub.out() << bus.output();
  EXPECT_NE(sub.out().find("Order=42"), std::string::npos) << sub.out();
  EXPECT_NE(sub.out().find("Answered-By=peer"), std::string::npos) << sub.out();
}

TEST(Nats, JetStreamToJetStreamWithAcks) {
  NatsServer server;
  TempDir dir;
  const std::string port = std::to_string(server.port());
  Subscriber sink(
      dir, {"js-sub", "--port", port, "--stream", "SHIPPED", "--subject", "shipped.x", "--durable",
            "sink", "--count", "500", "--timeout", "60", "--linger", "500"});
  Bus bus(dir, route("js", xmlAttribute(server.uri("orders.*?stream=ORDERS&durable=bus")),
                     xmlAttribute(server.uri("shipped.x?stream=SHIPPED"))));
  bus.start();
  const auto pub = publish({"--port", port, "--subject", "orders.new", "--count", "500", "--js"});
  ASSERT_EQ(pub.exit_code, 0) << pub.out << pub.err;
  const Counts c = sink.result();
  EXPECT_EQ(c.unique, 500) << bus.output();
  // Everything was acknowledged: a restarted bus gets nothing again.
  ASSERT_EQ(bus.stop(), 0);
  const auto info =
      runCommand({kPeer, "request", "--port", port, "--subject", "$JS.API.CONSUMER.INFO.ORDERS.bus",
                  "--body", "", "--timeout", "10"},
                 30s);
  EXPECT_NE(info.out.find("\"num_ack_pending\":0"), std::string::npos) << info.out;
  EXPECT_NE(info.out.find("\"num_pending\":0"), std::string::npos) << info.out;
}

TEST(Nats, AFailedRouteNaksAndJetStreamRedeliversUntilItSucceeds) {
  NatsServer server;
  TempDir dir;
  const std::string port = std::to_string(server.port());
  // The route publishes to a subject no stream captures yet: every send fails (no
  // responders), the consumer -NAKs, JetStream redelivers.
  Bus bus(
      dir,
      route("retry",
            xmlAttribute(server.uri("in.retry?stream=RETRY&durable=bus&redelivery-delay=200ms")),
            xmlAttribute(server.uri("late.out?jetstream=true&request-timeout=1s"))));
  bus.start();
  ASSERT_EQ(publish({"--port", port, "--subject", "in.retry", "--count", "5", "--js"}).exit_code,
            0);
  std::this_thread::sleep_for(3s);
  EXPECT_NE(bus.output().find("the route failed, redelivery in 200ms"), std::string::npos)
      << bus.output();
  // Now a stream captures late.out (js-sub creates it): the next redelivery goes through.
  Subscriber sink(dir, {"js-sub", "--port", port, "--stream", "LATE", "--subject", "late.out",
                        "--durable", "sink", "--count", "5", "--timeout", "60", "--linger", "500"});
  const Counts c = sink.result();
  EXPECT_EQ(c.unique, 5) << bus.output();
}

TEST(Nats, ABadUriIsRefusedWhenTheTableLoads) {
  TempDir dir;
  dir.write("routes.xml", routesTable(route("bad", "nats://127.0.0.1:4222/a..b", "log:x")));
  const auto r = runCommand({kBusway, "run", "--for", "2s", dir.file("routes.xml")}, 30s);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE((r.out + r.err).find("is not a valid subject"), std::string::npos) << r.out << r.err;
}

// The fault test of issue 7 for NATS: JetStream in, the bus, JetStream out; the server is
// stopped and restarted in the middle of 10,000 messages. Every message arrives at least
// once; duplicates are counted.
TEST(NatsFault, ServerRestartInTheMiddleOfTenThousandJetStreamMessagesLosesNothing) {
  constexpr int kCount = 10000;
  NatsServer server;
  TempDir dir;
  const std::string port = std::to_string(server.port());
  Subscriber sink(
      dir, {"js-sub", "--port", port, "--stream", "OUT", "--subject", "out.fault", "--durable",
            "sink", "--count", std::to_string(kCount), "--timeout", "180", "--linger", "2000"});
  Bus bus(dir, route("relay",
                     xmlAttribute(server.uri(
                         "in.fault?stream=IN&durable=relay&ack-wait=5s&reconnect-delay-max=1s")),
                     xmlAttribute(server.uri("out.fault?stream=OUT&reconnect-delay-max=1s"))));
  bus.start();
  ChildProcess pub;
  ASSERT_TRUE(
      pub.start({kPeer, "pub", "--port", port, "--subject", "in.fault", "--js", "--count",
                 std::to_string(kCount), "--size", "200", "--rate", "1000", "--timeout", "180"},
                dir.path()));
  std::this_thread::sleep_for(3s);
  server.stop();
  std::this_thread::sleep_for(2s);
  server.start();
  const auto code = pub.wait(200s);
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 0) << pub.out() << pub.err();
  const Counts c = sink.result(240s);
  std::cout << "[nats fault] published " << kCount << ", arrived " << c.received << ", unique "
            << c.unique << ", duplicates " << c.duplicates << "  (" << pub.out() << ")"
            << std::endl;
  EXPECT_EQ(c.unique, kCount) << sink.out().substr(0, 3000) << bus.output().substr(0, 20000);
  // The bus did see the broker go away and come back.
  EXPECT_NE(bus.output().find("lost the connection"), std::string::npos)
      << bus.output().substr(0, 20000);
  EXPECT_EQ(bus.stop(), 0);
}

}  // namespace
}  // namespace busway::testing
