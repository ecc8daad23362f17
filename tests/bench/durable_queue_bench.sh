#!/usr/bin/env bash
# Durable queue throughput: busway's queue:NAME?durable=true next to RabbitMQ (Debian's
# rabbitmq-server, a durable queue, persistent messages, publisher confirms), same machine,
# same run, same message size, count and concurrency. A message counts only once it is
# acknowledged after it reached the disk (busway: after the fdatasync of its group commit;
# RabbitMQ: its publisher confirm).
#
#   tests/bench/durable_queue_bench.sh [BUILD_DIR] [MESSAGES] [PRODUCERS] [WINDOW] [SIZE]
#   defaults: build/release (else build/dev) 50000 messages, 4 producers, 256 unconfirmed
#   per producer, 1024-byte bodies
#
# Builds nothing: build busway_durable_queue_load and busway_amqp_confirm_load first
# (cmake --build --preset release --target busway_durable_queue_load busway_amqp_confirm_load).
# RabbitMQ runs as a private node in a temporary folder on free loopback ports, with its own
# epmd, and is stopped by PID.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-}
if [[ -z $build ]]; then
  if [[ -x $root/build/release/tests/bench/busway_durable_queue_load ]]; then build=$root/build/release; else build=$root/build/dev; fi
fi
messages=${2:-50000}
producers=${3:-4}
window=${4:-256}
size=${5:-1024}
busway_load=$build/tests/bench/busway_durable_queue_load
amqp_load=$build/tests/bench/busway_amqp_confirm_load
for program in "$busway_load" "$amqp_load"; do
  [[ -x $program ]] || { echo "missing $program: build busway_durable_queue_load and busway_amqp_confirm_load" >&2; exit 2; }
done

tmp=$(mktemp -d /tmp/busway-bench.XXXXXX)
epmd_pid= rabbit_pid=
cleanup() {
  [[ -n $rabbit_pid ]] && kill "$rabbit_pid" 2>/dev/null && wait "$rabbit_pid" 2>/dev/null
  [[ -n $epmd_pid ]] && kill "$epmd_pid" 2>/dev/null && wait "$epmd_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

echo "durable queue benchmark: $messages messages of $size bytes, $producers producers, $window unconfirmed each"
echo "disk: $(df -h "$tmp" | awk 'NR==2 {print $1, $2}'), cores: $(nproc), load: $(cut -d' ' -f1-3 /proc/loadavg)"

# busway first, while nothing else of ours runs.
busway_line=$("$busway_load" "$tmp/busway-data" "$messages" "$producers" "$window" "$size" log)
echo "$busway_line"
rm -rf "$tmp/busway-data"
# The two storage engines alone, same producers and messages (docs/reliability.md).
rawlog_line=$("$busway_load" "$tmp/rawlog-data" "$messages" "$producers" "$window" "$size" rawlog)
echo "$rawlog_line"
rm -rf "$tmp/rawlog-data"
sqlite_line=$("$busway_load" "$tmp/sqlite-data" "$messages" "$producers" "$window" "$size" sqlite)
echo "$sqlite_line"
rm -rf "$tmp/sqlite-data"

# RabbitMQ: private node, own epmd, own ports, own folders.
amqp_port=$(free_port); dist_port=$(free_port); epmd_port=$(free_port)
export HOME=$tmp/home ERL_EPMD_PORT=$epmd_port
mkdir -p "$HOME" "$tmp/mnesia" "$tmp/log"
epmd -port "$epmd_port" -address 127.0.0.1 &
epmd_pid=$!
echo '[].' > "$tmp/enabled_plugins"
cat > "$tmp/rabbitmq.conf" <<CONF
listeners.tcp.1 = 127.0.0.1:$amqp_port
loopback_users = none
CONF
export RABBITMQ_NODENAME=bench-$$@localhost RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT=$amqp_port \
  RABBITMQ_DIST_PORT=$dist_port RABBITMQ_MNESIA_BASE=$tmp/mnesia RABBITMQ_LOG_BASE=$tmp/log \
  RABBITMQ_ENABLED_PLUGINS_FILE=$tmp/enabled_plugins RABBITMQ_CONFIG_FILE=$tmp/rabbitmq \
  RABBITMQ_PID_FILE=$tmp/rabbit.pid RABBITMQ_SERVER_START_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
/usr/lib/rabbitmq/bin/rabbitmq-server > "$tmp/rabbit.out" 2>&1 &
rabbit_pid=$!
for _ in $(seq 1 240); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$amqp_port") 2>/dev/null; then break; fi
  if ! kill -0 "$rabbit_pid" 2>/dev/null; then echo "rabbitmq-server did not start:" >&2; tail -20 "$tmp/rabbit.out" >&2; exit 1; fi
  sleep 0.5
done
rabbit_line=$("$amqp_load" "$amqp_port" bench "$messages" "$producers" "$window" "$size")
echo "$rabbit_line"

busway_rate=$(sed -n 's/.*msgs_per_s=\([0-9]*\).*/\1/p' <<<"$busway_line")
rabbit_rate=$(sed -n 's/.*msgs_per_s=\([0-9]*\).*/\1/p' <<<"$rabbit_line")
sqlite_rate=$(sed -n 's/.*msgs_per_s=\([0-9]*\).*/\1/p' <<<"$sqlite_line")
rawlog_rate=$(sed -n 's/.*msgs_per_s=\([0-9]*\).*/\1/p' <<<"$rawlog_line")
awk -v b="$busway_rate" -v r="$rabbit_rate" -v s="$sqlite_rate" -v l="$rawlog_rate" 'BEGIN {
  printf "engines alone: segment log %d msgs/s, sqlite wal %d msgs/s (%.2fx)\n", l, s, l / s
  printf "busway %d msgs/s, rabbitmq %d msgs/s, ratio %.2fx (target >= 2x)\n", b, r, b / r }'
