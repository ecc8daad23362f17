// busway-nats-peer: the NATS peer of the nats integration tests, on the plugin's own
// protocol client (src/nats_client.hpp).
//
//   busway-nats-peer pub     --port P --subject S [--count N] [--size B] [--prefix X] [--rate R]
//   [--js]
//                            [--header K=V] [--timeout S]
//   busway-nats-peer sub     --port P --subject S [--queue Q] [--count N] [--timeout S] [--linger
//   MS] [--print] busway-nats-peer js-sub  --port P --stream ST --subject S [--durable D] [--count
//   N] [--timeout S] [--linger MS] busway-nats-peer request --port P --subject S --body TEXT
//   [--header K=V] [--timeout S] busway-nats-peer reply   --port P --subject S [--prefix X]
//   [--timeout S]
//
// Payloads are "PREFIX<index>|" padded with 'x' to --size. pub --js waits for every PubAck
// and publishes again what was not acknowledged (so it survives a server restart). sub and
// js-sub print "ready" once subscribed and at the end "received R unique U duplicates D"
// (exit 0 when U >= N); js-sub acknowledges every message.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "nats_client.hpp"

namespace {

using namespace busway::nats;
using Clock = std::chrono::steady_clock;

struct Args {
  std::string mode;
  int port = 4222;
  std::string subject;
  std::string queue;
  std::string stream;
  std::string durable = "peer";
  long count = 1;
  std::size_t size = 0;
  std::string prefix;
  double rate = 0;
  bool js = false;
  std::vector<Header> headers;
  double timeout_s = 60;
  long linger_ms = 0;
  bool print = false;
  std::string body;
};

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "busway-nats-peer: " << why
            << "\n(see the comment at the top of tools/nats_peer.cpp)\n";
  std::exit(2);
}

Args parse(int argc, char** argv) {
  if (argc < 2) usage("give a mode");
  Args a;
  a.mode = argv[1];
  for (int i = 2; i < argc; ++i) {
    const std::string k = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(k + " needs a value");
      return argv[++i];
    };
    if (k == "--port")
      a.port = std::stoi(value());
    else if (k == "--subject")
      a.subject = value();
    else if (k == "--queue")
      a.queue = value();
    else if (k == "--stream")
      a.stream = value();
    else if (k == "--durable")
      a.durable = value();
    else if (k == "--count")
      a.count = std::stol(value());
    else if (k == "--size")
      a.size = std::stoul(value());
    else if (k == "--prefix")
      a.prefix = value();
    else if (k == "--rate")
      a.rate = std::stod(value());
    else if (k == "--js")
      a.js = true;
    else if (k == "--header") {
      const std::string kv = value();
      const auto eq = kv.find('=');
      if (eq == std::string::npos) usage("--header takes NAME=VALUE");
      a.headers.push_back(Header{kv.substr(0, eq), kv.substr(eq + 1)});
    } else if (k == "--timeout")
      a.timeout_s = std::stod(value());
    else if (k == "--linger")
      a.linger_ms = std::stol(value());
    else if (k == "--print")
      a.print = true;
    else if (k == "--body")
      a.body = value();
    else
      usage("unknown argument " + k);
  }
  if (a.subject.empty()) usage("--subject is required");
  return a;
}

std::string payload(const Args& a, long index) {
  std::string p = a.prefix + std::to_string(index) + "|";
  if (p.size() < a.size) p.append(a.size - p.size(), 'x');
  return p;
}

ClientOptions options(const Args& a) {
  ClientOptions o;
  o.port = a.port;
  o.name = "busway-nats-peer " + a.mode;
  o.reconnect_delay = std::chrono::milliseconds(100);
  o.reconnect_delay_max = std::chrono::milliseconds(1000);
  o.log = [](int level, const std::string& text) {
    if (level >= 3) std::cerr << text << std::endl;
  };
  return o;
}

std::chrono::duration<double> seconds(double s) { return std::chrono::duration<double>(s); }

