// The file plugin against the real busway binary: files dropped into a folder (also written
// slowly, to prove the read lock), include/exclude, recursive, done/error/delete, a file that
// cannot be read, a large file split by lines with the bus's memory bounded, and the
// producer's atomic writes and appends.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <sys/stat.h>
#include <sys/types.h>

#include <gtest/gtest.h>

#include "child_process.hpp"

namespace busway::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const std::string kBusway = BUSWAY_EXE;

std::string readFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void writeFile(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

// Polls `condition` until it holds or `timeout` passes (generous: the machine is shared).
bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 60s) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (condition()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return condition();
}

std::set<std::string> names(const fs::path& folder) {
  std::set<std::string> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(folder, ec))
    out.insert(entry.path().filename().string());
  return out;
}

long rssKb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

// A routing table in a temp dir, run by the real binary.
class Bus {
 public:
  Bus(const TempDir& dir, const std::string& routes, const std::string& name = "routes.xml") {
    const std::string table =
        dir.write(name, "<routes xmlns=\"urn:busway:routes:1\">\n" + routes + "\n</routes>\n");
    const std::string logs = dir.file("logs-" + name);
    fs::create_directories(logs);
    EXPECT_TRUE(process_.start({kBusway, "run", table}, logs)) << "cannot start " << kBusway;
    EXPECT_TRUE(process_.waitForOutput(" running: ", 60s)) << process_.err();
  }
  ~Bus() { process_.stop(); }
  ChildProcess& process() { return process_; }
  std::string log() const { return process_.out() + process_.err(); }

 private:
  ChildProcess process_;
};

struct Folders {
  TempDir dir;
  fs::path in = fs::path(dir.path()) / "in";
  fs::path out = fs::path(dir.path()) / "out";
  Folders() {
    fs::create_directories(in);
    fs::create_directories(out);
  }
};

TEST(FileConsumer, DeliversCompleteFilesWithHeadersAndMovesThemToDone) {
  Folders f;
  writeFile(f.in / "order-1.json", "{\"id\": 1}");
  Bus bus(f.dir, R"(
  <route id="copy">
    <from uri="file:)" +
                     f.in.string() + R"(?poll=100ms"/>
    <set-body>${header.file.name}|${header.file.size}|${header.file.path}|${header.file.modified}|${body}</set-body>
    <to uri="file:)" +
                     f.out.string() + R"(?file-name=${header.file.name}.out"/>
  </route>)");
  ASSERT_TRUE(eventually([&] { return fs::exists(f.out / "order-1.json.out"); })) << bus.log();
  const std::string text = readFile(f.out / "order-1.json.out");
  EXPECT_EQ(text.rfind("order-1.json|9|" + (f.in / "order-1.json").string() + "|20", 0), 0u)
      << text;
  EXPECT_NE(text.find("Z|{\"id\": 1}"), std::string::npos) << text;
  EXPECT_TRUE(eventually([&] { return fs::exists(f.in / ".done" / "order-1.json"); })) << bus.log();
  EXPECT_FALSE(fs::exists(f.in / "order-1.json"));
}

TEST(FileConsumer, FolderThatAppearsLaterIsPolledOnceItExists) {
  Folders f;
  const fs::path later = fs::path(f.dir.path()) / "later";
  Bus bus(f.dir, R"(
  <route id="copy">
    <from uri="file:)" +
                     later.string() + R"(?poll=100ms"/>
    <to uri="file:)" +
                     f.out.string() + R"(?file-name=${header.file.name}"/>
  </route>)");
  ASSERT_TRUE(eventually([&] {
    return bus.log().find("cannot list " + later.string()) != std::string::npos;
  })) << bus.log();
  writeFile(later / "x.txt", "x");
  ASSERT_TRUE(eventually([&] { return readFile(f.out / "x.txt") == "x"; })) << bus.log();
}

