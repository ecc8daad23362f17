// busway-mqtt-peer: the MQTT peer of the mqtt integration tests and of
// tests/bench/mqtt_bench.sh, on libmosquitto.
//
//   busway-mqtt-peer pub   --port P --topic T [--qos 1] [--count N] [--size BYTES] [--rate
//   MSGS_PER_S]
//                          [--id ID] [--prefix TEXT] [--retain] [--v5] [--user-prop K=V]
//   busway-mqtt-peer sub   --port P --topic T [--qos 1] [--count N] [--id ID] [--persistent]
//                          [--timeout SECONDS] [--linger MS] [--print] [--v5]
//   busway-mqtt-peer bench --port P --pub-topic T --sub-topic T [--qos 1] [--count N] [--size
//   BYTES]
//
// Payloads are "PREFIX<index>|" padded with 'x' to --size. `pub` keeps every message until
// the broker acknowledges it and survives a broker restart (libmosquitto resends, and a
// refused publish is retried), then prints "published N". `sub` prints "ready" once
// subscribed, counts distinct payload keys, and at the end prints
// "received R unique U duplicates D" (exit 0 when U >= N). `bench` subscribes, publishes N
// messages as fast as the broker takes them and prints "bench N msgs in S s = R msgs/s"
// once the last one has arrived.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <mosquitto.h>
#include <mqtt_protocol.h>

namespace {

using Clock = std::chrono::steady_clock;

struct Args {
  std::string mode;
  int port = 1883;
  std::string topic;
  std::string pub_topic;
  std::string sub_topic;
  int qos = 1;
  long count = 1;
  std::size_t size = 0;
  double rate = 0;
  std::string id;
  std::string prefix;
  bool retain = false;
  bool v5 = false;
  std::vector<std::pair<std::string, std::string>> user_props;
  bool persistent = false;
  double timeout_s = 60;
  long linger_ms = 0;
  bool print = false;
};

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "busway-mqtt-peer: " << why
            << "\n(see the comment at the top of tools/mqtt_peer.cpp)\n";
  std::exit(2);
}

Args parse(int argc, char** argv) {
  if (argc < 2) usage("give a mode: pub, sub or bench");
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
    else if (k == "--topic")
      a.topic = value();
    else if (k == "--pub-topic")
      a.pub_topic = value();
    else if (k == "--sub-topic")
      a.sub_topic = value();
    else if (k == "--qos")
      a.qos = std::stoi(value());
    else if (k == "--count")
      a.count = std::stol(value());
    else if (k == "--size")
      a.size = std::stoul(value());
    else if (k == "--rate")
      a.rate = std::stod(value());
    else if (k == "--id")
      a.id = value();
    else if (k == "--prefix")
      a.prefix = value();
    else if (k == "--retain")
      a.retain = true;
    else if (k == "--v5")
      a.v5 = true;
    else if (k == "--user-prop") {
      const std::string kv = value();
      const auto eq = kv.find('=');
      if (eq == std::string::npos) usage("--user-prop takes NAME=VALUE");
      a.user_props.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
    } else if (k == "--persistent")
      a.persistent = true;
    else if (k == "--timeout")
      a.timeout_s = std::stod(value());
    else if (k == "--linger")
      a.linger_ms = std::stol(value());
    else if (k == "--print")
      a.print = true;
    else
      usage("unknown argument " + k);
  }
  return a;
}

std::string payload(const Args& a, long index) {
  std::string p = a.prefix + std::to_string(index) + "|";
  if (p.size() < a.size) p.append(a.size - p.size(), 'x');
  return p;
}

mosquitto* client(const Args& a, const std::string& id, bool clean, void* obj) {
  mosquitto* m = mosquitto_new(id.empty() ? nullptr : id.c_str(), clean, obj);
  if (m == nullptr) usage("mosquitto_new failed");
  mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, a.v5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311);
  mosquitto_int_option(m, MOSQ_OPT_TCP_NODELAY, 1);
  mosquitto_reconnect_delay_set(m, 1, 2, false);
  return m;
}

