// queue: bounded asynchronous channel. Order with one consumer, concurrency with several,
// and what a full queue does to its producers (reject, or park until space frees).
#include <future>

#include <gtest/gtest.h>

#include "route_harness.hpp"

namespace busway::testing {
namespace {

using namespace std::chrono_literals;

std::vector<std::string> numbered(int from, int to) {
  std::vector<std::string> out;
  for (int i = from; i <= to; ++i) out.push_back(std::to_string(i));
  return out;
}

TEST(QueueTest, OneConsumerKeepsTheOrder) {
  RouteHarness h(2);
  h.load(RouteHarness::table(
      R"(<route id="r"><from uri="queue:q?consumers=1"/><to uri="mock:out?delay=1ms"/></route>)"));
  for (const auto& body : numbered(1, 50)) {
    auto exchange = h.sendBody("queue:q", body, std::string(media::text));
    ASSERT_TRUE(exchange);
    ASSERT_FALSE(exchange->failed());
  }
  ASSERT_TRUE(h.mock("out").waitFor(50));
  EXPECT_EQ(h.mock("out").bodies(), numbered(1, 50));
  EXPECT_EQ(h.mock("out").maxActive(), 1);
}

TEST(QueueTest, SeveralConsumersWorkAtTheSameTimeUpToTheirNumber) {
  RouteHarness h(4);
  h.load(RouteHarness::table(
      R"(<route id="r"><from uri="queue:q?consumers=3"/><to uri="mock:out?gate=true"/></route>)"));
  for (const auto& body : numbered(1, 5))
    ASSERT_TRUE(h.sendBody("queue:q", body, std::string(media::text)));
  auto& out = h.mock("out");
  ASSERT_TRUE(out.waitFor(3));
  EXPECT_FALSE(out.waitFor(4, 150ms)) << "a fourth message started with three consumers busy";
  EXPECT_EQ(out.maxActive(), 3);
  out.openGate();
  ASSERT_TRUE(out.waitFor(5));
  auto bodies = out.bodies();
  std::sort(bodies.begin(), bodies.end());
  EXPECT_EQ(bodies, numbered(1, 5));
}

TEST(QueueTest, ProducerIsDoneOnceTheMessageIsQueued) {
  RouteHarness h;
  h.load(RouteHarness::table(
      R"(<route id="r"><from uri="queue:q"/><to uri="mock:out?gate=true"/></route>)"));
  auto first = h.sendBody("queue:q", "1", std::string(media::text));
  ASSERT_TRUE(first);
  EXPECT_FALSE(first->failed());
  // The producer is done although the consuming route is still busy with the message.
  ASSERT_TRUE(h.mock("out").waitFor(1));
  const auto status = h.bus().status();
  ASSERT_EQ(status.size(), 1u);
  EXPECT_EQ(status[0].stats.in_flight, 1u);
  h.mock("out").openGate();
}

TEST(QueueTest, FullQueueRejectsWhenToldTo) {
  RouteHarness h;
  h.load(RouteHarness::table(R"(<endpoint id="q" uri="queue:q?capacity=2&amp;when-full=reject"/>
      <route id="producer"><from uri="direct:in"/><to ref="q"/></route>
      <route id="consumer"><from ref="q"/><to uri="mock:out?gate=true"/></route>)"));
  // The first message is taken by the (held) consumer; two more fill the queue.
  ASSERT_FALSE(h.sendBody("direct:in", "1", std::string(media::text))->failed());
  ASSERT_TRUE(h.mock("out").waitFor(1));
  ASSERT_FALSE(h.sendBody("direct:in", "2", std::string(media::text))->failed());
  ASSERT_FALSE(h.sendBody("direct:in", "3", std::string(media::text))->failed());
  auto rejected = h.sendBody("direct:in", "4", std::string(media::text));
  ASSERT_TRUE(rejected);
  ASSERT_TRUE(rejected->failed());
  EXPECT_EQ(rejected->error->kind, ErrorKind::rejected);
  EXPECT_NE(rejected->error->message.find("queue:q is full"), std::string::npos)
      << rejected->error->message;
  h.mock("out").openGate();
  ASSERT_TRUE(h.mock("out").waitFor(3));
  EXPECT_FALSE(h.mock("out").waitFor(4, 100ms));
  EXPECT_EQ(h.mock("out").bodies(), numbered(1, 3));
}

TEST(QueueTest, FullQueueParksTheProducerUntilSpaceFrees) {
  RouteHarness h(2);
  h.load(RouteHarness::table(R"(<endpoint id="q" uri="queue:q?capacity=2&amp;when-full=block"/>
      <route id="producer"><from uri="direct:in"/><to ref="q"/><to uri="mock:sent"/></route>
      <route id="consumer"><from ref="q"/><to uri="mock:out?gate=true"/></route>)"));
  for (const auto& body : numbered(1, 3))
    ASSERT_FALSE(h.sendBody("direct:in", body, std::string(media::text))->failed());
  ASSERT_TRUE(h.mock("out").waitFor(1));
  ASSERT_EQ(h.mock("sent").count(), 3u);
  // The queue is full: the next producers are parked, not failed and not lost.
  auto more = std::async(std::launch::async, [&] {
    std::vector<ExchangePtr> results;
    for (const auto& body : numbered(4, 8))
      results.push_back(h.sendBody("direct:in", body, std::string(media::text)));
    return results;
  });
  EXPECT_EQ(more.wait_for(200ms), std::future_status::timeout)
      << "a producer of a full queue was not parked";
  EXPECT_EQ(h.mock("sent").count(), 3u);
  h.mock("out").openGate();
  ASSERT_EQ(more.wait_for(5s), std::future_status::ready);
  for (const auto& e : more.get()) {
    ASSERT_TRUE(e);
    EXPECT_FALSE(e->failed());
  }
  ASSERT_TRUE(h.mock("out").waitFor(8));
  EXPECT_EQ(h.mock("out").bodies(), numbered(1, 8));
  EXPECT_EQ(h.mock("sent").bodies(), numbered(1, 8));
}

TEST(QueueTest, ManyParkedProducersLoseNothingAndKeepTheirOrder) {
  RouteHarness h(2);
  h.load(RouteHarness::table(R"(<endpoint id="q" uri="queue:q?capacity=1&amp;when-full=block"/>
      <route id="producer"><from uri="direct:in"/><split lines="true"><to ref="q"/></split></route>
      <route id="consumer"><from ref="q"/><to uri="mock:out?delay=2ms"/></route>)"));
  std::string body;
  for (const auto& n : numbered(1, 40)) body += n + "\n";
  auto exchange = h.sendBody("direct:in", body, std::string(media::text));
  ASSERT_TRUE(exchange);
  ASSERT_FALSE(exchange->failed());
  ASSERT_TRUE(h.mock("out").waitFor(40));
  EXPECT_EQ(h.mock("out").bodies(), numbered(1, 40));
}

TEST(QueueTest, LimitsGivenOnDifferentUrisAddUp) {
  // The endpoint sets the capacity; a route's URI for the same queue only says what to do
  // when it is full. Neither may undo what the other set.
  RouteHarness h;
  h.load(RouteHarness::table(R"(<endpoint id="q" uri="queue:q?capacity=2"/>
      <route id="producer"><from uri="direct:in"/><to uri="queue:q?when-full=reject"/></route>
      <route id="consumer"><from ref="q"/><to uri="mock:out?gate=true"/></route>)"));
  ASSERT_FALSE(h.sendBody("direct:in", "1", std::string(media::text))->failed());
  ASSERT_TRUE(h.mock("out").waitFor(1));
  ASSERT_FALSE(h.sendBody("direct:in", "2", std::string(media::text))->failed());
  ASSERT_FALSE(h.sendBody("direct:in", "3", std::string(media::text))->failed());
  auto rejected = h.sendBody("direct:in", "4", std::string(media::text));
  ASSERT_TRUE(rejected);
  ASSERT_TRUE(rejected->failed()) << "capacity=2 was forgotten";
  EXPECT_EQ(rejected->error->kind, ErrorKind::rejected);
  h.mock("out").openGate();
  ASSERT_TRUE(h.mock("out").waitFor(3));
}

// Offers a message to `uri` without waiting: the producer's own answer (true: done at
// once) and a future for its completion.
struct Offer {
  ExchangePtr exchange;
  bool finished_at_once = false;
  std::shared_ptr<std::promise<void>> done = std::make_shared<std::promise<void>>();
  std::future<void> future = done->get_future();
};

std::unique_ptr<Offer> offer(RouteHarness& h, const std::string& uri, const std::string& body) {
  auto producer = *(*h.context().components().resolve(uri))->createProducer();
  auto o = std::make_unique<Offer>();
  o->exchange = makeExchange(Message(Body::make(body, std::string(media::text))));
  o->finished_at_once = producer->process(o->exchange, [done = o->done] { done->set_value(); });
  if (o->finished_at_once) o->done->set_value();
  return o;
}

TEST(QueueTest, ParkedProducersAreNotOvertakenBySmallerMessages) {
  RouteHarness h(2);
  h.load(RouteHarness::table(R"(<endpoint id="q" uri="queue:q?max-bytes=10&amp;when-full=block"/>
      <route id="consumer"><from ref="q"/><to uri="mock:out?gate=true"/></route>)"));
  auto first = offer(h, "queue:q", "11111");
  ASSERT_TRUE(first->finished_at_once);
  ASSERT_TRUE(h.mock("out").waitFor(1));  // taken by the consumer and held there
  auto second = offer(h, "queue:q", "22222222");
  ASSERT_TRUE(second->finished_at_once);  // 8 of 10 bytes
  auto third = offer(h, "queue:q", "33333333");
  EXPECT_FALSE(third->finished_at_once) << "16 bytes do not fit: the producer is parked";
  // One byte would fit, but a parked producer was there first.
  auto fourth = offer(h, "queue:q", "4");
  EXPECT_FALSE(fourth->finished_at_once);
  h.mock("out").openGate();
  EXPECT_EQ(third->future.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(fourth->future.wait_for(5s), std::future_status::ready);
  ASSERT_TRUE(h.mock("out").waitFor(4));
  EXPECT_EQ(h.mock("out").bodies(),
            (std::vector<std::string>{"11111", "22222222", "33333333", "4"}));
}

TEST(QueueTest, MaxBytesBoundsTheQueue) {
  RouteHarness h;
  h.load(RouteHarness::table(R"(<endpoint id="q" uri="queue:q?max-bytes=10&amp;when-full=reject"/>
      <route id="producer"><from uri="direct:in"/><to ref="q"/></route>
      <route id="consumer"><from ref="q"/><to uri="mock:out?gate=true"/></route>)"));
  ASSERT_FALSE(h.sendBody("direct:in", "0123456789abcdef", std::string(media::text))->failed());
  ASSERT_TRUE(h.mock("out").waitFor(1));
  // An empty queue takes a message larger than max-bytes (else it could never pass)...
  ASSERT_FALSE(h.sendBody("direct:in", "0123456789abcdef", std::string(media::text))->failed());
  // ...but no more once it holds bytes.
  auto rejected = h.sendBody("direct:in", "12345", std::string(media::text));
  ASSERT_TRUE(rejected);
  ASSERT_TRUE(rejected->failed());
  EXPECT_EQ(rejected->error->kind, ErrorKind::rejected);
  h.mock("out").openGate();
  ASSERT_TRUE(h.mock("out").waitFor(2));
}

TEST(QueueTest, InOutWaitsForTheConsumingRoutesResult) {
  RouteHarness h;
  h.load(RouteHarness::table(
      R"(<route id="caller"><from uri="direct:in"/><to uri="queue:svc" pattern="in-out"/><to uri="mock:after"/></route>
      <route id="svc"><from uri="queue:svc"/><to uri="mock:work?delay=20ms"/><set-body media-type="text/plain">done ${body}</set-body></route>)"));
  auto exchange = h.sendBody("direct:in", "job", std::string(media::text));
  ASSERT_TRUE(exchange);
  ASSERT_FALSE(exchange->failed());
  EXPECT_EQ(h.mock("after").bodies(), std::vector<std::string>{"done job"});
}

TEST(QueueTest, ConsumingRouteFailureDoesNotFailAnInOnlyProducer) {
  RouteHarness h;
  h.load(RouteHarness::table(
      R"(<route id="r"><from uri="queue:q"/><to uri="mock:down?fail=1"/></route>)"));
  auto exchange = h.sendBody("queue:q", "{}");
  ASSERT_TRUE(exchange);
  EXPECT_FALSE(exchange->failed());
  // ...but an in-out producer is told.
  RouteHarness h2;
  h2.load(RouteHarness::table(
      R"(<route id="r"><from uri="queue:q"/><to uri="mock:down?fail=1&amp;fail-kind=permanent"/></route>)"));
  auto in_out = h2.send("queue:q", Message(), ExchangePattern::in_out);
  ASSERT_TRUE(in_out);
  ASSERT_TRUE(in_out->failed());
  EXPECT_EQ(in_out->error->kind, ErrorKind::permanent);
}

TEST(QueueTest, OptionValuesAreChecked) {
  RouteHarness h;
  auto& registry = h.context().components();
  auto zero = registry.resolve("queue:q?capacity=0");
  ASSERT_FALSE(zero.ok());
  EXPECT_NE(zero.error().message.find("capacity"), std::string::npos);
  auto consumers = registry.resolve("queue:q?consumers=0");
  ASSERT_FALSE(consumers.ok());
  auto nameless = registry.resolve("queue:");
  ASSERT_FALSE(nameless.ok());
  EXPECT_NE(nameless.error().message.find("needs a name"), std::string::npos);
}

}  // namespace
}  // namespace busway::testing