TEST(FileConsumer, SlowlyWrittenFileIsTakenOnlyWhenComplete) {
  // stable-size: the file must keep its size and modification time across two polls. The
  // writer appends a piece every 40ms for two seconds: a poll every 400ms never sees the
  // file unchanged until the writer is done (a pause of 400ms would be needed; under load
  // the consumer being late only makes the check stricter).
  Folders f;
  Bus bus(f.dir, R"(
  <route id="copy">
    <from uri="file:)" +
                     f.in.string() + R"(?poll=400ms&amp;read-lock=stable-size"/>
    <to uri="file:)" +
                     f.out.string() + R"(?file-name=${header.file.name}"/>
  </route>)");
  std::string expected;
  {
    std::ofstream out(f.in / "slow.txt", std::ios::binary);
    for (int i = 0; i < 50; ++i) {
      const std::string piece = "piece " + std::to_string(i) + "\n";
      out << piece << std::flush;
      expected += piece;
      std::this_thread::sleep_for(40ms);
    }
  }
  ASSERT_TRUE(eventually([&] { return fs::exists(f.out / "slow.txt"); })) << bus.log();
  EXPECT_EQ(readFile(f.out / "slow.txt"), expected);
  // Taken once, whole: nothing else was written.
  EXPECT_EQ(names(f.out), std::set<std::string>{"slow.txt"});
}

TEST(FileConsumer, IncludeExcludeRecursiveAndHiddenFiles) {
  Folders f;
  writeFile(f.in / "a.csv", "a");
  writeFile(f.in / "b.txt", "b");
  writeFile(f.in / "skip-me.csv", "s");
  writeFile(f.in / ".hidden.csv", "h");
  writeFile(f.in / "sub" / "deeper" / "c.csv", "c");
  writeFile(f.in / ".private" / "d.csv", "d");
  Bus bus(f.dir, R"(
  <route id="copy">
    <from uri="file:)" +
                     f.in.string() +
                     R"(?poll=100ms&amp;recursive=true&amp;include=*.csv&amp;exclude=skip-*"/>
    <to uri="file:)" +
                     f.out.string() + R"(?file-name=${header.file.relative-path}"/>
  </route>)");
  ASSERT_TRUE(eventually([&] {
    return fs::exists(f.out / "sub" / "deeper" / "c.csv") && fs::exists(f.out / "a.csv");
  })) << bus.log();
  std::this_thread::sleep_for(600ms);  // a few more polls: nothing else may be taken
  EXPECT_EQ(names(f.out), (std::set<std::string>{"a.csv", "sub"}));
  EXPECT_TRUE(fs::exists(f.in / "b.txt"));
  EXPECT_TRUE(fs::exists(f.in / "skip-me.csv"));
  EXPECT_TRUE(fs::exists(f.in / ".hidden.csv"));
  EXPECT_TRUE(fs::exists(f.in / ".private" / "d.csv"));
  EXPECT_TRUE(eventually([&] { return fs::exists(f.in / ".done" / "sub" / "deeper" / "c.csv"); }));
}

TEST(FileConsumer, DeleteRemovesTheFileOnceTheBusHasIt) {
  Folders f;
  writeFile(f.in / "x.txt", "x");
  Bus bus(f.dir, R"(
  <route id="copy">
    <from uri="file:)" +
                     f.in.string() + R"(?poll=100ms&amp;delete=true"/>
    <to uri="file:)" +
                     f.out.string() + R"(?file-name=${header.file.name}"/>
  </route>)");
  ASSERT_TRUE(eventually([&] {
    return fs::exists(f.out / "x.txt") && !fs::exists(f.in / "x.txt");
  })) << bus.log();
  EXPECT_FALSE(fs::exists(f.in / ".done"));
}

TEST(FileConsumer, FailedFileGoesToErrorWithTheReasonNextToIt) {
  Folders f;
  writeFile(f.in / "bad.xml", "<order/>");
  // No route reads direct:nowhere, so sending there fails; without a dead-letter channel the
  // failure comes back to the consumer, which must not acknowledge (move to done).
  Bus bus(f.dir, R"(
  <route id="fails">
    <from uri="file:)" +
                     f.in.string() + R"(?poll=100ms"/>
    <to uri="direct:nowhere"/>
  </route>)");
  ASSERT_TRUE(eventually([&] { return fs::exists(f.in / ".error" / "bad.xml.error.txt"); }))
      << bus.log();
  EXPECT_EQ(readFile(f.in / ".error" / "bad.xml"), "<order/>");
  const std::string reason = readFile(f.in / ".error" / "bad.xml.error.txt");
  EXPECT_NE(reason.find("direct:nowhere"), std::string::npos) << reason;
  EXPECT_FALSE(fs::exists(f.in / ".done" / "bad.xml"));
  EXPECT_TRUE(eventually([&] {
    return bus.log().find("moved " + (f.in / "bad.xml").string()) != std::string::npos;
  })) << bus.log();
}