// ---- pub -----------------------------------------------------------------------------

struct Pub {
  std::mutex mutex;
  std::condition_variable cv;
  long acked = 0;
  std::vector<char> done;              // per index: acknowledged
  std::unordered_map<int, long> mids;  // message id -> index, for QoS 1/2
  std::atomic<bool> connected{false};
};

// Publishes message `index`; false when the client refused it (not connected...).
bool publishOne(mosquitto* m, Pub& state, const Args& a, long index,
                const mosquitto_property* props) {
  const std::string p = payload(a, index);
  const std::lock_guard<std::mutex> lock(
      state.mutex);  // the PUBACK callback looks the id up under it
  int mid = 0;
  const int rc = mosquitto_publish_v5(m, &mid, a.topic.c_str(), static_cast<int>(p.size()),
                                      p.data(), a.qos, a.retain, a.v5 ? props : nullptr);
  if (rc != MOSQ_ERR_SUCCESS) return false;
  if (a.qos > 0) state.mids[mid] = index;
  return true;
}

int runPub(const Args& a) {
  Pub state;
  state.done.assign(static_cast<std::size_t>(a.count), 0);
  mosquitto* m = client(a, a.id, a.id.empty(), &state);
  mosquitto_max_inflight_messages_set(m, 100);
  mosquitto_connect_v5_callback_set(
      m, [](mosquitto*, void* obj, int rc, int, const mosquitto_property*) {
        if (rc == 0) static_cast<Pub*>(obj)->connected = true;
      });
  mosquitto_disconnect_v5_callback_set(m,
                                       [](mosquitto*, void* obj, int, const mosquitto_property*) {
                                         static_cast<Pub*>(obj)->connected = false;
                                       });
  mosquitto_publish_v5_callback_set(
      m, [](mosquitto*, void* obj, int mid, int, const mosquitto_property*) {
        auto* s = static_cast<Pub*>(obj);
        const std::lock_guard<std::mutex> lock(s->mutex);
        const auto it = s->mids.find(mid);
        if (it == s->mids.end()) return;
        if (!s->done[static_cast<std::size_t>(it->second)]) {
          s->done[static_cast<std::size_t>(it->second)] = 1;
          ++s->acked;
        }
        s->mids.erase(it);
        s->cv.notify_all();
      });
  mosquitto_connect_async(m, "127.0.0.1", a.port, 10);
  mosquitto_loop_start(m);
  const auto deadline = Clock::now() + std::chrono::duration<double>(a.timeout_s);
  while (!state.connected && Clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  mosquitto_property* props = nullptr;
  for (const auto& [k, v] : a.user_props)
    mosquitto_property_add_string_pair(&props, MQTT_PROP_USER_PROPERTY, k.c_str(), v.c_str());
  const auto start = Clock::now();
  long retries = 0;
  long republished = 0;
  for (long i = 0; i < a.count; ++i) {
    if (a.rate > 0) {
      const auto due = start + std::chrono::duration<double>(static_cast<double>(i) / a.rate);
      std::this_thread::sleep_until(due);
    }
    while (!publishOne(m, state, a, i, props)) {
      if (Clock::now() > deadline) {
        std::cerr << "pub: cannot publish #" << i << "\n";
        return 1;
      }
      ++retries;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  bool all = true;
  if (a.qos > 0) {
    // Whatever the broker has not acknowledged after a while (lost in a restart) goes again.
    for (;;) {
      std::unique_lock<std::mutex> lock(state.mutex);
      all =
          state.cv.wait_for(lock, std::chrono::seconds(5), [&] { return state.acked >= a.count; });
      if (all || Clock::now() > deadline) break;
      if (!state.connected) continue;
      std::vector<long> again;
      for (long i = 0; i < a.count; ++i) {
        if (!state.done[static_cast<std::size_t>(i)]) again.push_back(i);
      }
      lock.unlock();
      for (const long i : again) {
        if (publishOne(m, state, a, i, props)) ++republished;
      }
    }
  } else {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  mosquitto_property_free_all(&props);
  mosquitto_disconnect(m);
  mosquitto_loop_stop(m, false);
  mosquitto_destroy(m);
  std::cout << (all ? "published " : "NOT all acknowledged: published ") << a.count << " acked "
            << state.acked << " refused-and-retried " << retries << " republished " << republished
            << std::endl;
  return all ? 0 : 1;
}

// ---- sub -----------------------------------------------------------------------------

struct Sub {
  const Args* args = nullptr;
  std::mutex mutex;
  std::condition_variable cv;
  std::unordered_set<std::string> seen;
  long received = 0;
  bool subscribed = false;
  Clock::time_point first{};
  Clock::time_point last{};
};

void onSubMessage(mosquitto*, void* obj, const mosquitto_message* msg,
                  const mosquitto_property* props) {
  auto* s = static_cast<Sub*>(obj);
  const std::string body(static_cast<const char*>(msg->payload),
                         static_cast<std::size_t>(msg->payloadlen));
  const std::string key = body.substr(0, body.find('|'));
  if (s->args->print) {
    std::string extra;
    for (const mosquitto_property* p = props; p != nullptr; p = mosquitto_property_next(p)) {
      char* name = nullptr;
      char* value = nullptr;
      if (mosquitto_property_identifier(p) == MQTT_PROP_USER_PROPERTY &&
          mosquitto_property_read_string_pair(p, MQTT_PROP_USER_PROPERTY, &name, &value, false) !=
              nullptr) {
        extra += std::string(" prop:") + name + "=" + value;
      }
      if (mosquitto_property_identifier(p) == MQTT_PROP_CONTENT_TYPE &&
          mosquitto_property_read_string(p, MQTT_PROP_CONTENT_TYPE, &value, false) != nullptr) {
        extra += std::string(" content-type:") + value;
      }
      std::free(name);
      std::free(value);
    }
    std::printf("msg %s qos=%d retain=%d %s%s\n", msg->topic, msg->qos, msg->retain ? 1 : 0,
                key.c_str(), extra.c_str());
    std::fflush(stdout);
  }
  const std::lock_guard<std::mutex> lock(s->mutex);
  if (s->received == 0) s->first = Clock::now();
  ++s->received;
  s->seen.insert(key);
  s->last = Clock::now();
  s->cv.notify_all();
}

int runSub(const Args& a) {
  Sub state;
  state.args = &a;
  mosquitto* m = client(a, a.id, !a.persistent, &state);
  mosquitto_int_option(m, MOSQ_OPT_RECEIVE_MAXIMUM, 100);
  mosquitto_connect_v5_callback_set(
      m, [](mosquitto* mq, void* obj, int rc, int, const mosquitto_property*) {
        auto* s = static_cast<Sub*>(obj);
        if (rc == 0) mosquitto_subscribe(mq, nullptr, s->args->topic.c_str(), s->args->qos);
      });
  mosquitto_subscribe_callback_set(m, [](mosquitto*, void* obj, int, int, const int*) {
    auto* s = static_cast<Sub*>(obj);
    bool first = false;
    {
      const std::lock_guard<std::mutex> lock(s->mutex);
      first = !s->subscribed;
      s->subscribed = true;
    }
    if (first) {
      std::printf("ready\n");
      std::fflush(stdout);
    }
  });
  mosquitto_message_v5_callback_set(m, &onSubMessage);
  mosquitto_connect_async(m, "127.0.0.1", a.port, 10);
  mosquitto_loop_start(m);
  const auto deadline = Clock::now() + std::chrono::duration<double>(a.timeout_s);
  bool all = false;
  {
    std::unique_lock<std::mutex> lock(state.mutex);
    all = state.cv.wait_until(lock, deadline,
                              [&] { return static_cast<long>(state.seen.size()) >= a.count; });
  }
  if (a.linger_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(a.linger_ms));
  mosquitto_disconnect(m);
  mosquitto_loop_stop(m, false);
  mosquitto_destroy(m);
  const std::lock_guard<std::mutex> lock(state.mutex);
  const auto unique = static_cast<long>(state.seen.size());
  std::printf("received %ld unique %ld duplicates %ld\n", state.received, unique,
              state.received - unique);
  if (!all) {
    std::string missing;
    int shown = 0;
    for (long i = 0; i < a.count && shown < 20; ++i) {
      const std::string key = a.prefix + std::to_string(i);
      if (state.seen.count(key) == 0) {
        missing += " " + key;
        ++shown;
      }
    }
    std::printf("missing (first 20):%s\n", missing.c_str());
  }
  return all ? 0 : 1;
}

// ---- bench ---------------------------------------------------------------------------

int runBench(Args a) {
  Args sub_args = a;
  sub_args.topic = a.sub_topic;
  Sub state;
  state.args = &sub_args;
  mosquitto* s = client(sub_args, "", true, &state);
  mosquitto_int_option(s, MOSQ_OPT_RECEIVE_MAXIMUM, 1000);
  mosquitto_connect_v5_callback_set(
      s, [](mosquitto* mq, void* obj, int rc, int, const mosquitto_property*) {
        auto* st = static_cast<Sub*>(obj);
        if (rc == 0) mosquitto_subscribe(mq, nullptr, st->args->topic.c_str(), st->args->qos);
      });
  mosquitto_subscribe_callback_set(s, [](mosquitto*, void* obj, int, int, const int*) {
    auto* st = static_cast<Sub*>(obj);
    const std::lock_guard<std::mutex> lock(st->mutex);
    st->subscribed = true;
    st->cv.notify_all();
  });
  mosquitto_message_v5_callback_set(s, &onSubMessage);
  mosquitto_connect_async(s, "127.0.0.1", a.port, 30);
  mosquitto_loop_start(s);
  {
    std::unique_lock<std::mutex> lock(state.mutex);
    if (!state.cv.wait_for(lock, std::chrono::seconds(10), [&] { return state.subscribed; }))
      usage("bench: no SUBACK");
  }
  Pub pub;
  mosquitto* p = client(a, "", true, &pub);
  mosquitto_max_inflight_messages_set(p, 1000);
  mosquitto_connect_v5_callback_set(
      p, [](mosquitto*, void* obj, int rc, int, const mosquitto_property*) {
        if (rc == 0) static_cast<Pub*>(obj)->connected = true;
      });
  mosquitto_publish_v5_callback_set(p,
                                    [](mosquitto*, void* obj, int, int, const mosquitto_property*) {
                                      auto* st = static_cast<Pub*>(obj);
                                      const std::lock_guard<std::mutex> lock(st->mutex);
                                      ++st->acked;
                                      st->cv.notify_all();
                                    });
  mosquitto_connect_async(p, "127.0.0.1", a.port, 30);
  mosquitto_loop_start(p);
  while (!pub.connected) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const auto start = Clock::now();
  constexpr long kWindow = 1000;  // unacknowledged at once (libmosquitto's queue is a list)
  for (long i = 0; i < a.count; ++i) {
    if (a.qos > 0) {
      std::unique_lock<std::mutex> lock(pub.mutex);
      pub.cv.wait(lock, [&] { return i - pub.acked < kWindow; });
    }
    const std::string body = payload(a, i);
    while (mosquitto_publish(p, nullptr, a.pub_topic.c_str(), static_cast<int>(body.size()),
                             body.data(), a.qos, false) != MOSQ_ERR_SUCCESS) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  bool all = false;
  {
    std::unique_lock<std::mutex> lock(state.mutex);
    all = state.cv.wait_for(lock, std::chrono::duration<double>(a.timeout_s),
                            [&] { return static_cast<long>(state.seen.size()) >= a.count; });
  }
  const double seconds = std::chrono::duration<double>(state.last - start).count();
  mosquitto_disconnect(p);
  mosquitto_loop_stop(p, false);
  mosquitto_destroy(p);
  mosquitto_disconnect(s);
  mosquitto_loop_stop(s, false);
  mosquitto_destroy(s);
  const long unique = static_cast<long>(state.seen.size());
  std::printf("bench %ld msgs in %.3f s = %.0f msgs/s (received %ld, unique %ld)%s\n", a.count,
              seconds, static_cast<double>(unique) / seconds, state.received, unique,
              all ? "" : " INCOMPLETE");
  return all ? 0 : 1;
}

// ---- relay -------------------------------------------------------------------------
// A plain libmosquitto relay (subscribe --topic, republish to --out-topic, QoS 1, no bus):
// the bench's reference for what two broker hops cost without busway in between.

struct Relay {
  const Args* args = nullptr;
  mosquitto* out = nullptr;
};

int runRelay(const Args& a) {
  Relay relay;
  relay.args = &a;
  Pub pub;
  mosquitto* out = client(a, "", true, &pub);
  mosquitto_max_inflight_messages_set(out, 1000);
  mosquitto_connect_async(out, "127.0.0.1", a.port, 30);
  mosquitto_loop_start(out);
  relay.out = out;
  mosquitto* in = client(a, "", true, &relay);
  mosquitto_int_option(in, MOSQ_OPT_RECEIVE_MAXIMUM, 1000);
  mosquitto_connect_v5_callback_set(
      in, [](mosquitto* mq, void* obj, int rc, int, const mosquitto_property*) {
        auto* r = static_cast<Relay*>(obj);
        if (rc == 0) mosquitto_subscribe(mq, nullptr, r->args->topic.c_str(), r->args->qos);
      });
  mosquitto_subscribe_callback_set(in, [](mosquitto*, void*, int, int, const int*) {
    std::printf("ready\n");
    std::fflush(stdout);
  });
  mosquitto_message_v5_callback_set(
      in, [](mosquitto*, void* obj, const mosquitto_message* msg, const mosquitto_property*) {
        auto* r = static_cast<Relay*>(obj);
        mosquitto_publish(r->out, nullptr, r->args->pub_topic.c_str(), msg->payloadlen,
                          msg->payload, r->args->qos, false);
      });
  mosquitto_connect_async(in, "127.0.0.1", a.port, 30);
  mosquitto_loop_start(in);
  std::this_thread::sleep_for(std::chrono::duration<double>(a.timeout_s));
  mosquitto_disconnect(in);
  mosquitto_loop_stop(in, false);
  mosquitto_destroy(in);
  mosquitto_disconnect(out);
  mosquitto_loop_stop(out, false);
  mosquitto_destroy(out);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args a = parse(argc, argv);
  mosquitto_lib_init();
  int rc = 2;
  if (a.mode == "pub") {
    if (a.topic.empty()) usage("pub needs --topic");
    rc = runPub(a);
  } else if (a.mode == "sub") {
    if (a.topic.empty()) usage("sub needs --topic");
    rc = runSub(a);
  } else if (a.mode == "relay") {
    if (a.topic.empty() || a.pub_topic.empty()) usage("relay needs --topic and --pub-topic");
    rc = runRelay(a);
  } else if (a.mode == "bench") {
    if (a.pub_topic.empty() || a.sub_topic.empty())
      usage("bench needs --pub-topic and --sub-topic");
    rc = runBench(a);
  } else {
    usage("unknown mode " + a.mode);
  }
  mosquitto_lib_cleanup();
  return rc;
}
