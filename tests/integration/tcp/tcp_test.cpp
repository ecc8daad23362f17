// The tcp plugin against the real busway binary, with peers written here on plain sockets:
// MLLP with an ACK the route builds, newline and length-prefixed framing, one-way mode, 50
// concurrent connections, broken frames that close only their own connection, failures
// answered with AE or a close, a bus-to-bus request-reply, and a client that reconnects
// after its server restarts.
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "child_process.hpp"
#include "servers/server_support.hpp"

namespace busway::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const std::string kBusway = BUSWAY_EXE;
const std::string kHl7 =
    "MSH|^~\\&|LAB|NORTH|BUS|HOSP|20261201120000||ORU^R01|MSG00042|P|2.5\rPID|1||123^^^H\r";

std::string mllp(const std::string& payload) { return "\x0b" + payload + "\x1c\r"; }

std::string lengthPrefixed(const std::string& payload, int size) {
  std::string out;
  for (int i = size - 1; i >= 0; --i) out += static_cast<char>((payload.size() >> (8 * i)) & 0xFF);
  return out + payload;
}

std::string readFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 60s) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (condition()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return condition();
}

int lines(const std::string& text) {
  int n = 0;
  for (const char c : text) n += c == '\n' ? 1 : 0;
  return n;
}

// A peer on plain sockets.
class Peer {
 public:
  explicit Peer(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
  }
  ~Peer() { ::close(fd_); }
  Peer(const Peer&) = delete;
  Peer& operator=(const Peer&) = delete;

  bool connected() const { return connected_; }
  bool send(const std::string& bytes) {
    std::size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return false;
      done += static_cast<std::size_t>(n);
    }
    return true;
  }

  // Frames are cut by `cut`: it returns {payload, bytes used} once buffer_ holds a frame.
  using Cut = std::function<std::optional<std::pair<std::string, std::size_t>>(const std::string&)>;
  std::optional<std::string> read(const Cut& cut, std::chrono::milliseconds timeout = 30s) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (auto frame = cut(buffer_)) {
        buffer_.erase(0, frame->second);
        return frame->first;
      }
      if (!fill(end)) return std::nullopt;
    }
  }
  std::optional<std::string> readMllp(std::chrono::milliseconds timeout = 30s) {
    return read(
        [](const std::string& b) -> std::optional<std::pair<std::string, std::size_t>> {
          const auto start = b.find('\x0b');
          const auto end = b.find("\x1c\r");
          if (start != 0 || end == std::string::npos) return std::nullopt;
          return std::make_pair(b.substr(1, end - 1), end + 2);
        },
        timeout);
  }
  std::optional<std::string> readLine(std::chrono::milliseconds timeout = 30s) {
    return read(
        [](const std::string& b) -> std::optional<std::pair<std::string, std::size_t>> {
          const auto end = b.find('\n');
          if (end == std::string::npos) return std::nullopt;
          return std::make_pair(b.substr(0, end), end + 1);
        },
        timeout);
  }
  std::optional<std::string> readLengthPrefixed(int size, std::chrono::milliseconds timeout = 30s) {
    return read(
        [size](const std::string& b) -> std::optional<std::pair<std::string, std::size_t>> {
          if (b.size() < static_cast<std::size_t>(size)) return std::nullopt;
          std::size_t length = 0;
          for (int i = 0; i < size; ++i) length = (length << 8) | static_cast<unsigned char>(b[i]);
          if (b.size() < size + length) return std::nullopt;
          return std::make_pair(b.substr(size, length), size + length);
        },
        timeout);
  }
  // True when the other side closes the connection within `timeout` (nothing else arrives).
  bool closedByPeer(std::chrono::milliseconds timeout = 30s) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (!closed_) {
      if (!fill(end)) break;
    }
    return closed_ && buffer_.empty();
  }

 private:
  bool fill(std::chrono::steady_clock::time_point end) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        end - std::chrono::steady_clock::now());
    if (left.count() <= 0 || closed_) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char chunk[65536];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) {
      closed_ = true;
      return false;
    }
    buffer_.append(chunk, static_cast<std::size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  bool closed_ = false;
  std::string buffer_;
};

class Bus {
 public:
  Bus(const TempDir& dir, const std::string& routes, const std::string& name,
      const std::string& ready)
      : name_(name) {
    const std::string table =
        dir.write(name, "<routes xmlns=\"urn:busway:routes:1\">\n" + routes + "\n</routes>\n");
    logs_ = dir.file("logs-" + name);
    fs::create_directories(logs_);
    table_ = table;
    EXPECT_TRUE(process_.start({kBusway, "run", table_}, logs_)) << "cannot start " << kBusway;
    EXPECT_TRUE(process_.waitForOutput(ready, 60s)) << process_.err();
  }
  ~Bus() { process_.stop(); }
  std::string log() const { return process_.out() + process_.err(); }
  ChildProcess& process() { return process_; }