TEST(FileConsumer, DeadLetteredFileCountsAsHandled) {
  // With a dead-letter channel the bus has the message (safe in the dead letter), so the
  // file is acknowledged: it goes to done, and the dead letter holds the content.
  Folders f;
  writeFile(f.in / "bad.txt", "payload");
  Bus bus(f.dir, R"(
  <route id="fails">
    <error-handler max-attempts="2" delay="10ms" dead-letter-uri="file:)" +
                     f.out.string() + R"(?file-name=dead-${header.file.name}"/>
    <from uri="file:)" +
                     f.in.string() + R"(?poll=100ms"/>
    <to uri="direct:nowhere"/>
  </route>)");
  ASSERT_TRUE(eventually([&] { return fs::exists(f.in / ".done" / "bad.txt"); })) << bus.log();
  EXPECT_EQ(readFile(f.out / "dead-bad.txt"), "payload");
  EXPECT_FALSE(fs::exists(f.in / ".error"));
}

TEST(FileConsumer, UnreadableFileGoesToErrorAndOthersGoOn) {
  // The tests run as root, and chmod 000 does not stop root from reading. A FIFO named like
  // a matching file is a directory entry that cannot be read as a file: the consumer opens
  // it, finds that it is not a regular file, and must treat it like any unreadable file
  // (EACCES for a normal user): error folder, reason written, the other files unaffected.
  Folders f;
  ASSERT_EQ(::mkfifo((f.in / "pipe.csv").c_str(), 0644), 0);
  writeFile(f.in / "fine.csv", "fine");
  writeFile(f.in / "huge.csv", std::string(100, 'h'));  // over max-size
  Bus bus(f.dir, R"(
  <route id="copy">
    <from uri="file:)" +
                     f.in.string() + R"(?poll=100ms&amp;include=*.csv&amp;max-size=64"/>
    <to uri="file:)" +
                     f.out.string() + R"(?file-name=${header.file.name}"/>
  </route>)");
  ASSERT_TRUE(eventually([&] { return fs::exists(f.in / ".error" / "pipe.csv.error.txt"); }))
      << bus.log();
  EXPECT_NE(readFile(f.in / ".error" / "pipe.csv.error.txt").find("FIFO"), std::string::npos);
  EXPECT_TRUE(fs::is_fifo(f.in / ".error" / "pipe.csv"));
  EXPECT_TRUE(eventually([&] { return readFile(f.out / "fine.csv") == "fine"; })) << bus.log();
  ASSERT_TRUE(eventually([&] { return fs::exists(f.in / ".error" / "huge.csv.error.txt"); }))
      << bus.log();
  EXPECT_NE(readFile(f.in / ".error" / "huge.csv.error.txt").find("more than max-size (64)"),
            std::string::npos);
  EXPECT_TRUE(bus.process().running());
}

// Under AddressSanitizer freed memory waits in a quarantine (256 MB by default) before it
// is reused, which reads as growth in RSS: the bus started here runs without it.
class AsanQuarantineOff {
 public:
  AsanQuarantineOff() {
#if defined(__SANITIZE_ADDRESS__)
    const char* current = std::getenv("ASAN_OPTIONS");
    if (current != nullptr) saved_ = current;
    had_ = current != nullptr;
    const std::string options = saved_ + (saved_.empty() ? "" : ":") + "quarantine_size_mb=0";
    ::setenv("ASAN_OPTIONS", options.c_str(), 1);
#endif
  }
  ~AsanQuarantineOff() {
#if defined(__SANITIZE_ADDRESS__)
    if (had_)
      ::setenv("ASAN_OPTIONS", saved_.c_str(), 1);
    else
      ::unsetenv("ASAN_OPTIONS");
#endif
  }
  AsanQuarantineOff(const AsanQuarantineOff&) = delete;
  AsanQuarantineOff& operator=(const AsanQuarantineOff&) = delete;

