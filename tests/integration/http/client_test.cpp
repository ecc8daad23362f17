// The http plugin as a client: a second bus calling the first, and a real Python peer
// that answers errors, so that retries and dead letters are visible.
#include <string>

#include "http_fixture.hpp"

namespace busway::testing::http {
namespace {

TEST(HttpClient, SecondBusCallsTheFirst) {
  TempDir dir;
  const int port_a = freePort();
  const int port_b = freePort();
  Bus a(dir, "a",
        R"(
  <route id="orders">
    <from uri="http:127.0.0.1:)" +
            std::to_string(port_a) + R"(/orders/{id}?methods=PUT"/>
    <log message="A got ${header.http.method} ${header.http.path} trace=${header.http.header.x-trace} ${body}"/>
    <set-header name="http.response.header.X-Handled-By" constant="bus-a"/>
    <set-body media-type="application/json">{"id": "${header.http.param.id}", "handled": true}</set-body>
  </route>)");
  Bus b(dir, "b",
        R"(
  <route id="front">
    <from uri="http:127.0.0.1:)" +
            std::to_string(port_b) + R"(/in/{id}"/>
    <set-header name="http.request.header.X-Trace" constant="from-b"/>
    <to uri="http://127.0.0.1:)" +
            std::to_string(port_a) +
            R"(/orders/${header.http.param.id}?method=PUT" pattern="in-out"/>
    <log message="B got ${header.http.status} from ${header.http.header.x-handled-by}: ${body}"/>
  </route>)");
  ASSERT_TRUE(a.ready()) << a.output();
  ASSERT_TRUE(b.ready()) << b.output();

  for (int i = 1; i <= 3; ++i) {  // the second and third reuse the pooled connection
    const std::string id = "o-" + std::to_string(i);
    const Answer answer = curl({"-X", "POST", "-H", "Content-Type: application/json",
                                "--data-binary", R"({"n":)" + std::to_string(i) + "}"},
                               url(port_b, "/in/" + id));
    EXPECT_EQ(answer.status, 200) << answer.headers << a.output() << b.output();
    EXPECT_EQ(answer.body, R"({"id": ")" + id + R"(", "handled": true})");
    EXPECT_TRUE(
        a.waitFor("A got PUT /orders/" + id + " trace=from-b {\"n\":" + std::to_string(i) + "}"))
        << a.output();
    EXPECT_TRUE(b.waitFor("B got 200 from bus-a: {\"id\": \"" + id + "\"")) << b.output();
  }
}

TEST(HttpClient, TransientAnswersAreRetriedUntilTheyPass) {
  TempDir dir;
  PythonPeer peer(dir, 2, 503);  // 503, 503, then 200
  ASSERT_TRUE(peer.ready());
  Bus bus(dir, "bus",
          R"(
  <route id="notify">
    <error-handler max-attempts="5" delay="100ms" backoff="1.0" jitter="0" retry-on="transient" dead-letter-uri="log:dead?show-headers=true"/>
    <from uri="timer:once?period=1h&amp;count=1"/>
    <set-body media-type="application/json">{"event": "paid"}</set-body>
    <set-header name="http.request.header.X-Trace" constant="t-42"/>
    <to uri="http://127.0.0.1:)" +
              std::to_string(peer.port()) + R"(/hooks/paid"/>
    <log message="delivered after ${header.busway.attempt} attempts"/>
  </route>)");
  ASSERT_TRUE(bus.ready()) << bus.output();
  ASSERT_TRUE(bus.waitFor("delivered after 3 attempts")) << bus.output() << peer.requests();
  EXPECT_EQ(peer.requestCount(), 3U) << peer.requests();
  EXPECT_EQ(count(peer.requests(), "POST /hooks/paid trace=t-42 {\"event\": \"paid\"}"), 3U)
      << peer.requests();
  EXPECT_FALSE(contains(bus.output(), "dead letter")) << bus.output();
}

TEST(HttpClient, PermanentAnswerGoesToTheDeadLetterAtOnce) {
  TempDir dir;
  PythonPeer peer(dir, 1000, 422);
  ASSERT_TRUE(peer.ready());
  Bus bus(dir, "bus",
          R"(
  <route id="notify">
    <error-handler max-attempts="5" delay="100ms" jitter="0" retry-on="transient" dead-letter-uri="log:dead?show-headers=true"/>
    <from uri="timer:once?period=1h&amp;count=1"/>
    <set-body media-type="application/json">{"event": "bad"}</set-body>
    <to uri="http://127.0.0.1:)" +
              std::to_string(peer.port()) + R"(/hooks/bad"/>
    <log message="should not be delivered"/>
  </route>)");
  ASSERT_TRUE(bus.ready()) << bus.output();
  ASSERT_TRUE(bus.waitFor("sent to dead letter")) << bus.output();
  // The status is in the failure reason the dead letter carries.
  EXPECT_TRUE(bus.waitFor("answered 422")) << bus.output();
  EXPECT_TRUE(contains(bus.output(), "after 1 attempt(s)")) << bus.output();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(peer.requestCount(), 1U) << peer.requests();
  EXPECT_FALSE(contains(bus.output(), "should not be delivered"));
}

TEST(HttpClient, TheStatusOfAFailedCallIsAHeaderACatchCanRead) {
  TempDir dir;
  PythonPeer peer(dir, 1000, 409);
  ASSERT_TRUE(peer.ready());
  Bus bus(dir, "bus",
          R"(
  <route id="notify">
    <from uri="timer:once?period=1h&amp;count=1"/>
    <set-body media-type="application/json">{"event": "taken"}</set-body>
    <try>
      <to uri="http://127.0.0.1:)" +
                  std::to_string(peer.port()) + R"(/hooks/taken"/>
      <catch on="permanent">
        <log message="the peer said ${header.http.status} (${header.busway.failure.kind})" /
              > </ catch></ try></ route>) ");
      ASSERT_TRUE(bus.ready())
      << bus.output();
  EXPECT_TRUE(bus.waitFor("the peer said 409 (permanent)")) << bus.output();
}

TEST(HttpClient, ExhaustedRetriesAndRefusedConnectionsEndInTheDeadLetter) {
  TempDir dir;
  PythonPeer peer(dir, 1000, 503);
  ASSERT_TRUE(peer.ready());
  const int closed_port = freePort();
  Bus bus(dir, "bus",
          R"(
  <route id="busy-peer">
    <error-handler max-attempts="3" delay="100ms" backoff="1.0" jitter="0" retry-on="transient" dead-letter-uri="log:dead-busy?show-headers=true"/>
    <from uri="timer:busy?period=1h&amp;count=1"/>
    <set-body media-type="application/json">{"event": "busy"}</set-body>
    <to uri="http://127.0.0.1:)" +
              std::to_string(peer.port()) + R"(/hooks/busy"/>
  </route>
  <route id="no-peer">
    <error-handler max-attempts="2" delay="100ms" jitter="0" retry-on="transient" dead-letter-uri="log:dead-refused?show-headers=true"/>
    <from uri="timer:refused?period=1h&amp;count=1"/>
    <to uri="http://127.0.0.1:)" +
              std::to_string(closed_port) + R"(/hooks/none?connect-timeout=2s"/>
  </route>)");
  ASSERT_TRUE(bus.ready()) << bus.output();
  ASSERT_TRUE(bus.waitForCount("sent to dead letter", 2)) << bus.output();
  EXPECT_EQ(peer.requestCount(), 3U) << peer.requests();
  EXPECT_TRUE(contains(bus.output(), "answered 503")) << bus.output();
  EXPECT_TRUE(contains(bus.output(), "connection refused")) << bus.output();
  EXPECT_TRUE(contains(bus.output(), "after 3 attempt(s)")) << bus.output();
  EXPECT_TRUE(contains(bus.output(), "after 2 attempt(s)")) << bus.output();
}

TEST(HttpClient, SlowPeerTimesOutAsTransient) {
  TempDir dir;
  PythonPeer peer(dir, 0, 200, 3000);  // answers 200, but only after 3 s
  ASSERT_TRUE(peer.ready());
  Bus bus(dir, "bus",
          R"(
  <route id="slow">
    <error-handler max-attempts="2" delay="100ms" jitter="0" retry-on="transient" dead-letter-uri="log:dead-slow?show-headers=true"/>
    <from uri="timer:slow?period=1h&amp;count=1"/>
    <to uri="http://127.0.0.1:)" +
              std::to_string(peer.port()) + R"(/slow?timeout=500ms"/>
    <log message="slow peer answered in time"/>
  </route>)");
  ASSERT_TRUE(bus.ready()) << bus.output();
  ASSERT_TRUE(bus.waitFor("sent to dead letter")) << bus.output();
  EXPECT_TRUE(contains(bus.output(), "no answer within 500ms")) << bus.output();
  EXPECT_TRUE(contains(bus.output(), "after 2 attempt(s)")) << bus.output();
  EXPECT_FALSE(contains(bus.output(), "slow peer answered in time"));
}

}  // namespace
}  // namespace busway::testing::http