 private:
  std::string name_;
  std::string logs_;
  std::string table_;
  ChildProcess process_;
};

std::string server(const std::string& id, int port, const std::string& options,
                   const std::string& steps) {
  return "  <route id=\"" + id + "\">\n    <from uri=\"tcp:127.0.0.1:" + std::to_string(port) +
         "?" + options + "\"/>\n" + steps + "\n  </route>\n";
}

TEST(TcpServer, MllpPeerGetsTheAckTheRouteBuilds) {
  TempDir dir;
  const int port = freePort();
  Bus bus(
      dir,
      server(
          "adt", port, "framing=mllp",
          R"(    <set-body>MSH|^~\&amp;|BUS|HOSP|${header.hl7.sending-application}|${header.hl7.sending-facility}|20261201120001||ACK^R01|ACK-${header.hl7.control-id}|P|2.5&#13;MSA|AA|${header.hl7.control-id}|from ${header.tcp.remote}&#13;</set-body>)"),
      "t.xml", "listening on");
  Peer peer(port);
  ASSERT_TRUE(peer.connected());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(peer.send(mllp(kHl7)));
    const auto ack = peer.readMllp();
    ASSERT_TRUE(ack) << bus.log();
    EXPECT_EQ(ack->rfind("MSH|^~\\&|BUS|HOSP|LAB|NORTH|", 0), 0u) << *ack;
    EXPECT_NE(ack->find("\rMSA|AA|MSG00042|from 127.0.0.1:"), std::string::npos) << *ack;
  }
}

TEST(TcpServer, NewlineAndLengthPrefixedFramingReplyInOrder) {
  TempDir dir;
  const int lines_port = freePort();
  const int length_port = freePort();
  Bus bus(dir,
          server("lines", lines_port, "framing=newline", "    <set-body>echo: ${body}</set-body>") +
              server("blocks", length_port, "framing=length-prefixed&amp;length-size=2",
                     "    <set-body>block of ${header.tcp.local}: ${body}</set-body>"),
          "t.xml", "routing table generation 1 running");
  Peer lines(lines_port);
  ASSERT_TRUE(lines.connected());
  ASSERT_TRUE(lines.send("one\r\ntwo\nthree\n"));  // pipelined: replies come in order
  EXPECT_EQ(lines.readLine(), "echo: one");
  EXPECT_EQ(lines.readLine(), "echo: two");
  EXPECT_EQ(lines.readLine(), "echo: three");
  Peer blocks(length_port);
  ASSERT_TRUE(blocks.connected());
  ASSERT_TRUE(blocks.send(lengthPrefixed("multi\nline", 2)));
  EXPECT_EQ(blocks.readLengthPrefixed(2),
            "block of 127.0.0.1:" + std::to_string(length_port) + ": multi\nline");
}

TEST(TcpServer, OneWayModeSendsNothingBack) {
  TempDir dir;
  const int port = freePort();
  const fs::path out = fs::path(dir.path()) / "out";
  Bus bus(dir,
          server("in", port, "framing=newline&amp;mode=one-way",
                 "    <to uri=\"file:" + out.string() +
                     "?file-name=got.txt&amp;append=true&amp;separator=\\n\"/>"),
          "t.xml", "listening on");
  Peer peer(port);
  ASSERT_TRUE(peer.send("a\nb\nc\n"));
  ASSERT_TRUE(eventually([&] { return lines(readFile(out / "got.txt")) == 3; })) << bus.log();
  EXPECT_EQ(readFile(out / "got.txt"), "a\nb\nc\n");
  EXPECT_FALSE(peer.readLine(500ms));
  EXPECT_FALSE(peer.closedByPeer(200ms));
}

