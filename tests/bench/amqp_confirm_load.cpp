// RabbitMQ side of tests/bench/durable_queue_bench.sh: P publishers, each on its own
// connection and channel with publisher confirms, send N/P persistent messages of SIZE bytes
// to a durable queue, keeping at most WINDOW unconfirmed; a message counts once the broker
// has confirmed it (after it is on disk, for a durable queue and a persistent message).
//
//   amqp_confirm_load PORT QUEUE MESSAGES PRODUCERS WINDOW SIZE
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>

namespace {

bool check(amqp_rpc_reply_t reply, const char* what) {
  if (reply.reply_type == AMQP_RESPONSE_NORMAL) return true;
  std::fprintf(stderr, "amqp_confirm_load: %s failed (reply type %d)\n", what,
               static_cast<int>(reply.reply_type));
  return false;
}

amqp_connection_state_t connectTo(int port) {
  amqp_connection_state_t conn = amqp_new_connection();
  amqp_socket_t* socket = amqp_tcp_socket_new(conn);
  if (socket == nullptr || amqp_socket_open(socket, "127.0.0.1", port) != AMQP_STATUS_OK) {
    std::fprintf(stderr, "amqp_confirm_load: cannot connect to 127.0.0.1:%d\n", port);
    std::exit(1);
  }
  if (!check(amqp_login(conn, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest"),
             "login"))
    std::exit(1);
  amqp_channel_open(conn, 1);
  if (!check(amqp_get_rpc_reply(conn), "channel.open")) std::exit(1);
  return conn;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 7) {
    std::fprintf(stderr, "usage: amqp_confirm_load PORT QUEUE MESSAGES PRODUCERS WINDOW SIZE\n");
    return 2;
  }
  const int port = std::atoi(argv[1]);
  const std::string queue = argv[2];
  const long messages = std::atol(argv[3]);
  const int producers = std::atoi(argv[4]);
  const long window = std::atol(argv[5]);
  const std::string body(static_cast<std::size_t>(std::atol(argv[6])), 'x');

  {
    amqp_connection_state_t conn = connectTo(port);
    amqp_queue_declare(conn, 1, amqp_cstring_bytes(queue.c_str()), 0, 1, 0, 0, amqp_empty_table);
    if (!check(amqp_get_rpc_reply(conn), "queue.declare")) return 1;
    amqp_channel_close(conn, 1, AMQP_REPLY_SUCCESS);
    amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn);
  }

  std::atomic<long> confirmed{0}, nacked{0};
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      const long mine = messages / producers + (p < messages % producers ? 1 : 0);
      amqp_connection_state_t conn = connectTo(port);
      amqp_confirm_select(conn, 1);
      if (!check(amqp_get_rpc_reply(conn), "confirm.select")) std::exit(1);
      amqp_basic_properties_t props;
      props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_CONTENT_TYPE_FLAG;
      props.delivery_mode = 2;  // persistent
      props.content_type = amqp_cstring_bytes("application/octet-stream");
      long sent = 0, acked = 0;
      while (acked < mine) {
        while (sent < mine && sent - acked < window) {
          if (amqp_basic_publish(
                  conn, 1, amqp_empty_bytes, amqp_cstring_bytes(queue.c_str()), 0, 0, &props,
                  amqp_bytes_t{body.size(), const_cast<char*>(body.data())}) != AMQP_STATUS_OK) {
            std::fprintf(stderr, "amqp_confirm_load: publish failed\n");
            std::exit(1);
          }
          ++sent;
        }
        amqp_frame_t frame;
        if (amqp_simple_wait_frame(conn, &frame) != AMQP_STATUS_OK) {
          std::fprintf(stderr, "amqp_confirm_load: connection lost\n");
          std::exit(1);
        }
        if (frame.frame_type != AMQP_FRAME_METHOD) continue;
        const auto id = frame.payload.method.id;
        if (id == AMQP_BASIC_ACK_METHOD || id == AMQP_BASIC_NACK_METHOD) {
          std::uint64_t tag;
          bool multiple;
          if (id == AMQP_BASIC_ACK_METHOD) {
            auto* ack = static_cast<amqp_basic_ack_t*>(frame.payload.method.decoded);
            tag = ack->delivery_tag;
            multiple = ack->multiple != 0;
          } else {
            auto* nack = static_cast<amqp_basic_nack_t*>(frame.payload.method.decoded);
            tag = nack->delivery_tag;
            multiple = nack->multiple != 0;
            nacked += multiple ? static_cast<long>(tag) - acked : 1;
            (void)multiple;
          }
          // One channel confirms in order: the highest tag seen is what is confirmed so far.
          const long now = std::max(acked, static_cast<long>(tag));
          confirmed += now - acked;
          acked = now;
        }
      }
      amqp_channel_close(conn, 1, AMQP_REPLY_SUCCESS);
      amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
      amqp_destroy_connection(conn);
    });
  }
  for (auto& t : threads) t.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("rabbitmq messages=%ld nacked=%ld seconds=%.3f msgs_per_s=%.0f\n", confirmed.load(),
              nacked.load(), seconds, static_cast<double>(confirmed.load()) / seconds);
  return nacked.load() == 0 ? 0 : 1;
}
