// The C++ SDK against the C ABI: a plugin compiled into this test (BUSWAY_PLUGIN_WITH_ID)
// driven through the SDK's test host, which calls it exactly as the bus does: through the
// descriptor and the C function tables.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "busway/plugin.hpp"
#include "busway/sdk/testing.hpp"

namespace sdk = busway::sdk;
using busway::sdk::Status;
using busway::sdk::testing::Message;
using busway::sdk::testing::TestHost;
using namespace std::chrono_literals;

namespace {

// What the test reaches into: the plugin lives in this process.
struct Shared {
  std::mutex mutex;
  std::optional<sdk::Route> route;
  std::optional<sdk::Sending> parked;  // a deferred send the test completes by hand
  int stops = 0;
  int destroyed = 0;
  std::vector<std::tuple<int, Status, std::string>>
      results;                   // done callbacks: index, status, error
  std::vector<Status> accepted;  // what deliver() returned
  std::string reply;             // of the request
};
Shared& shared() {
  static Shared instance;
  return instance;
}

class TestPlugin;

// Producer and consumer; what send does depends on the URI path.
class Both : public sdk::Endpoint {
 public:
  static constexpr std::string_view scheme = "sdk-test";

  Both(TestPlugin& plugin, const sdk::Options& options);
  ~Both() override { ++shared().destroyed; }

  void send(sdk::Sending& sending) override {
    const std::string& mode = path_;
    if (mode == "ok") return;
    if (mode == "throw-std") throw std::runtime_error("boom: the peer said no");
    if (mode == "throw-transient") throw sdk::TransientError("peer down, try again");
    if (mode == "throw-int") throw 42;
    if (mode == "fail") return sending.fail(Status::timeout, "slow peer");
    if (mode == "modify") return sending.message().setBody("modified", "text/x-test");
    if (mode == "reply-sync") return sending.complete(host_.newMessage("sync reply", "text/plain"));
    if (mode == "defer-early") {
      sdk::Sending later = sending.defer();
      later.complete(host_.newMessage("early reply", "text/plain"));
      return;
    }
    if (mode == "defer-late") {
      host_.schedule(10ms, [later = sending.defer(), host = host_]() mutable {
        later.complete(host.newMessage("late reply", "application/json"));
      });
      return;
    }
    if (mode == "defer-fail") {
      host_.schedule(10ms,
                     [later = sending.defer()]() mutable { later.fail(Status::rejected, "full"); });
      return;
    }
    if (mode == "defer-drop") {
      host_.schedule(10ms, [later = sending.defer()] { static_cast<void>(later); });
      return;
    }
    if (mode == "defer-throw") {
      const std::lock_guard<std::mutex> lock(shared().mutex);
      shared().parked.emplace(sending.defer());
      throw sdk::InvalidError("refused after defer");
    }
    if (mode == "defer-park") {
      const std::lock_guard<std::mutex> lock(shared().mutex);
      shared().parked.emplace(sending.defer());
      return;
    }
    if (mode == "headers") {
      const auto message = sending.message();
      std::string seen;
      message.forEachHeader([&](std::string_view name, std::string_view value) {
        seen += std::string(name) + "=" + std::string(value) + ";";
      });
      message.setHeader("seen", seen);
      message.setHeader("count", static_cast<std::int64_t>(message.headerCount()));
      message.setHeader("missing", message.header("nope") ? "present" : "absent");
      message.removeHeader("drop-me");
      message.setBody(message.body().substr(2));  // aliases the body: must be safe
      return;
    }
    throw std::logic_error("unknown test mode " + mode);
  }

  void startConsumer(sdk::Route route) override {
    if (path_ == "refuse-start") throw sdk::TransientError("source unavailable");
    {
      const std::lock_guard<std::mutex> lock(shared().mutex);
      shared().route = route;
    }
    for (int i = 0; i < deliveries_; ++i) {
      auto message = host_.newMessage("m" + std::to_string(i), "text/plain");
      const bool throw_in_done = path_ == "throw-in-done";
      const Status status =
          route.deliver(std::move(message), [i, throw_in_done](const sdk::DeliveryResult& result) {
            {
              const std::lock_guard<std::mutex> lock(shared().mutex);
              shared().results.emplace_back(i, result.status, std::string(result.error));
            }
            if (throw_in_done) throw std::runtime_error("done callback blew up");
          });
      const std::lock_guard<std::mutex> lock(shared().mutex);
      shared().accepted.push_back(status);
    }
    if (path_ == "request") {
      auto message = host_.newMessage("question", "text/plain");
      message.setHeader("n", 5);
      route.request(std::move(message), [](const sdk::DeliveryResult& result) {
        const std::lock_guard<std::mutex> lock(shared().mutex);
        shared().reply = result.reply ? std::string(result.reply->body()) : "<none>";
      });
    }
  }
  void stopConsumer() override { ++shared().stops; }