TEST(TcpServer, FiftyConcurrentConnections) {
  TempDir dir;
  const int port = freePort();
  Bus bus(dir, server("echo", port, "framing=mllp", "    <set-body>ACK ${body}</set-body>"),
          "t.xml", "listening on");
  constexpr int kPeers = 50;
  constexpr int kEach = 5;
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  std::vector<std::unique_ptr<Peer>> peers;
  for (int p = 0; p < kPeers; ++p) peers.push_back(std::make_unique<Peer>(port));
  for (int p = 0; p < kPeers; ++p) {
    threads.emplace_back([&, p] {
      Peer& peer = *peers[static_cast<std::size_t>(p)];
      if (!peer.connected()) return;
      for (int i = 0; i < kEach; ++i) {
        const std::string body = "peer " + std::to_string(p) + " message " + std::to_string(i);
        if (!peer.send(mllp(body))) return;
        if (peer.readMllp(120s) == "ACK " + body) ++good;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(good.load(), kPeers * kEach) << bus.log();
}

TEST(TcpServer, BrokenFramesCloseOnlyTheirOwnConnection) {
  TempDir dir;
  const int port = freePort();
  Bus bus(dir,
          server("echo", port, "framing=mllp&amp;max-frame=1KB",
                 "    <set-body>ACK ${body}</set-body>"),
          "t.xml", "listening on");
  Peer good(port);
  ASSERT_TRUE(good.send(mllp("first")));
  EXPECT_EQ(good.readMllp(), "ACK first");

  Peer junk(port);  // bytes before the start block 0x0B
  ASSERT_TRUE(junk.send("garbage" + mllp("hidden")));
  EXPECT_TRUE(junk.closedByPeer()) << bus.log();

  Peer big(port);  // a frame over max-frame
  ASSERT_TRUE(big.send("\x0b" + std::string(4096, 'x')));
  EXPECT_TRUE(big.closedByPeer()) << bus.log();

  Peer half(port);  // a good frame half-sent, finished after the broken ones
  ASSERT_TRUE(half.send("\x0bhal"));

  ASSERT_TRUE(good.send(mllp("second")));
  EXPECT_EQ(good.readMllp(), "ACK second");
  ASSERT_TRUE(half.send("f\x1c\r"));
  EXPECT_EQ(half.readMllp(), "ACK half");
  EXPECT_NE(bus.log().find("bytes before the MLLP start block"), std::string::npos) << bus.log();
  EXPECT_NE(bus.log().find("max-frame"), std::string::npos) << bus.log();
}

TEST(TcpServer, IdleAndUnfinishedFrameTimeoutsCloseTheConnection) {
  TempDir dir;
  const int idle_port = freePort();
  const int read_port = freePort();
  Bus bus(dir,
          server("idle", idle_port, "framing=newline&amp;idle-timeout=300ms",
                 "    <set-body>x</set-body>") +
              server("read", read_port, "framing=mllp&amp;read-timeout=300ms&amp;idle-timeout=1h",
                     "    <set-body>x</set-body>"),
          "t.xml", "routing table generation 1 running");
  Peer idle(idle_port);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(idle.closedByPeer(30s));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 250ms);
  Peer slow(read_port);
  ASSERT_TRUE(slow.send(mllp("complete")));
  EXPECT_EQ(slow.readMllp(), "x");  // between frames only the (long) idle timeout applies
  ASSERT_TRUE(slow.send("\x0bhalf a fra"));
  EXPECT_TRUE(slow.closedByPeer(30s)) << bus.log();
  EXPECT_NE(bus.log().find("a frame was not completed within read-timeout"), std::string::npos)
      << bus.log();
}

TEST(TcpClient, ReadTimeoutWhenThePeerNeverAnswers) {
  // A listening socket that accepts (the kernel completes the handshake) and never answers.
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener, reinterpret_cast<const sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(listener, 16), 0);
  socklen_t length = sizeof address;
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length);
  const int port = ntohs(address.sin_port);
  TempDir dir;
  Bus bus(dir,
          R"(
  <route id="silent">
    <error-handler dead-letter-uri="log:dead?level=error"/>
    <from uri="timer:t?period=50ms&amp;count=1"/>
    <to uri="tcp:127.0.0.1:)" +
              std::to_string(port) + R"(?framing=mllp&amp;read-timeout=300ms" pattern="in-out"/>
  </route>)",
          "t.xml", "routing table generation 1 running");
  EXPECT_TRUE(eventually([&] {
    return bus.log().find("within 300ms (read-timeout)") != std::string::npos;
  })) << bus.log();
  EXPECT_NE(bus.log().find("(timeout)"), std::string::npos) << bus.log();
  ::close(listener);
}