int runPub(const Args& a) {
  Client client(options(a));
  if (!client.start(std::chrono::seconds(10))) usage("cannot connect");
  const auto deadline = Clock::now() + seconds(a.timeout_s);
  const auto start = Clock::now();
  if (!a.js) {
    for (long i = 0; i < a.count; ++i) {
      if (a.rate > 0)
        std::this_thread::sleep_until(start + seconds(static_cast<double>(i) / a.rate));
      const std::string p = payload(a, i);
      for (;;) {
        try {
          client.publish(a.subject, "", a.headers, p);
          break;
        } catch (const std::exception&) {
          if (Clock::now() > deadline) return 1;
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
      }
    }
    client.flush(std::chrono::seconds(10));
    std::cout << "published " << a.count << std::endl;
    return 0;
  }
  // JetStream: a window of outstanding publishes; a failed one goes again.
  std::mutex mutex;
  std::condition_variable cv;
  std::vector<char> acked(static_cast<std::size_t>(a.count), 0);
  long acked_count = 0;
  long outstanding = 0;
  long failures = 0;
  std::vector<long> again;
  constexpr long kWindow = 100;
  const auto send = [&](long i) {
    client.request(a.subject, a.headers, payload(a, i), std::chrono::seconds(2),
                   [&, i](std::optional<Msg> reply, const std::string&) {
                     bool ok = false;
                     if (reply) {
                       try {
                         parsePubAck(*reply);
                         ok = true;
                       } catch (const std::exception&) {
                       }
                     }
                     const std::lock_guard<std::mutex> lock(mutex);
                     --outstanding;
                     if (ok && !acked[static_cast<std::size_t>(i)]) {
                       acked[static_cast<std::size_t>(i)] = 1;
                       ++acked_count;
                     } else if (!ok) {
                       ++failures;
                       again.push_back(i);
                     }
                     cv.notify_all();
                   });
  };
  long next = 0;
  for (;;) {
    long index = -1;
    {
      std::unique_lock<std::mutex> lock(mutex);
      cv.wait_for(lock, std::chrono::milliseconds(100), [&] { return outstanding < kWindow; });
      if (acked_count >= a.count) break;
      if (Clock::now() > deadline) break;
      if (outstanding >= kWindow) continue;
      if (!again.empty()) {
        if (!client.connected()) {
          lock.unlock();
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
          continue;
        }
        index = again.back();
        again.pop_back();
      } else if (next < a.count) {
        index = next++;
      } else {
        continue;
      }
      ++outstanding;
    }
    if (a.rate > 0 && index == next - 1)
      std::this_thread::sleep_until(start + seconds(static_cast<double>(index) / a.rate));
    send(index);
  }
  const std::lock_guard<std::mutex> lock(mutex);
  std::cout << (acked_count >= a.count ? "published " : "NOT all acknowledged: published ")
            << a.count << " acked " << acked_count << " failed-and-retried " << failures
            << std::endl;
  const bool ok = acked_count >= a.count;
  client.close();
  return ok ? 0 : 1;
}

struct Counter {
  std::mutex mutex;
  std::condition_variable cv;
  std::unordered_set<std::string> seen;
  long received = 0;
};

int finish(const Args& a, Counter& c, bool all) {
  if (a.linger_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(a.linger_ms));
  const std::lock_guard<std::mutex> lock(c.mutex);
  const auto unique = static_cast<long>(c.seen.size());
  std::printf("received %ld unique %ld duplicates %ld\n", c.received, unique, c.received - unique);
  if (!all) {
    std::string missing;
    int shown = 0;
    for (long i = 0; i < a.count && shown < 20; ++i) {
      if (c.seen.count(a.prefix + std::to_string(i)) == 0) {
        missing += " " + a.prefix + std::to_string(i);
        ++shown;
      }
    }
    std::printf("missing (first 20):%s\n", missing.c_str());
  }
  std::fflush(stdout);
  return all ? 0 : 1;
}

void count(const Args& a, Counter& c, const Msg& msg) {
  const std::string key = msg.payload.substr(0, msg.payload.find('|'));
  if (a.print) {
    std::string headers;
    for (const auto& h : msg.headers) headers += " " + h.name + "=" + h.value;
    std::printf("msg %s %s%s\n", msg.subject.c_str(), key.c_str(), headers.c_str());
    std::fflush(stdout);
  }
  const std::lock_guard<std::mutex> lock(c.mutex);
  ++c.received;
  c.seen.insert(key);
  c.cv.notify_all();
}

int runSub(const Args& a, bool js) {
  Client client(options(a));
  if (!client.start(std::chrono::seconds(10))) usage("cannot connect");
  Counter c;
  std::string subject = a.subject;
  if (js) {
    try {
      ensureStream(client, a.stream, a.subject, std::chrono::seconds(5));
      ConsumerConfig config;
      config.stream = a.stream;
      config.durable = a.durable;
      config.filter_subject = a.subject;
      config.deliver_subject = "_peer.deliver." + a.stream + "." + a.durable;
      config.ack_wait = std::chrono::seconds(5);
      config.max_ack_pending = 1000;
      ensureConsumer(client, config, std::chrono::seconds(5));
      subject = config.deliver_subject;
    } catch (const std::exception& e) {
      usage(e.what());
    }
  }
  client.subscribe(subject, a.queue, [&](Msg&& msg) {
    if (js) {
      if (msg.reply.empty()) return;
      try {
        client.publish(msg.reply, "", {}, "+ACK");
      } catch (const std::exception&) {
        return;  // not acknowledged: comes again, counted as a duplicate
      }
    }
    count(a, c, msg);
  });
  client.flush(std::chrono::seconds(5));
  std::printf("ready\n");
  std::fflush(stdout);
  bool all = false;
  {
    std::unique_lock<std::mutex> lock(c.mutex);
    all = c.cv.wait_for(lock, seconds(a.timeout_s),
                        [&] { return static_cast<long>(c.seen.size()) >= a.count; });
  }
  const int rc = finish(a, c, all);
  client.close();
  return rc;
}

int runRequest(const Args& a) {
  Client client(options(a));
  if (!client.start(std::chrono::seconds(10))) usage("cannot connect");
  try {
    const Msg reply =
        client.requestSync(a.subject, a.headers, a.body,
                           std::chrono::milliseconds(static_cast<long>(a.timeout_s * 1000)));
    std::string headers;
    for (const auto& h : reply.headers) headers += " " + h.name + "=" + h.value;
    std::printf("reply: %s\nheaders:%s\n", reply.payload.c_str(), headers.c_str());
    return 0;
  } catch (const std::exception& e) {
    std::printf("no reply: %s\n", e.what());
    return 1;
  }
}

int runReply(const Args& a) {
  Client client(options(a));
  if (!client.start(std::chrono::seconds(10))) usage("cannot connect");
  client.subscribe(a.subject, a.queue, [&](Msg&& msg) {
    if (msg.reply.empty()) return;
    std::vector<Header> headers = msg.headers;
    headers.push_back(Header{"Answered-By", "peer"});
    client.publish(msg.reply, "", headers, a.prefix + msg.payload);
  });
  client.flush(std::chrono::seconds(5));
  std::printf("ready\n");
  std::fflush(stdout);
  std::this_thread::sleep_for(seconds(a.timeout_s));
  client.close();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse(argc, argv);
  if (a.mode == "pub") return runPub(a);
  if (a.mode == "sub") return runSub(a, false);
  if (a.mode == "js-sub") {
    if (a.stream.empty()) usage("js-sub needs --stream");
    return runSub(a, true);
  }
  if (a.mode == "request") return runRequest(a);
  if (a.mode == "reply") return runReply(a);
  usage("unknown mode " + a.mode);
}