 private:
  sdk::Host host_;
  std::string path_;
  int deliveries_;
};

// Producer only: the descriptor must say so (start/stop NULL).
class Sink : public sdk::Endpoint {
 public:
  static constexpr const char* scheme = "sdk-sink";
  Sink(sdk::Host host, const sdk::Options& options)
      : host_(host), copies_(options.integer("copies", 1)) {}
  void send(sdk::Sending& sending) override {
    host_.metric("sunk", static_cast<double>(copies_));
    static_cast<void>(sending);
  }

 private:
  sdk::Host host_;
  std::int64_t copies_;
};

class Upper : public sdk::Format {
 public:
  static constexpr std::string_view name = "upper";
  Upper(sdk::Host, const sdk::Options&) {}
  void marshal(sdk::MessageRef message) override {
    std::string body(message.body());
    for (auto& c : body) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c);
    message.setBody(body, "text/x-upper");
  }
  void unmarshal(sdk::MessageRef message) override {
    if (message.mediaType() != "text/x-upper")
      throw sdk::InvalidError("not text/x-upper but " + std::string(message.mediaType()));
    std::string body(message.body());
    for (auto& c : body) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
    message.setBody(body, "text/plain");
  }
};

class Reverse : public sdk::Transformer {
 public:
  static constexpr std::string_view name = "reverse";
  Reverse(TestPlugin&, const sdk::Options& options) : prefix_(options.text("prefix", "")) {}
  void apply(sdk::MessageRef message) override {
    const std::string body(message.body());
    message.setBody(prefix_ + std::string(body.rbegin(), body.rend()));
  }

 private:
  std::string prefix_;
};

class TestPlugin : public sdk::Plugin {
 public:
  using Endpoints = sdk::List<Both, Sink>;
  using Formats = sdk::List<Upper>;
  using Transformers = sdk::List<Reverse>;

  TestPlugin(sdk::Host host, const sdk::Options& config) : Plugin(host, config) {
    if (config.boolean("fail-init", false))
      throw sdk::TransientError("cannot reach the licence server");
    host.info("test plugin up, ", config.all().size(), " config option(s)");
  }
  void drain(std::chrono::milliseconds timeout) override {
    host().info("draining within ", timeout.count(), "ms");
  }
};

Both::Both(TestPlugin& plugin, const sdk::Options& options)
    : host_(plugin.host()),
      path_(options.path()),
      deliveries_(static_cast<int>(options.integer("deliveries", 0))) {
  if (options.has("refuse")) throw sdk::InvalidError("option refuse is set in " + options.uri());
}

}  // namespace

BUSWAY_PLUGIN_WITH_ID(TestPlugin, "sdk-test", "1.2.3");

namespace {

const bw_plugin_descriptor* descriptor() { return busway_plugin_entry(BW_ABI_MAJOR, BW_ABI_MINOR); }

class SdkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto& s = shared();
    s.route.reset();
    s.parked.reset();
    s.results.clear();
    s.accepted.clear();
    s.reply.clear();
    s.stops = 0;
    host.setEcho(false);
    host.load(descriptor());
  }
  void TearDown() override {
    shared().route.reset();
    shared().parked.reset();
  }
  TestHost host;
};

