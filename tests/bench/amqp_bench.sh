#!/usr/bin/env bash
# AMQP throughput: the raw broker next to AMQP -> bus -> AMQP, in the same run, on one
# RabbitMQ started here (127.0.0.1, free ports, own epmd and data dir, stopped by PID).
#
#   tests/bench/amqp_bench.sh [BUILD_DIR] [COUNT] [SIZE]
#     BUILD_DIR  default build/release if it has bin/busway, else build/dev
#     COUNT      messages per measurement (default 20000)
#     SIZE       body bytes (default 1024)
#
# Both measurements use amqp-tool's `pipe`: one publisher with confirms (at most WINDOW
# unconfirmed, persistent messages, durable queues) and one consumer acking each message,
# running at the same time; the figure is messages / seconds from the first publish to the
# last message consumed.
#   raw: publisher -> queue raw -> consumer
#   bus: publisher -> queue bench-in -> busway (amqp consumer, route, amqp producer with
#        confirms) -> queue bench-out -> consumer
#   relay: the same two-queue path with amqp-tool's relay (rabbitmq-c, consume -> publish
#        with confirm -> ack, one thread) instead of busway: the broker work of an
#        AMQP -> X -> AMQP hop without the bus, so bus/relay is the bus's own cost.
# Run by hand (never by ctest). Prints the rates and the ratios bus/raw and bus/relay.
set -euo pipefail

here=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-}
if [[ -z "$build" ]]; then
  if [[ -x "$here/build/release/bin/busway" && -x "$here/build/release/bin/amqp-tool" ]]; then build=$here/build/release; else build=$here/build/dev; fi
fi
count=${2:-20000}
size=${3:-1024}
window=${WINDOW:-500}
prefetch=${PREFETCH:-500}
busway=$build/bin/busway
tool=$build/bin/amqp-tool
[[ -x "$busway" && -x "$tool" ]] || { echo "amqp_bench: build busway, amqp and amqp-tool in $build first" >&2; exit 2; }