 private:
  std::string saved_;
  bool had_ = false;
};

TEST(FileConsumer, SplitLinesStreamsALargeFileWithBoundedMemory) {
  Folders f;
  const AsanQuarantineOff quarantine_off;
  constexpr int kLines = 200'000;
  const std::string filler(150, 'x');
  Bus bus(f.dir, R"(
  <route id="lines">
    <from uri="file:)" +
                     f.in.string() + R"(?poll=100ms&amp;split=lines&amp;max-in-flight=64"/>
    <set-body>${header.file.line} ${body}</set-body>
    <to uri="file:)" +
                     f.out.string() +
                     R"(?file-name=all.txt&amp;append=true&amp;separator=\n&amp;fsync=false"/>
  </route>)");
  std::this_thread::sleep_for(500ms);
  const long baseline = rssKb(bus.process().pid());
  {
    // Written under a hidden name and renamed in: the consumer never sees a partial file.
    std::ofstream out(f.in / ".big.txt.part", std::ios::binary);
    for (int i = 1; i <= kLines; ++i) out << "line-" << i << ' ' << filler << '\n';
  }
  const auto size = fs::file_size(f.in / ".big.txt.part");
  fs::rename(f.in / ".big.txt.part", f.in / "big.txt");
  long peak = baseline;
  ASSERT_TRUE(eventually(
      [&] {
        peak = std::max(peak, rssKb(bus.process().pid()));
        return fs::exists(f.in / ".done" / "big.txt");
      },
      300s))
      << bus.log();
  // The file is about 31 MB; reading it whole (plus its copies) would add far more.
  std::printf(
      "[ measure  ] split=lines of %d lines (%ju bytes): bus RSS %ld kB before, peak %ld kB\n",
      kLines, static_cast<std::uintmax_t>(size), baseline, peak);
  EXPECT_LT(peak - baseline, 16 * 1024) << "RSS grew from " << baseline << " kB to " << peak
                                        << " kB for a file of " << size << " bytes";
  std::ifstream all(f.out / "all.txt");
  std::string line;
  int count = 0;
  std::set<int> numbers;
  while (std::getline(all, line)) {
    ++count;
    numbers.insert(std::stoi(line.substr(0, line.find(' '))));
  }
  EXPECT_EQ(count, kLines);
  EXPECT_EQ(numbers.size(), static_cast<std::size_t>(kLines));
  EXPECT_EQ(*numbers.begin(), 1);
  EXPECT_EQ(*numbers.rbegin(), kLines);
}

TEST(FileConsumer, SplitLinesWithAFailedLineSendsTheFileToError) {
  Folders f;
  writeFile(f.in / "mixed.txt", "ok 1\nok 2\nbad\n\nok 4\n");
  Bus bus(f.dir, R"(
  <route id="lines">
    <from uri="file:)" +
                     f.in.string() + R"(?poll=100ms&amp;split=lines"/>
    <choice>
      <when simple="body == 'bad'"><to uri="direct:nowhere"/></when>
      <otherwise><to uri="file:)" +
                     f.out.string() + R"(?file-name=line-${header.file.line}.txt"/></otherwise>
    </choice>
  </route>)");
  ASSERT_TRUE(eventually([&] { return fs::exists(f.in / ".error" / "mixed.txt.error.txt"); }))
      << bus.log();
  const std::string reason = readFile(f.in / ".error" / "mixed.txt.error.txt");
  EXPECT_NE(reason.find("1 of its records failed"), std::string::npos) << reason;
  EXPECT_NE(reason.find("line 3"), std::string::npos) << reason;
  // The good lines went through (line 4 is blank and carries no message).
  EXPECT_EQ(names(f.out), (std::set<std::string>{"line-1.txt", "line-2.txt", "line-5.txt"}));
}

