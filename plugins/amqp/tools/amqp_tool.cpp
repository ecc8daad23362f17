// amqp-tool: a plain rabbitmq-c client for busway's AMQP tests and benchmark. Not part of
// the bus. Commands (all on 127.0.0.1 unless --host):
//   publish --queue Q | --exchange E --routing-key K  --count N [--size B] [--prefix ID]
//           [--header NAME=VALUE]... [--content-type T] [--correlation-id C] [--window W]
//       publishes N persistent messages with message ids ID-0..ID-(N-1), waiting for the
//       broker's confirms (at most W unconfirmed), and declares Q (durable) first
//       unless --no-declare (for queues declared with arguments by the bus).
//   consume --queue Q --expect N [--idle MS] [--max-wait MS] [--print] [--prefetch P]
//       consumes and acks until N distinct message ids arrived and the queue has been idle
//       for --idle (to catch duplicates), or --max-wait passed; prints the counts.
//   depth --queue Q        prints ready=N consumers=C (passive declare)
//   pipe --in Q1 --out Q2 --count N [--size B] [--window W] [--prefetch P]
//       publishes N messages to Q1 (confirms) while consuming N from Q2; prints msgs/s from
//       the first publish to the last message consumed. --in Q --out Q is the raw broker.
//   relay --in Q1 --out Q2 [--prefetch P]
//       what the bus does, without the bus: consumes Q1, publishes each message to Q2 with
//       confirms and acks it on Q1 only after the confirm; runs until killed. For the
//       benchmark's third figure (the broker work of AMQP -> X -> AMQP with no bus).
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <amqp.h>
#include <amqp_tcp_socket.h>

namespace {

using Clock = std::chrono::steady_clock;

struct Args {
  std::string command;
  std::map<std::string, std::string> values;
  std::vector<std::string> headers;
  bool has(const std::string& name) const { return values.count(name) != 0; }
  std::string get(const std::string& name, const std::string& fallback = "") const {
    const auto it = values.find(name);
    return it == values.end() ? fallback : it->second;
  }
  long number(const std::string& name, long fallback) const {
    const auto it = values.find(name);
    return it == values.end() ? fallback : std::stol(it->second);
  }
};

amqp_bytes_t bytes(const std::string& text) {
  amqp_bytes_t out;
  out.len = text.size();
  out.bytes = const_cast<char*>(text.data());
  return out;
}
std::string text(amqp_bytes_t b) {
  return b.len == 0 ? std::string() : std::string(static_cast<const char*>(b.bytes), b.len);
}

void check(amqp_rpc_reply_t reply, const std::string& what) {
  if (reply.reply_type == AMQP_RESPONSE_NORMAL) return;
  std::string why = "rpc failure";
  if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION)
    why = amqp_error_string2(reply.library_error);
  if (reply.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
      reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
    const auto* close = static_cast<const amqp_channel_close_t*>(reply.reply.decoded);
    why = std::to_string(close->reply_code) + " " + text(close->reply_text);
  }
  if (reply.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
      reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
    const auto* close = static_cast<const amqp_connection_close_t*>(reply.reply.decoded);
    why = std::to_string(close->reply_code) + " " + text(close->reply_text);
  }
  throw std::runtime_error(what + ": " + why);
}