TEST(TcpServer, RouteFailureIsAnsweredWithAeOrAClose) {
  // No route reads direct:nowhere, so the route fails. With on-failure=reject the peer gets
  // an HL7 ACK with AE (the failure is transient) for its control id; by default the
  // connection is closed without any answer. Never an AA for a message the bus did not take.
  TempDir dir;
  const int reject_port = freePort();
  const int close_port = freePort();
  Bus bus(dir,
          server("reject", reject_port, "framing=mllp&amp;on-failure=reject",
                 "    <to uri=\"direct:nowhere\"/>") +
              server("close", close_port, "framing=mllp", "    <to uri=\"direct:nowhere\"/>"),
          "t.xml", "routing table generation 1 running");
  Peer rejected(reject_port);
  ASSERT_TRUE(rejected.send(mllp(kHl7)));
  const auto nak = rejected.readMllp();
  ASSERT_TRUE(nak) << bus.log();
  EXPECT_NE(nak->find("\rMSA|AE|MSG00042|"), std::string::npos) << *nak;
  EXPECT_NE(nak->find("direct:nowhere"), std::string::npos) << *nak;
  EXPECT_EQ(nak->rfind("MSH|^~\\&|BUS|HOSP|LAB|NORTH|", 0), 0u) << *nak;

  Peer closed(close_port);
  ASSERT_TRUE(closed.send(mllp(kHl7)));
  EXPECT_TRUE(closed.closedByPeer()) << bus.log();
}

TEST(TcpClient, BusToBusRequestReply) {
  TempDir dir;
  const int port = freePort();
  const fs::path out = fs::path(dir.path()) / "out";
  Bus server_bus(
      dir, server("pong", port, "framing=length-prefixed", "    <set-body>pong ${body}</set-body>"),
      "server.xml", "listening on");
  Bus client_bus(dir,
                 R"(
  <route id="ping">
    <from uri="timer:ping?period=50ms&amp;count=20"/>
    <set-body>ping ${header.timer.count}</set-body>
    <to uri="tcp:127.0.0.1:)" +
                     std::to_string(port) + R"(?framing=length-prefixed" pattern="in-out"/>
    <set-body>${body} via ${header.tcp.remote}</set-body>
    <to uri="file:)" +
                     out.string() + R"(?file-name=replies.txt&amp;append=true&amp;separator=\n"/>
  </route>)",
                 "client.xml", "routing table generation 1 running");
  ASSERT_TRUE(eventually([&] { return lines(readFile(out / "replies.txt")) == 20; }))
      << client_bus.log() << server_bus.log();
  const std::string replies = readFile(out / "replies.txt");
  for (int i = 1; i <= 20; ++i) {
    EXPECT_NE(replies.find("pong ping " + std::to_string(i) +
                           " via 127.0.0.1:" + std::to_string(port) + "\n"),
              std::string::npos)
        << replies;
  }
}

TEST(TcpClient, ReconnectsAfterTheServerRestarts) {
  TempDir dir;
  const int port = freePort();
  const fs::path out = fs::path(dir.path()) / "out";
  const std::string client_table =
      R"(
  <route id="ping">
    <error-handler max-attempts="100" delay="100ms" backoff="1.5" max-delay="500ms"
                   dead-letter-uri="log:dead?level=error"/>
    <from uri="timer:ping?period=100ms&amp;count=60"/>
    <set-body>ping ${header.timer.count}</set-body>
    <to uri="tcp:127.0.0.1:)" +
      std::to_string(port) +
      R"(?framing=mllp&amp;connect-timeout=1s&amp;read-timeout=5s" pattern="in-out"/>
    <to uri="file:)" +
      out.string() + R"(?file-name=replies.txt&amp;append=true&amp;separator=\n"/>
  </route>)";
  auto first = std::make_unique<Bus>(
      dir, server("pong", port, "framing=mllp", "    <set-body>first ${body}</set-body>"),
      "first.xml", "listening on");
  Bus client_bus(dir, client_table, "client.xml", "routing table generation 1 running");
  ASSERT_TRUE(eventually([&] { return lines(readFile(out / "replies.txt")) >= 5; }))
      << client_bus.log();
  first.reset();  // the server goes away; the client's pooled connections are now dead
  std::this_thread::sleep_for(1500ms);
  Bus second(dir, server("pong", port, "framing=mllp", "    <set-body>second ${body}</set-body>"),
             "second.xml", "listening on");
  ASSERT_TRUE(eventually([&] { return lines(readFile(out / "replies.txt")) == 60; }, 120s))
      << client_bus.log();
  const std::string replies = readFile(out / "replies.txt");
  EXPECT_NE(replies.find("first ping 1\n"), std::string::npos) << replies;
  EXPECT_NE(replies.find("second ping 60\n"), std::string::npos) << replies;
  for (int i = 1; i <= 60; ++i) {
    const std::string ping = "ping " + std::to_string(i) + "\n";
    EXPECT_TRUE(replies.find("first " + ping) != std::string::npos ||
                replies.find("second " + ping) != std::string::npos)
        << "no reply for " << ping << replies;
  }
  EXPECT_EQ(client_bus.log().find("dead letter"), std::string::npos) << client_bus.log();
}

}  // namespace
}  // namespace busway::testing