TEST(FileConsumer, RenameLockLetsTwoBusesShareAFolderWithoutTakingAFileTwice) {
  Folders f;
  constexpr int kFiles = 60;
  for (int i = 0; i < kFiles; ++i)
    writeFile(f.in / ("f" + std::to_string(i) + ".txt"), std::to_string(i));
  const auto route = [&](const std::string& id) {
    return R"(
  <route id=")" +
           id + R"(">
    <from uri="file:)" +
           f.in.string() + R"(?poll=50ms&amp;read-lock=rename"/>
    <set-body>${header.file.name}</set-body>
    <to uri="file:)" +
           f.out.string() + R"(?file-name=)" + id + R"(.txt&amp;append=true&amp;separator=\n"/>
  </route>)";
  };
  Bus one(f.dir, route("one"), "one.xml");
  Bus two(f.dir, route("two"), "two.xml");
  ASSERT_TRUE(eventually([&] { return names(f.in / ".done").size() == kFiles; }))
      << one.log() << two.log();
  std::multiset<std::string> taken;
  for (const std::string name : {"one.txt", "two.txt"}) {
    std::ifstream in(f.out / name);
    std::string line;
    while (std::getline(in, line)) taken.insert(line);
  }
  EXPECT_EQ(taken.size(), static_cast<std::size_t>(kFiles));
  EXPECT_EQ(std::set<std::string>(taken.begin(), taken.end()).size(),
            static_cast<std::size_t>(kFiles));
  // Nothing is left in progress: only the two running consumers' lock files (and their
  // empty claim folders) are there.
  int claimed = 0;
  for (const auto& entry : fs::recursive_directory_iterator(f.in / ".inprogress")) {
    if (entry.is_regular_file() && entry.path().extension() != ".lock") ++claimed;
  }
  EXPECT_EQ(claimed, 0);
}

TEST(FileConsumer, RenameLockGivesBackTheClaimsOfABusThatDied) {
  // A bus killed while it works on a file leaves it in .inprogress/OWNER/; the kernel drops
  // its flock on .inprogress/OWNER.lock, so the next bus moves the file back and reads it.
  Folders f;
  writeFile(f.in / "stuck.txt", "stuck");
  const auto route = [&](const std::string& steps) {
    return R"(
  <route id="r">
    <from uri="file:)" +
           f.in.string() + R"(?poll=50ms&amp;read-lock=rename"/>
    )" + steps +
           R"(
  </route>)";
  };
  {
    // A route that waits an hour: the file stays claimed, in flight, when the bus is killed.
    Bus stuck(f.dir, route(R"(<delay duration="1h"/>)"), "stuck.xml");
    ASSERT_TRUE(eventually([&] {
      std::error_code ec;
      for (const auto& entry : fs::recursive_directory_iterator(f.in / ".inprogress", ec))
        if (entry.path().filename() == "stuck.txt") return true;
      return false;
    })) << stuck.log();
    stuck.process().signal(SIGKILL);
    stuck.process().wait(30s);
  }
  Bus next(f.dir,
           route(R"(<to uri="file:)" + f.out.string() + R"(?file-name=${header.file.name}"/>)"),
           "next.xml");
  ASSERT_TRUE(eventually([&] { return readFile(f.out / "stuck.txt") == "stuck"; })) << next.log();
  EXPECT_TRUE(eventually([&] { return fs::exists(f.in / ".done" / "stuck.txt"); })) << next.log();
  EXPECT_NE(next.log().find("was in progress when its bus stopped"), std::string::npos)
      << next.log();
}

TEST(FileProducer, AtomicWritesNeverShowATornFile) {
  Folders f;
  const std::string filler(256 * 1024, 'z');
  Bus bus(f.dir, R"(
  <route id="writer">
    <from uri="timer:w?period=5ms&amp;count=300"/>
    <set-body>BEGIN )" +
                     filler + R"( END</set-body>
    <to uri="file:)" +
                     f.out.string() + R"(?file-name=report.txt"/>
  </route>)");
  // A reader that polls the folder as a consumer would: every visible file must be whole.
  std::atomic<int> reads{0};
  std::atomic<int> torn{0};
  std::string bad;
  const auto end = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < end) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(f.out, ec)) {
      const std::string name = entry.path().filename().string();
      if (name.front() == '.') continue;  // the producer's hidden temporary files
      const std::string text = readFile(entry.path());
      if (text.empty() && !fs::exists(entry.path())) continue;
      ++reads;
      if (text.size() != filler.size() + 10 || text.rfind("BEGIN ", 0) != 0 ||
          text.substr(text.size() - 4) != " END") {
        ++torn;
        bad = name + ": " + std::to_string(text.size()) + " bytes";
      }
    }
  }
  EXPECT_GT(reads.load(), 50);
  EXPECT_EQ(torn.load(), 0) << bad;
  // Once the writes are over no temporary file is left behind (while they go on, the
  // hidden .report.txt.busway-tmp-* of the write in progress may be there).
  EXPECT_TRUE(eventually([&] { return names(f.out) == std::set<std::string>{"report.txt"}; }))
      << ::testing::PrintToString(names(f.out));
}