script=$(ls -d /usr/lib/rabbitmq/lib/rabbitmq_server-*/sbin/rabbitmq-server 2>/dev/null | sort | tail -1)
[[ -x "$script" ]] || { echo "amqp_bench: rabbitmq-server is not installed (packaging/install-deps.sh --group servers)" >&2; exit 2; }

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
port=$(free_port); dist=$(free_port); epmd_port=$(free_port)
dir=$(mktemp -d /tmp/amqp-bench.XXXXXX)
epmd_pid=; script_pid=; beam_pid=; bus_pid=; relay_pid=
cleanup() {
  [[ -n "$bus_pid" ]] && kill "$bus_pid" 2>/dev/null && wait "$bus_pid" 2>/dev/null || true
  [[ -n "$relay_pid" ]] && kill "$relay_pid" 2>/dev/null && wait "$relay_pid" 2>/dev/null || true
  [[ -z "$beam_pid" && -n "$script_pid" ]] && beam_pid=$(find_beam)
  if [[ -n "$beam_pid" ]]; then kill -TERM "$beam_pid" 2>/dev/null || true; for _ in $(seq 1 100); do kill -0 "$beam_pid" 2>/dev/null || break; sleep 0.2; done; kill -KILL "$beam_pid" 2>/dev/null || true; fi
  if [[ -n "$script_pid" ]]; then kill -TERM "$script_pid" 2>/dev/null || true; wait "$script_pid" 2>/dev/null || true; fi
  [[ -n "$epmd_pid" ]] && kill "$epmd_pid" 2>/dev/null && wait "$epmd_pid" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

echo '[].' > "$dir/enabled_plugins"
printf 'listeners.tcp.default = 127.0.0.1:%s\nloopback_users.guest = true\ndisk_free_limit.absolute = 10MB\nvm_memory_high_watermark.relative = 0.8\nlog.console = false\n' "$port" > "$dir/rabbitmq.conf"
/usr/bin/epmd -port "$epmd_port" -address 127.0.0.1 > "$dir/epmd.log" 2>&1 &
epmd_pid=$!
env HOME="$dir" RABBITMQ_NODENAME="busway-bench-$$@localhost" RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
  RABBITMQ_NODE_PORT="$port" RABBITMQ_DIST_PORT="$dist" ERL_EPMD_PORT="$epmd_port" \
  RABBITMQ_MNESIA_BASE="$dir/mnesia" RABBITMQ_LOG_BASE="$dir/log" RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf" \
  RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins" RABBITMQ_PID_FILE="$dir/rabbitmq.pid" \
  RABBITMQ_CONF_ENV_FILE="$dir/rabbitmq-env.conf" RABBITMQ_ADVANCED_CONFIG_FILE="$dir/advanced.config" \
  "$script" > "$dir/rabbitmq.out" 2>&1 < /dev/null &
script_pid=$!
find_beam() { ps -o pid=,comm= --ppid "$script_pid" 2>/dev/null | awk '$2 == "beam.smp" {print $1}' | head -1 || true; }
for _ in $(seq 1 300); do beam_pid=$(find_beam); [[ -n "$beam_pid" ]] && break; sleep 0.1; done
[[ -n "$beam_pid" ]] || { echo "amqp_bench: rabbitmq-server started no Erlang VM" >&2; cat "$dir/rabbitmq.out" >&2; exit 1; }
echo "amqp_bench: RabbitMQ on 127.0.0.1:$port (beam pid $beam_pid), build $build, $count messages of $size bytes, window $window, prefetch $prefetch"
for i in $(seq 1 360); do (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.5; [[ $i == 360 ]] && { echo "amqp_bench: broker did not start" >&2; cat "$dir/rabbitmq.out" >&2; exit 1; }; done

rate() { sed -n 's/.*rate=\([0-9]*\).*/\1/p' | tail -1; }

# Warm-up (queues, JIT of the broker's code paths), not measured.
"$tool" pipe --port "$port" --in warm --out warm --count 2000 --size "$size" --window "$window" --prefetch "$prefetch" > /dev/null

raw_out=$("$tool" pipe --port "$port" --in raw --out raw --count "$count" --size "$size" --window "$window" --prefetch "$prefetch")
echo "raw: $raw_out"
raw=$(echo "$raw_out" | rate)

cat > "$dir/bench.xml" <<XML
<?xml version="1.0" encoding="UTF-8"?>
<routes xmlns="urn:busway:routes:1" version="1">
  <route id="bench">
    <from uri="amqp://127.0.0.1:$port/?queue=bench-in&amp;prefetch=$prefetch"/>
    <to uri="amqp://127.0.0.1:$port/?queue=bench-out"/>
  </route>
</routes>
XML
"$busway" run --no-watch --log-level warn "$dir/bench.xml" > "$dir/bus.log" 2>&1 &
bus_pid=$!
sleep 2
"$tool" pipe --port "$port" --in bench-in --out bench-out --count 2000 --size "$size" --window "$window" --prefetch "$prefetch" > /dev/null
bus_out=$("$tool" pipe --port "$port" --in bench-in --out bench-out --count "$count" --size "$size" --window "$window" --prefetch "$prefetch")
echo "bus: $bus_out"
bus=$(echo "$bus_out" | rate)
kill "$bus_pid"; wait "$bus_pid" 2>/dev/null || true; bus_pid=

"$tool" relay --port "$port" --in relay-in --out relay-out --prefetch "$prefetch" > "$dir/relay.log" 2>&1 &
relay_pid=$!
sleep 1
"$tool" pipe --port "$port" --in relay-in --out relay-out --count 2000 --size "$size" --window "$window" --prefetch "$prefetch" > /dev/null
relay_out=$("$tool" pipe --port "$port" --in relay-in --out relay-out --count "$count" --size "$size" --window "$window" --prefetch "$prefetch")
echo "relay: $relay_out"
relay=$(echo "$relay_out" | rate)
kill "$relay_pid"; wait "$relay_pid" 2>/dev/null || true; relay_pid=

/usr/bin/python3 - "$raw" "$bus" "$relay" <<'PY'
import sys
raw, bus, relay = (float(a) for a in sys.argv[1:4])
print(f"raw broker:              {raw:9.0f} msgs/s  (publisher+confirms -> queue -> consumer)")
print(f"AMQP -> relay -> AMQP:   {relay:9.0f} msgs/s  (two queues, a plain rabbitmq-c relay between: no bus)")
print(f"AMQP -> bus -> AMQP:     {bus:9.0f} msgs/s  (two queues, busway between)")
print(f"ratio bus/raw:           {bus / raw:9.2f}  (the bus path costs {100 * (1 - bus / raw):.0f}% of the raw throughput; target: at most 30%)")
print(f"ratio bus/relay:         {bus / relay:9.2f}  (the bus's own cost over a bare relay: {100 * (1 - bus / relay):.0f}%)")
PY
