// The store under SIGKILL: a durable route under continuous load is killed at random points
// and restarted; every message the bus acknowledged to its sender must arrive at least once.
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>

#include <gtest/gtest.h>

#include "store_support.hpp"

namespace busway::testing::store {
namespace {

std::string durableTable(int port, const std::string& out, bool with_egress = true,
                         const std::string& sink_options = {}) {
  std::string table = R"(<routes xmlns="urn:busway:routes:1" version="1">
  <route id="ingress">
    <from uri="linetest:in?port=)" +
                      std::to_string(port) + R"("/>
    <to uri="queue:work?durable=true"/>
  </route>
)";
  if (with_egress) {
    table += R"(  <route id="egress">
    <from uri="queue:work?durable=true&amp;consumers=4&amp;retry-delay=200ms"/>
    <to uri="linetest:out?file=)" +
             out + sink_options + R"("/>
  </route>
)";
  }
  return table + "</routes>\n";
}

TEST(StoreCrash, AcknowledgedMessagesSurviveTenRandomSigkills) {
  TempDir tmp;
  const int port = freePort();
  const std::string out = tmp.file("out.txt");
  const std::string table = tmp.write("routes.xml", durableTable(port, out));
  const std::string data = tmp.file("data");
  const unsigned seed = std::random_device{}();
  std::mt19937 random(seed);
  std::cout << "[ crash    ] seed " << seed << "\n";

  std::set<std::string> acked;
  std::uint64_t next = 0;
  constexpr int kKills = 10;
  for (int round = 0; round < kKills; ++round) {
    ChildProcess bus;
    ASSERT_TRUE(bus.start(runArgs(table, data), tmp.path()));
    LineClient client;
    ASSERT_TRUE(client.connect(port)) << bus.err();
    std::atomic<bool> stop{false};
    std::uint64_t sent = 0;
    std::thread sender([&] {
      while (!stop && client.alive()) {
        // Keep at most 256 unanswered lines in flight, as a pipelining sender would.
        if (sent - client.answered() > 256) {
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
          continue;
        }
        const std::string id = "m" + std::to_string(next++);
        if (!client.send(id, id)) break;
        ++sent;
      }
    });
    // Kill at a random point: sometimes before much has happened, sometimes under full load.
    std::uniform_int_distribution<int> wait(150, 1500);
    std::this_thread::sleep_for(std::chrono::milliseconds(wait(random)));
    bus.signal(SIGKILL);
    ASSERT_TRUE(bus.wait(std::chrono::seconds(20)).has_value());
    stop = true;
    sender.join();
    client.close();
    const auto got = client.acked();
    acked.insert(got.begin(), got.end());
    std::cout << "[ crash    ] round " << round + 1 << ": sent " << sent << ", acknowledged "
              << got.size() << "\n";
  }
  ASSERT_GT(acked.size(), 100U) << "the load was too light to mean anything";

  // The last start delivers everything that was stored and not yet handled.
  ChildProcess bus;
  ASSERT_TRUE(bus.start(runArgs(table, data), tmp.path()));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  std::set<std::string> missing;
  std::vector<std::string> lines;
  for (;;) {
    lines = readLines(out);
    const std::set<std::string> delivered(lines.begin(), lines.end());
    missing.clear();
    for (const auto& id : acked)
      if (delivered.count(id) == 0) missing.insert(id);
    if (missing.empty() || std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  const std::set<std::string> unique(lines.begin(), lines.end());
  std::cout << "[ crash    ] " << kKills << " kills: " << acked.size() << " acknowledged, "
            << lines.size() << " deliveries of " << unique.size() << " distinct messages, "
            << lines.size() - unique.size() << " duplicate(s), " << missing.size()
            << " acknowledged message(s) missing\n";
  EXPECT_TRUE(missing.empty()) << "first missing: " << *missing.begin() << "\n" << bus.err();
  EXPECT_EQ(bus.stop(), 0) << bus.err();
}

TEST(StoreCrash, CorruptTailIsReportedAndEverythingBeforeItRecovered) {
  TempDir tmp;
  const int port = freePort();
  const std::string out = tmp.file("out.txt");
  const std::string data = tmp.file("data");
  // First only the ingress: messages stay in the store.
  const std::string ingress = tmp.write("ingress.xml", durableTable(port, out, false));
  {
    ChildProcess bus;
    ASSERT_TRUE(bus.start(runArgs(ingress, data), tmp.path()));
    LineClient client;
    ASSERT_TRUE(client.connect(port)) << bus.err();
    for (int i = 0; i < 50; ++i)
      ASSERT_TRUE(client.send("c" + std::to_string(i), "c" + std::to_string(i)));
    ASSERT_TRUE(client.waitAnswers(50, std::chrono::seconds(60))) << bus.err();
    ASSERT_EQ(client.acked().size(), 50U);
    bus.signal(SIGKILL);
    bus.wait(std::chrono::seconds(20));
  }
  // Damage the last 10 bytes of the newest non-empty segment: the last record is lost.
  std::filesystem::path last;
  for (const auto& e : std::filesystem::directory_iterator(data + "/queues")) {
    if (e.path().extension() == ".seg" && std::filesystem::file_size(e.path()) > 0 &&
        e.path() > last)
      last = e.path();
  }
  ASSERT_FALSE(last.empty());
  const auto size = std::filesystem::file_size(last);
  {
    std::fstream io(last, std::ios::in | std::ios::out | std::ios::binary);
    io.seekp(static_cast<std::streamoff>(size - 10));
    io.write("XXXXXXXXXX", 10);
  }
  const auto verify = runCommand({BUSWAY_EXE, "store", "verify", "--data-dir", data});
  EXPECT_EQ(verify.exit_code, 1) << verify.out << verify.err;
  EXPECT_NE(verify.out.find(last.string()), std::string::npos) << verify.out;
  EXPECT_NE(verify.out.find("49 unacknowledged"), std::string::npos) << verify.out;

  // Start with the consuming route: the 49 intact messages arrive, the damage is logged.
  const std::string both = tmp.write("both.xml", durableTable(port, out));
  ChildProcess bus;
  ASSERT_TRUE(bus.start(runArgs(both, data), tmp.path()));
  ASSERT_TRUE(bus.waitForOutput("damaged byte(s)", std::chrono::seconds(30))) << bus.err();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (readLines(out).size() < 49 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const auto lines = readLines(out);
  ASSERT_EQ(lines.size(), 49U) << bus.err();
  // The source hands lines to the pool concurrently, so the store's order (and which message
  // was last, in the damaged record) is not the send order: 49 distinct messages of the 50.
  const std::set<std::string> distinct(lines.begin(), lines.end());
  EXPECT_EQ(distinct.size(), 49U);
  for (const auto& line : distinct) {
    EXPECT_TRUE(line.size() > 1 && line[0] == 'c' && std::stoi(line.substr(1)) < 50) << line;
  }
  EXPECT_NE(bus.err().find(last.string() + ": offset "), std::string::npos) << bus.err();
  EXPECT_EQ(bus.stop(), 0) << bus.err();
  // Start-up cut the torn tail: the store reads clean now.
  const auto again = runCommand({BUSWAY_EXE, "store", "verify", "--data-dir", data});
  EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
}

TEST(StoreLimits, FullStoreRefusesAndTheSenderSeesAFailure) {
  TempDir tmp;
  const int port = freePort();
  const std::string table = tmp.write("routes.xml", durableTable(port, tmp.file("out.txt"), false));
  ChildProcess bus;
  ASSERT_TRUE(
      bus.start(runArgs(table, tmp.file("data"), {"--store-max-messages", "5"}), tmp.path()));
  LineClient client;
  ASSERT_TRUE(client.connect(port)) << bus.err();
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(client.send("f" + std::to_string(i), "x"));
    ASSERT_TRUE(client.waitAnswers(static_cast<std::size_t>(i + 1), std::chrono::seconds(30)))
        << bus.err();
  }
  EXPECT_EQ(client.acked().size(), 5U);
  const auto nacked = client.nacked();
  ASSERT_EQ(nacked.size(), 3U);
  EXPECT_NE(nacked.at("f7").find("is full"), std::string::npos) << nacked.at("f7");
  EXPECT_EQ(bus.stop(), 0) << bus.err();
}

TEST(StoreRecovery, RestartResumesMessagesWaitingForRedelivery) {
  TempDir tmp;
  const int port = freePort();
  const std::string out = tmp.file("out.txt");
  const std::string data = tmp.file("data");
  // The sink fails every time: the message waits in the store for its next delivery.
  const std::string failing =
      tmp.write("failing.xml", durableTable(port, out, true, "&amp;fail-first=1000000"));
  {
    ChildProcess bus;
    ASSERT_TRUE(bus.start(runArgs(failing, data), tmp.path()));
    LineClient client;
    ASSERT_TRUE(client.connect(port)) << bus.err();
    ASSERT_TRUE(client.send("r1", "r1"));
    ASSERT_TRUE(client.waitAnswers(1, std::chrono::seconds(30)));
    ASSERT_EQ(client.acked().size(), 1U);
    ASSERT_TRUE(bus.waitForOutput("delivered again", std::chrono::seconds(30))) << bus.err();
    EXPECT_EQ(bus.stop(), 0) << bus.err();  // a graceful stop keeps it in the store
  }
  EXPECT_TRUE(readLines(out).empty());
  const std::string working = tmp.write("working.xml", durableTable(port, out));
  ChildProcess bus;
  ASSERT_TRUE(bus.start(runArgs(working, data), tmp.path()));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (readLines(out).empty() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(readLines(out), std::vector<std::string>{"r1"}) << bus.err();
  EXPECT_NE(bus.err().find("resuming 1 stored message"), std::string::npos) << bus.err();
  EXPECT_EQ(bus.stop(), 0) << bus.err();
}

}  // namespace
}  // namespace busway::testing::store