struct Connection {
  amqp_connection_state_t conn = nullptr;
  Connection(const Args& args) {
    conn = amqp_new_connection();
    amqp_socket_t* socket = amqp_tcp_socket_new(conn);
    const std::string host = args.get("host", "127.0.0.1");
    const int port = static_cast<int>(args.number("port", 5672));
    if (amqp_socket_open(socket, host.c_str(), port) != AMQP_STATUS_OK)
      throw std::runtime_error("cannot connect to " + host + ":" + std::to_string(port));
    check(amqp_login(conn, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest"), "login");
    amqp_channel_open(conn, 1);
    check(amqp_get_rpc_reply(conn), "channel.open");
  }
  ~Connection() {
    amqp_channel_close(conn, 1, AMQP_REPLY_SUCCESS);
    amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn);
  }
  void declare(const std::string& queue) const {
    amqp_queue_declare(conn, 1, bytes(queue), 0, 1, 0, 0, amqp_empty_table);
    check(amqp_get_rpc_reply(conn), "queue.declare " + queue);
  }
};

// Publishes `count` messages with confirms, at most `window` unconfirmed.
double publish(const Args& args, const std::string& exchange, const std::string& routing_key,
               long count, const std::string& queue_to_declare) {
  Connection c(args);
  if (!queue_to_declare.empty()) c.declare(queue_to_declare);
  amqp_confirm_select(c.conn, 1);
  check(amqp_get_rpc_reply(c.conn), "confirm.select");
  const long window = args.number("window", 500);
  const std::string body(static_cast<std::size_t>(args.number("size", 1024)), 'x');
  const std::string prefix = args.get("prefix", "m");
  std::vector<std::pair<std::string, std::string>> headers;
  for (const auto& h : args.headers) {
    const auto eq = h.find('=');
    headers.emplace_back(h.substr(0, eq), eq == std::string::npos ? "" : h.substr(eq + 1));
  }
  std::vector<amqp_table_entry_t> entries;
  for (const auto& [name, value] : headers) {
    amqp_table_entry_t e{};
    e.key = bytes(name);
    e.value.kind = AMQP_FIELD_KIND_UTF8;
    e.value.value.bytes = bytes(value);
    entries.push_back(e);
  }
  const std::string content_type = args.get("content-type", "application/octet-stream");
  const std::string correlation = args.get("correlation-id");
  long sent = 0;
  long confirmed = 0;
  long returned = 0;
  const auto start = Clock::now();
  while (confirmed < count) {
    while (sent < count && sent - confirmed < window) {
      const std::string id = prefix + "-" + std::to_string(sent);
      amqp_basic_properties_t props{};
      props._flags =
          AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_MESSAGE_ID_FLAG | AMQP_BASIC_CONTENT_TYPE_FLAG;
      props.delivery_mode = AMQP_DELIVERY_PERSISTENT;
      props.message_id = bytes(id);
      props.content_type = bytes(content_type);
      if (!correlation.empty()) {
        props._flags |= AMQP_BASIC_CORRELATION_ID_FLAG;
        props.correlation_id = bytes(correlation);
      }
      if (!entries.empty()) {
        props._flags |= AMQP_BASIC_HEADERS_FLAG;
        props.headers.num_entries = static_cast<int>(entries.size());
        props.headers.entries = entries.data();
      }
      if (amqp_basic_publish(c.conn, 1, bytes(exchange), bytes(routing_key), 0, 0, &props,
                             bytes(body)) != 0)
        throw std::runtime_error("publish failed");
      ++sent;
    }
    amqp_frame_t frame;
    amqp_maybe_release_buffers(c.conn);
    if (amqp_simple_wait_frame(c.conn, &frame) != AMQP_STATUS_OK)
      throw std::runtime_error("connection lost");
    if (frame.frame_type != AMQP_FRAME_METHOD) continue;
    if (frame.payload.method.id == AMQP_BASIC_ACK_METHOD) {
      const auto* ack = static_cast<const amqp_basic_ack_t*>(frame.payload.method.decoded);
      confirmed = static_cast<long>(ack->delivery_tag);  // in order: tags are 1..sent
    } else if (frame.payload.method.id == AMQP_BASIC_NACK_METHOD) {
      throw std::runtime_error("the broker nacked a publish");
    } else if (frame.payload.method.id == AMQP_BASIC_RETURN_METHOD) {
      ++returned;
    }
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("published=%ld returned=%ld seconds=%.3f rate=%.0f\n", count, returned, seconds,
              static_cast<double>(count) / seconds);
  return seconds;
}

struct Consumed {
  long received = 0;
  long distinct = 0;
  long duplicates = 0;
  double seconds = 0;
};

// Consumes from `queue`, acking each message.
Consumed consume(const Args& args, const std::string& queue, long expect, bool print,
                 Clock::time_point start) {
  Connection c(args);
  c.declare(queue);
  amqp_basic_qos(c.conn, 1, 0, static_cast<std::uint16_t>(args.number("prefetch", 500)), 0);
  check(amqp_get_rpc_reply(c.conn), "basic.qos");
  amqp_basic_consume(c.conn, 1, bytes(queue), amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
  check(amqp_get_rpc_reply(c.conn), "basic.consume " + queue);
  const auto idle = std::chrono::milliseconds(args.number("idle", 500));
  const auto max_wait = std::chrono::milliseconds(args.number("max-wait", 120000));
  std::unordered_map<std::string, int> seen;
  Consumed out;
  auto last = Clock::now();
  auto last_new = start;
  for (;;) {
    const auto now = Clock::now();
    if (now - start > max_wait) break;
    if (out.distinct >= expect && now - last > idle) break;
    amqp_maybe_release_buffers(c.conn);
    timeval tv{0, 100000};
    amqp_envelope_t envelope;
    const amqp_rpc_reply_t reply = amqp_consume_message(c.conn, &envelope, &tv, 0);
    if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
        reply.library_error == AMQP_STATUS_TIMEOUT)
      continue;
    check(reply, "consume");
    last = Clock::now();
    ++out.received;
    const amqp_basic_properties_t& p = envelope.message.properties;
    const std::string id =
        (p._flags & AMQP_BASIC_MESSAGE_ID_FLAG) != 0 ? text(p.message_id) : std::string();
    if (++seen[id] == 1) {
      ++out.distinct;
      last_new = last;
    } else {
      ++out.duplicates;
    }
    if (print) {
      std::string line = "MSG id=" + id +
                         " redelivered=" + (envelope.redelivered != 0 ? "true" : "false") +
                         " routing-key=" + text(envelope.routing_key);
      if ((p._flags & AMQP_BASIC_CONTENT_TYPE_FLAG) != 0)
        line += " content-type=" + text(p.content_type);
      if ((p._flags & AMQP_BASIC_CORRELATION_ID_FLAG) != 0)
        line += " correlation-id=" + text(p.correlation_id);
      line += " delivery-mode=" + std::to_string(p.delivery_mode);
      if ((p._flags & AMQP_BASIC_HEADERS_FLAG) != 0) {
        for (int i = 0; i < p.headers.num_entries; ++i) {
          const auto& e = p.headers.entries[i];
          const std::string value =
              (e.value.kind == AMQP_FIELD_KIND_UTF8 || e.value.kind == AMQP_FIELD_KIND_BYTES)
                  ? text(e.value.value.bytes)
                  : std::string("?");
          line += " h:" + text(e.key) + "=" + value;
        }
      }
      line += " body=" + text(envelope.message.body).substr(0, 80);
      std::printf("%s\n", line.c_str());
    }
    if (amqp_basic_ack(c.conn, 1, envelope.delivery_tag, 0) != 0)
      throw std::runtime_error("ack failed");
    amqp_destroy_envelope(&envelope);
  }
  out.seconds = std::chrono::duration<double>(last_new - start).count();
  return out;
}

// Consume `in` on channel 1, publish to `out` on channel 2 (confirm mode), ack on channel 1
// when channel 2 confirms. Single-threaded: rabbitmq-c connections are not thread-safe.
int relay(const Args& args) {
  Connection c(args);
  const std::string in = args.get("in");
  const std::string out = args.get("out");
  c.declare(in);
  c.declare(out);
  amqp_channel_open(c.conn, 2);
  check(amqp_get_rpc_reply(c.conn), "channel.open 2");
  amqp_confirm_select(c.conn, 2);
  check(amqp_get_rpc_reply(c.conn), "confirm.select");
  amqp_basic_qos(c.conn, 1, 0, static_cast<std::uint16_t>(args.number("prefetch", 500)), 0);
  check(amqp_get_rpc_reply(c.conn), "basic.qos");
  amqp_basic_consume(c.conn, 1, bytes(in), amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
  check(amqp_get_rpc_reply(c.conn), "basic.consume " + in);
  std::map<std::uint64_t, std::uint64_t> pending;  // publish seq -> delivery tag
  std::uint64_t seq = 0;
  std::printf("relaying %s -> %s\n", in.c_str(), out.c_str());
  std::fflush(stdout);
  for (;;) {
    amqp_maybe_release_buffers(c.conn);
    amqp_frame_t frame;
    if (amqp_simple_wait_frame(c.conn, &frame) != AMQP_STATUS_OK)
      throw std::runtime_error("connection lost");
    if (frame.frame_type != AMQP_FRAME_METHOD) continue;
    if (frame.channel == 1 && frame.payload.method.id == AMQP_BASIC_DELIVER_METHOD) {
      const auto* deliver = static_cast<const amqp_basic_deliver_t*>(frame.payload.method.decoded);
      const std::uint64_t tag = deliver->delivery_tag;
      amqp_message_t message;
      check(amqp_read_message(c.conn, 1, &message, 0), "read message");
      amqp_basic_properties_t props = message.properties;
      if (amqp_basic_publish(c.conn, 2, amqp_empty_bytes, bytes(out), 1, 0, &props, message.body) !=
          0)
        throw std::runtime_error("publish failed");
      pending[++seq] = tag;
      amqp_destroy_message(&message);
    } else if (frame.channel == 2 && frame.payload.method.id == AMQP_BASIC_ACK_METHOD) {
      const auto* ack = static_cast<const amqp_basic_ack_t*>(frame.payload.method.decoded);
      const auto first = ack->multiple != 0 ? pending.begin() : pending.find(ack->delivery_tag);
      const auto last = ack->multiple != 0 ? pending.upper_bound(ack->delivery_tag)
                                           : (first == pending.end() ? first : std::next(first));
      for (auto it = first; it != last; ++it) {
        if (amqp_basic_ack(c.conn, 1, it->second, 0) != 0) throw std::runtime_error("ack failed");
      }
      pending.erase(first, last);
    }
  }
}

int run(const Args& args) {
  if (args.command == "relay") return relay(args);
  if (args.command == "publish") {
    const std::string queue = args.get("queue");
    const std::string exchange = args.get("exchange");
    const std::string key = args.has("routing-key") ? args.get("routing-key") : queue;
    publish(args, exchange, key, args.number("count", 1),
            exchange.empty() && !args.has("no-declare") ? queue : "");
    return 0;
  }
  if (args.command == "consume") {
    const Consumed c =
        consume(args, args.get("queue"), args.number("expect", 1), args.has("print"), Clock::now());
    std::printf("received=%ld distinct=%ld duplicates=%ld\n", c.received, c.distinct, c.duplicates);
    return c.distinct >= args.number("expect", 1) ? 0 : 3;
  }
  if (args.command == "depth") {
    Connection c(args);
    amqp_queue_declare_ok_t* ok =
        amqp_queue_declare(c.conn, 1, bytes(args.get("queue")), 1, 0, 0, 0, amqp_empty_table);
    check(amqp_get_rpc_reply(c.conn), "queue.declare (passive) " + args.get("queue"));
    std::printf("ready=%u consumers=%u\n", ok->message_count, ok->consumer_count);
    return 0;
  }
  if (args.command == "pipe") {
    const long count = args.number("count", 10000);
    const std::string in = args.get("in");
    const std::string out = args.get("out");
    {
      Connection c(args);  // both queues exist before either side starts
      c.declare(in);
      c.declare(out);
    }
    const auto start = Clock::now();
    Consumed consumed;
    std::string error;
    std::thread consumer([&] {
      try {
        consumed = consume(args, out, count, false, start);
      } catch (const std::exception& e) {
        error = e.what();
      }
    });
    publish(args, "", in, count, "");
    consumer.join();
    if (!error.empty()) throw std::runtime_error(error);
    std::printf(
        "pipe in=%s out=%s messages=%ld distinct=%ld duplicates=%ld size=%ld seconds=%.3f "
        "rate=%.0f\n",
        in.c_str(), out.c_str(), count, consumed.distinct, consumed.duplicates,
        args.number("size", 1024), consumed.seconds,
        static_cast<double>(consumed.distinct) / consumed.seconds);
    return consumed.distinct >= count ? 0 : 3;
  }
  std::fprintf(stderr, "amqp-tool: unknown command '%s' (publish, consume, depth, pipe)\n",
               args.command.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: amqp-tool publish|consume|depth|pipe --port P ...\n");
    return 2;
  }
  Args args;
  args.command = argv[1];
  for (int i = 2; i < argc; ++i) {
    std::string name = argv[i];
    if (name.rfind("--", 0) != 0) {
      std::fprintf(stderr, "amqp-tool: unexpected '%s'\n", argv[i]);
      return 2;
    }
    name = name.substr(2);
    if (name == "print" || name == "no-declare") {
      args.values[name] = "1";
      continue;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "amqp-tool: --%s needs a value\n", name.c_str());
      return 2;
    }
    if (name == "header")
      args.headers.emplace_back(argv[++i]);
    else
      args.values[name] = argv[++i];
  }
  try {
    return run(args);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "amqp-tool %s: %s\n", args.command.c_str(), e.what());
    return 1;
  }
}