TEST(SdkDescriptor, DescribesThePluginThroughTheCAbi) {
  const bw_plugin_descriptor* d = descriptor();
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->struct_size, sizeof(bw_plugin_descriptor));
  EXPECT_EQ(d->abi_major, static_cast<std::uint32_t>(BW_ABI_MAJOR));
  EXPECT_EQ(d->abi_minor, static_cast<std::uint32_t>(BW_ABI_MINOR));
  EXPECT_STREQ(d->id, "sdk-test");
  EXPECT_STREQ(d->version, "1.2.3");
  ASSERT_EQ(d->endpoint_count, 2U);
  EXPECT_STREQ(d->endpoints[0]->scheme, "sdk-test");
  EXPECT_NE(d->endpoints[0]->start, nullptr);
  EXPECT_NE(d->endpoints[0]->stop, nullptr);
  EXPECT_NE(d->endpoints[0]->send, nullptr);
  EXPECT_STREQ(d->endpoints[1]->scheme, "sdk-sink");
  EXPECT_EQ(d->endpoints[1]->start, nullptr);  // producer only
  EXPECT_EQ(d->endpoints[1]->stop, nullptr);
  EXPECT_NE(d->endpoints[1]->send, nullptr);
  ASSERT_EQ(d->format_count, 1U);
  EXPECT_STREQ(d->formats[0]->name, "upper");
  ASSERT_EQ(d->transformer_count, 1U);
  EXPECT_STREQ(d->transformers[0]->name, "reverse");
  // Whatever the host says, the same static descriptor: the host decides and explains.
  EXPECT_EQ(busway_plugin_entry(BW_ABI_MAJOR + 1, 0), d);
}

TEST(SdkInit, AFailingConstructorIsAnErrorWithTheMessage) {
  TestHost host;
  host.setEcho(false);
  try {
    host.load(descriptor(), {{"fail-init", "true"}});
    FAIL() << "init should fail";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("transient"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("licence server"), std::string::npos) << e.what();
  }
}

TEST(SdkInit, RefusesAHostTableShorterThanItsOwn) {
  bw_host_api api{};
  api.struct_size = offsetof(bw_host_api, metric_add);
  api.abi_major = BW_ABI_MAJOR;
  api.abi_minor = BW_ABI_MINOR;
  std::array<char, 256> buffer{};
  bw_error error{sizeof(bw_error), buffer.data(), buffer.size()};
  void* state = nullptr;
  EXPECT_EQ(descriptor()->init(&api, nullptr, nullptr, 0, &state, &error), BW_ERR_UNSUPPORTED);
  EXPECT_EQ(state, nullptr);
  EXPECT_NE(std::string(buffer.data()).find("ABI"), std::string::npos) << buffer.data();
}

TEST_F(SdkTest, ExceptionsBecomeStatusesAndMessages) {
  auto result = host.send(host.createEndpoint("sdk-test:throw-std"), Message{"x"});
  EXPECT_EQ(result.status, Status::permanent);
  EXPECT_EQ(result.error, "boom: the peer said no");
  result = host.send(host.createEndpoint("sdk-test:throw-transient"), Message{"x"});
  EXPECT_EQ(result.status, Status::transient);
  EXPECT_EQ(result.error, "peer down, try again");
  result = host.send(host.createEndpoint("sdk-test:throw-int"), Message{"x"});
  EXPECT_EQ(result.status, Status::permanent);
  EXPECT_NE(result.error.find("not a std::exception"), std::string::npos);
  result = host.send(host.createEndpoint("sdk-test:fail"), Message{"x"});
  EXPECT_EQ(result.status, Status::timeout);
  EXPECT_EQ(result.error, "slow peer");
}

TEST_F(SdkTest, ARefusedUriCarriesTheConstructorsMessage) {
  try {
    host.createEndpoint("sdk-test:ok?refuse=1");
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("invalid"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("option refuse is set in sdk-test:ok?refuse=1"),
              std::string::npos)
        << e.what();
  }
  try {
    host.createEndpoint("sdk-test:ok?deliveries=many");
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("option 'deliveries' is 'many', expected an integer"),
              std::string::npos)
        << e.what();
  }
}

TEST_F(SdkTest, SynchronousSendsAndReplies) {
  auto result = host.send(host.createEndpoint("sdk-test:ok"), Message{"x"}, true);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result.reply->body, "x");  // unchanged message is the reply
  result = host.send(host.createEndpoint("sdk-test:modify"), Message{"x"}, true);
  ASSERT_TRUE(result.reply);
  EXPECT_EQ(result.reply->body, "modified");
  EXPECT_EQ(result.reply->media_type, "text/x-test");
  result = host.send(host.createEndpoint("sdk-test:reply-sync"), Message{"x"}, true);
  ASSERT_TRUE(result.reply);
  EXPECT_EQ(result.reply->body, "sync reply");
}