TEST(FileProducer, AppendsRecordsWithASeparatorAndSetsFilePath) {
  Folders f;
  Bus bus(
      f.dir,
      R"(
  <route id="append">
    <from uri="timer:a?period=20ms&amp;count=5"/>
    <set-body>record ${header.timer.count}</set-body>
    <to uri="file:)" +
          f.out.string() +
          R"(?file-name=${date:yyyy}/log.txt&amp;append=true&amp;separator=\r\n" pattern="in-out"/>
    <set-body>${header.file.path}</set-body>
    <to uri="file:)" +
          f.out.string() + R"(?file-name=paths.txt&amp;append=true&amp;separator=\n"/>
  </route>)");
  const auto year = std::to_string(1900 + [] {
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    return tm.tm_year;
  }());
  const fs::path log = f.out / year / "log.txt";
  ASSERT_TRUE(eventually([&] { return readFile(log).size() == 5 * 10; })) << bus.log();
  EXPECT_EQ(readFile(log), "record 1\r\nrecord 2\r\nrecord 3\r\nrecord 4\r\nrecord 5\r\n");
  // The producer set file.path on the message (seen by the next step with pattern="in-out").
  ASSERT_TRUE(eventually(
      [&] { return readFile(f.out / "paths.txt").size() >= 5 * (log.string().size() + 1); }));
  EXPECT_EQ(readFile(f.out / "paths.txt").substr(0, log.string().size() + 1), log.string() + "\n");
}

TEST(FileProducer, RefusesNamesThatLeaveTheFolder) {
  Folders f;
  const fs::path elsewhere = fs::path(f.dir.path()) / "elsewhere";
  fs::create_directories(elsewhere);
  fs::create_directory_symlink(elsewhere, f.out / "outside");
  const auto route = [&](const std::string& id, const std::string& name) {
    return R"(
  <route id=")" +
           id + R"(">
    <error-handler dead-letter-uri="log:dead?level=error&amp;show-headers=true"/>
    <from uri="timer:)" +
           id + R"(?period=50ms&amp;count=1"/>
    <set-header name="name" constant=")" +
           name + R"("/>
    <to uri="file:)" +
           f.out.string() + R"(?file-name=${header.name}"/>
  </route>)";
  };
  Bus bus(f.dir, route("escape", "../escaped.txt") + route("link", "outside/linked.txt"));
  ASSERT_TRUE(eventually([&] {
    return bus.log().find("leaves the folder ('..')") != std::string::npos;
  })) << bus.log();
  ASSERT_TRUE(eventually([&] {
    return bus.log().find("through a symbolic link") != std::string::npos;
  })) << bus.log();
  EXPECT_FALSE(fs::exists(fs::path(f.dir.path()) / "escaped.txt"));
  EXPECT_FALSE(fs::exists(elsewhere / "linked.txt"));
  EXPECT_NE(bus.log().find("invalid"), std::string::npos) << bus.log();
}

TEST(FileProducer, UnknownTemplateOperandIsALoadError) {
  TempDir dir;
  const std::string table = dir.write("t.xml", R"(<routes xmlns="urn:busway:routes:1">
  <route id="r">
    <from uri="timer:x?count=1"/>
    <to uri="file:/tmp/x?file-name=${body}.txt"/>
  </route>
</routes>
)");
  const auto r = runCommand({kBusway, "run", "--for", "1s", table}, 60s);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("unknown operand '${body}'"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace busway::testing
