// Dead letters in the store, the `busway dlq` commands against a running and a stopped bus,
// and the idempotent receiver's keys across a restart.
#include <gtest/gtest.h>

#include "store_support.hpp"

namespace busway::testing::store {
namespace {

std::string dlqTable(int port, const std::string& out) {
  return R"(<routes xmlns="urn:busway:routes:1" version="1">
  <route id="ingress">
    <error-handler max-attempts="2" delay="50ms" dead-letter-uri="dlq:failed"/>
    <from uri="linetest:in?port=)" +
         std::to_string(port) + R"("/>
    <to uri="linetest:out?file=)" +
         out + R"(&amp;fail-first=3&amp;fail-kind=permanent"/>
  </route>
  <route id="replays">
    <from uri="dlq:failed?poll=200ms"/>
    <to uri="linetest:replayed?file=)" +
         out + R"("/>
  </route>
</routes>
)";
}

CommandResult dlq(const std::string& data, std::vector<std::string> args) {
  std::vector<std::string> argv{BUSWAY_EXE, "dlq"};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back("--data-dir");
  argv.push_back(data);
  return runCommand(argv);
}

// Runs `busway dlq list` until its output contains `text` (a replay deletes its dead letter
// just after the route finished).
CommandResult waitList(const std::string& data, const std::string& text) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (;;) {
    auto r = dlq(data, {"list"});
    if (r.out.find(text) != std::string::npos || std::chrono::steady_clock::now() > deadline)
      return r;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

bool waitLines(const std::string& path, std::size_t n, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (readLines(path).size() < n) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

TEST(StoreDeadLetters, ListShowReplayPurgeOnARunningAndAStoppedBus) {
  TempDir tmp;
  const int port = freePort();
  const std::string out = tmp.file("out.txt");
  const std::string data = tmp.file("data");
  const std::string table = tmp.write("routes.xml", dlqTable(port, out));
  {
    ChildProcess bus;
    ASSERT_TRUE(bus.start(runArgs(table, data), tmp.path()));
    LineClient client;
    ASSERT_TRUE(client.connect(port)) << bus.err();
    // The sink refuses the first three sends for good: three dead letters.
    // One at a time, so that dead letters 1, 2, 3 are a, b, c (the source delivers concurrently).
    std::size_t answered = 0;
    for (const char* id : {"a", "b", "c"}) {
      ASSERT_TRUE(client.send(id, std::string("body-") + id));
      ASSERT_TRUE(client.waitAnswers(++answered, std::chrono::seconds(30))) << bus.err();
    }
    // Safe in the dead-letter store: the sender was told they were handled.
    EXPECT_EQ(client.acked().size(), 3U) << bus.err();

    const auto list = dlq(data, {"list"});
    ASSERT_EQ(list.exit_code, 0) << list.err;
    EXPECT_NE(list.out.find("3 dead letter(s)"), std::string::npos) << list.out;
    EXPECT_NE(list.out.find("route=ingress"), std::string::npos) << list.out;
    EXPECT_NE(list.out.find("kind=permanent"), std::string::npos) << list.out;

    const auto show = dlq(data, {"show", "1"});
    ASSERT_EQ(show.exit_code, 0) << show.err;
    EXPECT_NE(show.out.find("body-a"), std::string::npos) << show.out;
    EXPECT_NE(show.out.find("refuses (permanent)"), std::string::npos) << show.out;
    EXPECT_NE(show.out.find("busway.failure.history"), std::string::npos) << show.out;
    EXPECT_EQ(dlq(data, {"show", "99"}).exit_code, 1);

    // Replay on the running bus: the route reading dlq:failed gets it within its poll.
    const auto replay = dlq(data, {"replay", "1"});
    EXPECT_EQ(replay.exit_code, 0) << replay.err;
    ASSERT_TRUE(waitLines(out, 1, std::chrono::seconds(30))) << bus.err();
    EXPECT_EQ(readLines(out), std::vector<std::string>{"body-a"});
    const auto after = waitList(data, "2 dead letter(s)");
    EXPECT_NE(after.out.find("2 dead letter(s)"), std::string::npos) << after.out;
    EXPECT_EQ(bus.stop(), 0) << bus.err();
  }
  // On the stopped bus: mark one for replay (it goes at the next start), purge the other.
  EXPECT_EQ(dlq(data, {"replay", "2"}).exit_code, 0);
  const auto purge = dlq(data, {"purge", "3"});
  EXPECT_EQ(purge.exit_code, 0) << purge.err;
  EXPECT_NE(purge.out.find("1 dead letter(s) purged"), std::string::npos) << purge.out;
  const auto stopped_list = dlq(data, {"list"});
  EXPECT_NE(stopped_list.out.find("replay"), std::string::npos) << stopped_list.out;
  ChildProcess bus;
  ASSERT_TRUE(bus.start(runArgs(table, data), tmp.path()));
  ASSERT_TRUE(waitLines(out, 2, std::chrono::seconds(30))) << bus.err();
  EXPECT_EQ(readLines(out)[1], "body-b");
  const auto empty = waitList(data, "0 dead letter(s)");
  EXPECT_NE(empty.out.find("0 dead letter(s)"), std::string::npos) << empty.out;
  EXPECT_EQ(bus.stop(), 0) << bus.err();
  EXPECT_EQ(dlq(data, {"replay"}).exit_code, 2);  // neither ids nor --all
}

TEST(StoreIdempotent, DuplicatesAreDroppedAcrossARestart) {
  TempDir tmp;
  const int port = freePort();
  const std::string out = tmp.file("out.txt");
  const std::string data = tmp.file("data");
  const std::string table = tmp.write("routes.xml",
                                      R"(<routes xmlns="urn:busway:routes:1" version="1">
  <route id="orders">
    <from uri="linetest:in?port=)" + std::to_string(port) +
                                          R"("/>
    <idempotent header="linetest.id" expire="1h"/>
    <to uri="linetest:out?file=)" + out + R"("/>
  </route>
</routes>
)");
  {
    ChildProcess bus;
    ASSERT_TRUE(bus.start(runArgs(table, data), tmp.path()));
    LineClient client;
    ASSERT_TRUE(client.connect(port)) << bus.err();
    ASSERT_TRUE(client.send("o1", "first"));
    ASSERT_TRUE(client.waitAnswers(1, std::chrono::seconds(30)));
    ASSERT_TRUE(client.send("o1", "again"));
    ASSERT_TRUE(client.send("o2", "second"));
    ASSERT_TRUE(
        client.waitAnswers(2, std::chrono::seconds(30)));  // o1 answered twice, counted once
    ASSERT_TRUE(waitLines(out, 2, std::chrono::seconds(30))) << bus.err();
    EXPECT_EQ(bus.stop(), 0) << bus.err();
  }
  ChildProcess bus;
  ASSERT_TRUE(bus.start(runArgs(table, data), tmp.path()));
  LineClient client;
  ASSERT_TRUE(client.connect(port)) << bus.err();
  ASSERT_TRUE(client.send("o1", "after-restart"));
  ASSERT_TRUE(client.send("o3", "third"));
  ASSERT_TRUE(client.waitAnswers(2, std::chrono::seconds(30)));
  EXPECT_EQ(client.acked().size(), 2U);  // a duplicate is acknowledged: dropped on purpose
  ASSERT_TRUE(waitLines(out, 3, std::chrono::seconds(30))) << bus.err();
  EXPECT_EQ(readLines(out), (std::vector<std::string>{"first", "second", "third"}));
  EXPECT_EQ(bus.stop(), 0) << bus.err();
}

}  // namespace
}  // namespace busway::testing::store
