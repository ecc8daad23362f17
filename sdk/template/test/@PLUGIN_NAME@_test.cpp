// Behaviour tests for @PLUGIN_NAME@.so, run by ctest against the SDK's in-process test host:
//   @PLUGIN_NAME@_test path/to/@PLUGIN_NAME@.so
// The test host applies no manifest defaults: pass every option the endpoint reads.
// `busway plugins check` runs the conformance kit (lifecycle, option schema, acks) with the
// real host.

#include <chrono>
#include <cstdio>
#include <exception>
#include <string>

#include <busway/sdk/testing.hpp>

namespace {

using busway::sdk::Status;
using busway::sdk::testing::Message;
using busway::sdk::testing::TestHost;
using namespace std::chrono_literals;

int failures = 0;

void check(bool ok, const char* what, int line) {
  if (ok) return;
  std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, line, what);
  ++failures;
}
#define CHECK(condition) check((condition), #condition, __LINE__)

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

constexpr const char* kOptions = "capacity=2&max-size=1KB&reply-delay=0ms&period=100ms&text=hello";

void producer(TestHost& host) {
  const auto orders = host.createEndpoint(std::string("@PLUGIN_ID@:orders?") + kOptions);

  // One-way: stored, no reply.
  auto result = host.send(orders, Message{"first"});
  CHECK(result.ok());
  CHECK(!result.reply);

  // Request-reply, synchronous: the JSON echo.
  result = host.send(orders, Message{"ping"}, true);
  CHECK(result.ok());
  CHECK(result.reply && contains(result.reply->body, "\"echo\":\"ping\""));
  CHECK(result.reply && contains(result.reply->body, "\"stored\":2"));
  CHECK(result.reply && contains(result.reply->body, "\"from\":\"unit-test\""));
  CHECK(result.reply && result.reply->media_type == "application/json");

  // The ring keeps `capacity` messages.
  result = host.send(orders, Message{"third"}, true);
  CHECK(result.reply && contains(result.reply->body, "\"stored\":2"));

  // Too large: refused as invalid, with a message naming the limit.
  result = host.send(orders, Message{std::string(2000, 'x')});
  CHECK(result.status == Status::invalid);
  CHECK(contains(result.error, "max-size"));
  CHECK(host.metric("stored") == 3);
}

void asynchronousProducer(TestHost& host) {
  const auto slow = host.createEndpoint(
      "@PLUGIN_ID@:slow?capacity=10&max-size=1KB&reply-delay=50ms&period=1s&text=x");
  const auto before = host.now();
  auto result = host.send(slow, Message{"later"}, true);
  CHECK(result.ok());
  CHECK(result.reply && contains(result.reply->body, "\"echo\":\"later\""));
  CHECK(host.now() - before >= 50ms);  // completed by the timer, not at once

  result = host.send(slow, Message{"one-way"});
  CHECK(result.ok());
}

void badOptions(TestHost& host) {
  bool refused = false;
  try {
    host.createEndpoint(
        "@PLUGIN_ID@:orders?capacity=0&max-size=1KB&reply-delay=0ms&period=1s&text=x");
  } catch (const std::exception& e) {
    refused = contains(e.what(), "capacity");
  }
  CHECK(refused);
}

void consumer(TestHost& host) {
  const auto ticks = host.createEndpoint(std::string("@PLUGIN_ID@:ticks?") + kOptions);
  host.startConsumer(ticks);
  host.advance(250ms);  // ticks at 100 and 200 ms
  CHECK(host.deliveryCount() == 2);
  CHECK(contains(host.delivered(0).body, "\"sequence\":1"));
  CHECK(host.delivered(0).header("@PLUGIN_ID@-name") == "ticks");

  // At-least-once: an acked message is done; a nacked one comes again.
  host.ack(0);
  host.nack(1);
  host.advance(100ms);
  CHECK(host.deliveryCount() == 3);
  CHECK(host.delivered(2).body == host.delivered(1).body);
  host.ack(2);
  CHECK(host.metric("acked") == 2);
  CHECK(host.metric("nacked") == 1);

  // After stop nothing more is delivered and the timer chain ends.
  host.stopConsumer(ticks);
  host.advance(1s);
  CHECK(host.deliveryCount() == 3);
  CHECK(host.pendingTimers() == 0);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s PLUGIN.so\n", argv[0]);
    return 2;
  }
  try {
    TestHost host;
    host.setEcho(false);
    host.load(argv[1], {{"label", "unit-test"}});
    CHECK(std::string(host.descriptor().id) == "@PLUGIN_ID@");
    producer(host);
    asynchronousProducer(host);
    badOptions(host);
    consumer(host);
    CHECK(!host.logged("failed"));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  if (failures > 0) return 1;
  std::puts("all @PLUGIN_NAME@ tests passed");
  return 0;
}
