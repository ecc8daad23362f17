#include "bus_process.hpp"

#include <regex>
#include <thread>

#include <gtest/gtest.h>

namespace busway::testing {

using namespace std::chrono_literals;

std::string routesTable(const std::string& routes) {
  return "<routes xmlns=\"urn:busway:routes:1\">\n" + routes + "\n</routes>\n";
}

std::string route(const std::string& id, const std::string& from, const std::string& to) {
  return route(id, from, std::vector<std::string>{"<to uri=\"" + to + "\"/>"});
}

std::string route(const std::string& id, const std::string& from,
                  const std::vector<std::string>& steps) {
  std::string text = "  <route id=\"" + id + "\"><from uri=\"" + from + "\"/>";
  for (const auto& step : steps) text += step;
  return text + "</route>";
}

std::string xmlAttribute(std::string text) {
  for (std::size_t pos = text.find('&'); pos != std::string::npos; pos = text.find('&', pos + 5)) {
    text.replace(pos, 1, "&amp;");
  }
  return text;
}

BusProcess::BusProcess(std::string busway, const TempDir& dir, const std::string& routes,
                       std::string subscribed_marker)
    : busway_(std::move(busway)), dir_(dir), marker_(std::move(subscribed_marker)) {
  dir_.write("routes.xml", routesTable(routes));
}

BusProcess::~BusProcess() { process_.stop(15s); }

void BusProcess::start(int consumers) {
  ASSERT_TRUE(process_.start({busway_, "run", dir_.file("routes.xml")}, dir_.path()));
  ASSERT_TRUE(waitForCount(total_subscribed_ + consumers, 30s)) << output();
  total_subscribed_ += consumers;
}

int BusProcess::stop() {
  const int code = process_.stop(30s);
  past_ += process_.out() + process_.err();
  return code;
}

std::string BusProcess::output() const { return past_ + process_.out() + process_.err(); }

bool BusProcess::waitForCount(int wanted, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string all = output();
    int n = 0;
    for (auto pos = all.find(marker_); pos != std::string::npos; pos = all.find(marker_, pos + 1))
      ++n;
    if (n >= wanted) return true;
    if (!process_.running()) return false;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

PeerSubscriber::PeerSubscriber(const TempDir& dir, const std::vector<std::string>& argv) {
  EXPECT_TRUE(process_.start(argv, dir.path()));
  EXPECT_TRUE(process_.waitForOutput("ready", 20s)) << process_.out() << process_.err();
}

PeerCounts PeerSubscriber::result(std::chrono::milliseconds timeout) {
  const auto code = process_.wait(timeout);
  EXPECT_TRUE(code.has_value()) << "the subscriber did not finish: "
                                << process_.out().substr(0, 2000);
  PeerCounts counts;
  std::smatch m;
  const std::string out = process_.out();
  if (std::regex_search(out, m, std::regex(R"(received (\d+) unique (\d+) duplicates (\d+))"))) {
    counts.received = std::stol(m[1]);
    counts.unique = std::stol(m[2]);
    counts.duplicates = std::stol(m[3]);
  }
  return counts;
}

}  // namespace busway::testing