TEST_F(SdkTest, AsynchronousSends) {
  // Completed inside send(): turned into a synchronous result, the host never sees PENDING.
  auto result = host.send(host.createEndpoint("sdk-test:defer-early"), Message{"x"}, true);
  ASSERT_TRUE(result.ok()) << result.error;
  EXPECT_EQ(result.reply->body, "early reply");

  const auto before = host.now();
  result = host.send(host.createEndpoint("sdk-test:defer-late"), Message{"x"}, true);
  ASSERT_TRUE(result.ok()) << result.error;
  EXPECT_EQ(result.reply->body, "late reply");
  EXPECT_EQ(result.reply->media_type, "application/json");
  EXPECT_GE(host.now() - before, 10ms);

  result = host.send(host.createEndpoint("sdk-test:defer-fail"), Message{"x"});
  EXPECT_EQ(result.status, Status::rejected);
  EXPECT_EQ(result.error, "full");

  // Dropped without completing: failed for the plugin, never left hanging.
  result = host.send(host.createEndpoint("sdk-test:defer-drop"), Message{"x"});
  EXPECT_EQ(result.status, Status::permanent);
  EXPECT_TRUE(host.logged("dropped"));
}

TEST_F(SdkTest, ADeferredSendCompletedFromAnotherThread) {
  const auto id = host.createEndpoint("sdk-test:defer-park");
  std::thread completer([] {
    while (true) {
      {
        const std::lock_guard<std::mutex> lock(shared().mutex);
        if (shared().parked) {
          shared().parked->complete();
          return;
        }
      }
      std::this_thread::sleep_for(1ms);
    }
  });
  const auto result = host.send(id, Message{"x"});
  completer.join();
  EXPECT_TRUE(result.ok()) << result.error;
}

TEST_F(SdkTest, AnErrorAfterDeferWinsAndTheLaterCompletionIsDropped) {
  const auto result = host.send(host.createEndpoint("sdk-test:defer-throw"), Message{"x"});
  EXPECT_EQ(result.status, Status::invalid);
  EXPECT_EQ(result.error, "refused after defer");
  const std::lock_guard<std::mutex> lock(shared().mutex);
  ASSERT_TRUE(shared().parked);
  shared().parked->complete();  // must not reach the host: the send is over
}

TEST_F(SdkTest, MessageHeadersAndAliasingBodies) {
  Message message{"--payload"};
  message.headers = {{"A", "1"}, {"drop-me", "x"}};
  const auto result = host.send(host.createEndpoint("sdk-test:headers"), message, true);
  ASSERT_TRUE(result.ok()) << result.error;
  const Message& reply = *result.reply;
  EXPECT_EQ(reply.body, "payload");
  EXPECT_EQ(reply.header("seen"), "A=1;drop-me=x;");
  EXPECT_EQ(reply.header("count"), "3");  // A, drop-me and seen
  EXPECT_EQ(reply.header("missing"), "absent");
  EXPECT_FALSE(reply.header("drop-me"));
}

TEST_F(SdkTest, DeliveriesAndTheirAcknowledgements) {
  const auto id = host.createEndpoint("sdk-test:consume?deliveries=3");
  host.startConsumer(id);
  ASSERT_EQ(host.deliveryCount(), 3U);
  EXPECT_EQ(host.delivered(0).body, "m0");
  EXPECT_FALSE(host.deliveredInOut(0));
  host.ack(0);
  host.nack(1, Status::transient, "store full");
  EXPECT_EQ(host.unfinishedDeliveries(), 1U);
  host.stopConsumer(id);
  EXPECT_EQ(shared().stops, 1);
  host.ack(2);  // a delivery made before stop still completes after it
  const std::lock_guard<std::mutex> lock(shared().mutex);
  ASSERT_EQ(shared().results.size(), 3U);
  EXPECT_EQ(shared().results[0], std::make_tuple(0, Status::ok, std::string()));
  EXPECT_EQ(shared().results[1], std::make_tuple(1, Status::transient, std::string("store full")));
  EXPECT_EQ(shared().results[2], std::make_tuple(2, Status::ok, std::string()));
  EXPECT_EQ(shared().accepted, std::vector<Status>(3, Status::ok));
}

TEST_F(SdkTest, DoneMayRunBeforeDeliverReturns) {
  host.setAutoAck(true);
  host.startConsumer(host.createEndpoint("sdk-test:consume?deliveries=2"));
  const std::lock_guard<std::mutex> lock(shared().mutex);
  EXPECT_EQ(shared().results.size(), 2U);
  EXPECT_EQ(host.unfinishedDeliveries(), 0U);
}

TEST_F(SdkTest, ARefusedDeliveryCallsNoCallback) {
  host.setRefuseDeliveries(true);
  host.startConsumer(host.createEndpoint("sdk-test:consume?deliveries=2"));
  const std::lock_guard<std::mutex> lock(shared().mutex);
  EXPECT_TRUE(shared().results.empty());
  EXPECT_EQ(shared().accepted, std::vector<Status>(2, Status::rejected));
}

TEST_F(SdkTest, AfterStopTheRouteRefusesWithoutCallingTheHost) {
  const auto id = host.createEndpoint("sdk-test:consume");
  host.startConsumer(id);
  sdk::Route route;
  {
    const std::lock_guard<std::mutex> lock(shared().mutex);
    ASSERT_TRUE(shared().route);
    route = *shared().route;
  }
  EXPECT_TRUE(route.active());
  host.stopConsumer(id);
  EXPECT_FALSE(route.active());
  bool called = false;
  EXPECT_EQ(route.deliver(route.host().newMessage("late", "text/plain"),
                          [&](const sdk::DeliveryResult&) { called = true; }),
            Status::rejected);
  EXPECT_EQ(host.deliveryCount(), 0U);
  EXPECT_FALSE(called);
  // Still safe once the endpoint itself is gone.
  host.destroyEndpoint(id);
  EXPECT_EQ(route.deliver(route.host().newMessage("later", "text/plain"),
                          [](const sdk::DeliveryResult&) {}),
            Status::rejected);
}

TEST_F(SdkTest, RequestReplyDeliveries) {
  host.startConsumer(host.createEndpoint("sdk-test:request"));
  ASSERT_EQ(host.deliveryCount(), 1U);
  EXPECT_TRUE(host.deliveredInOut(0));
  EXPECT_EQ(host.delivered(0).header("n"), "5");
  Message answer{"answer"};
  host.ack(0, answer);
  const std::lock_guard<std::mutex> lock(shared().mutex);
  EXPECT_EQ(shared().reply, "answer");
}

TEST_F(SdkTest, AThrowingDoneCallbackIsLoggedNotPropagated) {
  host.startConsumer(host.createEndpoint("sdk-test:throw-in-done?deliveries=1"));
  host.ack(0);
  EXPECT_TRUE(host.logged("done callback blew up"));
}

TEST_F(SdkTest, AConsumerThatCannotStart) {
  const auto id = host.createEndpoint("sdk-test:refuse-start");
  try {
    host.startConsumer(id);
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("source unavailable"), std::string::npos);
  }
}

TEST_F(SdkTest, OneConsumerPerEndpoint) {
  const auto id = host.createEndpoint("sdk-test:consume");
  host.startConsumer(id);
  EXPECT_THROW(host.startConsumer(id), std::runtime_error);
}

TEST_F(SdkTest, ProducerOnlyEndpoint) {
  const auto id = host.createEndpoint("sdk-sink:x?copies=3");
  EXPECT_TRUE(host.send(id, Message{"x"}).ok());
  EXPECT_EQ(host.metric("sunk"), 3.0);
  EXPECT_THROW(host.startConsumer(id), std::runtime_error);
}

TEST_F(SdkTest, FormatsAndTransformers) {
  Message message{"Hello"};
  ASSERT_TRUE(host.marshal("upper", message).ok());
  EXPECT_EQ(message.body, "HELLO");
  EXPECT_EQ(message.media_type, "text/x-upper");
  ASSERT_TRUE(host.unmarshal("upper", message).ok());
  EXPECT_EQ(message.body, "hello");
  const auto bad = host.unmarshal("upper", message);
  EXPECT_EQ(bad.status, Status::invalid);
  EXPECT_EQ(bad.error, "not text/x-upper but text/plain");
  ASSERT_TRUE(host.transform("reverse", message, {{"prefix", ">"}}).ok());
  EXPECT_EQ(message.body, ">olleh");
}

TEST_F(SdkTest, TimersRunMoveOnlyTasksAndLogTheirExceptions) {
  const sdk::Host plugin_host(&host.api(), host.handle());
  auto owned = std::make_unique<int>(7);
  int seen = 0;
  plugin_host.schedule(5ms, [p = std::move(owned), &seen] { seen = *p; });
  plugin_host.schedule(10ms, [] { throw std::runtime_error("timer went wrong"); });
  host.advance(4ms);
  EXPECT_EQ(seen, 0);
  host.advance(10ms);
  EXPECT_EQ(seen, 7);
  EXPECT_TRUE(host.logged("timer went wrong"));
  EXPECT_EQ(host.pendingTimers(), 0U);
}

TEST_F(SdkTest, DrainAndDestroyReachThePlugin) {
  host.drain(250ms);
  EXPECT_TRUE(host.logged("draining within 250ms"));
  const int before = shared().destroyed;
  host.createEndpoint("sdk-test:ok");
  host.unload();
  EXPECT_EQ(shared().destroyed, before + 1);
}

TEST(SdkOptions, TypedGetters) {
  const sdk::Options options(
      {{"n", "-42"}, {"on", "true"}, {"d", "5s"}, {"d2", "250"}, {"s", "64KB"}, {"t", "x y"}},
      "acme:x?n=-42", "x");
  EXPECT_EQ(options.integer("n"), -42);
  EXPECT_TRUE(options.boolean("on"));
  EXPECT_EQ(options.duration("d"), 5s);
  EXPECT_EQ(options.duration("d2"), 250ms);
  EXPECT_EQ(options.bytes("s"), 64U * 1024U);
  EXPECT_EQ(options.text("t"), "x y");
  EXPECT_EQ(options.integer("absent", 9), 9);
  EXPECT_EQ(options.duration("absent", 1s), 1s);
  EXPECT_EQ(options.path(), "x");
  EXPECT_THROW(static_cast<void>(options.text("absent")), sdk::InvalidError);
  EXPECT_THROW(static_cast<void>(options.integer("t")), sdk::InvalidError);
  EXPECT_THROW(static_cast<void>(options.duration("s")), sdk::InvalidError);
  EXPECT_THROW(static_cast<void>(options.bytes("d")), sdk::InvalidError);
  EXPECT_FALSE(sdk::detail::parseInteger("99999999999999999999"));
  EXPECT_FALSE(sdk::detail::parseDuration("999999999999999999h"));
  EXPECT_EQ(sdk::detail::parseInteger("-9223372036854775808"), INT64_MIN);
  EXPECT_EQ(sdk::detail::parseSize("1g"), 1ULL << 30U);
}

TEST(SdkOptions, StepsThroughALongerHostStructBySize) {
  // A newer host's bw_option with a field appended: the SDK must step by struct_size.
  struct NewerOption {
    bw_option base;
    std::uint64_t appended;
  };
  const std::array<NewerOption, 2> options{{
      {{sizeof(NewerOption), {"a", 1}, {"1", 1}}, 0xdeadbeef},
      {{sizeof(NewerOption), {"b", 1}, {"2", 1}}, 0xdeadbeef},
  }};
  const sdk::Options parsed(&options[0].base, options.size());
  EXPECT_EQ(parsed.integer("a"), 1);
  EXPECT_EQ(parsed.integer("b"), 2);
}

TEST(SdkErrors, TheErrorBufferIsTruncatedOnACharacterBoundary) {
  std::array<char, 6> buffer{};
  bw_error error{sizeof(bw_error), buffer.data(), buffer.size()};
  sdk::detail::writeError(&error,
                          "abcd\xc3\xa9"
                          "f");  // "abcd" + e-acute: 4 + 2 bytes do not fit in 5
  EXPECT_STREQ(buffer.data(), "abcd");
  sdk::detail::writeError(nullptr, "ignored");
  bw_error empty{sizeof(bw_error), nullptr, 0};
  sdk::detail::writeError(&empty, "ignored");
}

}  // namespace
