#!/usr/bin/env bash
# MQTT throughput: raw broker vs. through a busway route, in the same run, same broker.
#
#   raw:  publisher -> mosquitto -> subscriber                         (topic raw/t)
#   bus:  publisher -> mosquitto -> busway (mqtt -> mqtt) -> mosquitto -> subscriber
#                                                          (in/t -> out/t)
#   relay (reference): the same two broker hops through a plain libmosquitto relay that
#         republishes from its message callback (no acknowledgement chaining, no bus), to
#         tell what the second broker hop costs from what the bus costs.
# Both legs: QoS 1, 1 KB payloads, COUNT messages, publisher and subscriber in one process
# (busway-mqtt-peer bench); the rate is COUNT / (last arrival - first publish). The bus route
# uses CONSUMERS connections on a shared subscription (each holds one message until its
# route is done, see docs/plugins/mqtt.md). Loopback only; the broker runs on a free port
# with its own config in a temporary folder and is stopped by PID.
#
#   tests/bench/mqtt_bench.sh                       # build/dev, 20000 messages, 3 rounds
#   BUILD_DIR=build/release COUNT=50000 CONSUMERS=16 ROUNDS=3 tests/bench/mqtt_bench.sh
#
# Prints one line per leg and round, and the best-of-rounds figures with the ratio.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD_DIR:-$root/build/dev}
[[ $build = /* ]] || build=$root/$build
count=${COUNT:-20000}
size=${SIZE:-1024}
consumers=${CONSUMERS:-16}
rounds=${ROUNDS:-3}
busway=$build/bin/busway
peer=$build/bin/busway-mqtt-peer
mosquitto=${MOSQUITTO:-/usr/sbin/mosquitto}
for f in "$busway" "$peer" "$mosquitto"; do
  [[ -x $f ]] || { echo "mqtt_bench: $f is missing (build the targets busway, mqtt and busway-mqtt-peer)" >&2; exit 2; }
done

tmp=$(mktemp -d /tmp/busway-mqtt-bench-XXXXXX)
broker_pid=
bus_pid=
relay_pid=
cleanup() {
  [[ -n $relay_pid ]] && kill "$relay_pid" 2>/dev/null && wait "$relay_pid" 2>/dev/null || true
  [[ -n $bus_pid ]] && kill "$bus_pid" 2>/dev/null && wait "$bus_pid" 2>/dev/null || true
  [[ -n $broker_pid ]] && kill "$broker_pid" 2>/dev/null && wait "$broker_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$tmp/mosquitto.conf" <<CONF
user $(id -un)
listener $port 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages 0
max_inflight_messages 1000
set_tcp_nodelay true
log_dest stderr
log_type error
CONF
"$mosquitto" -c "$tmp/mosquitto.conf" 2>"$tmp/mosquitto.log" &
broker_pid=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done

cat > "$tmp/routes.xml" <<XML
<routes xmlns="urn:busway:routes:1">
  <route id="relay">
    <from uri="mqtt://127.0.0.1:$port/in/t?qos=1&amp;consumers=$consumers"/>
    <to uri="mqtt://127.0.0.1:$port/out/t?qos=1&amp;max-inflight=1000"/>
  </route>
</routes>
XML
"$busway" run "$tmp/routes.xml" >"$tmp/bus.log" 2>&1 &
bus_pid=$!
for _ in $(seq 300); do
  [[ $(grep -c "subscribed to" "$tmp/bus.log" || true) -ge $consumers ]] && break
  kill -0 "$bus_pid" 2>/dev/null || { cat "$tmp/bus.log" >&2; exit 1; }
  sleep 0.1
done

# The reference relay: the same two broker hops, through a plain libmosquitto client.
"$peer" relay --port "$port" --topic rin/t --pub-topic rout/t --qos 1 --timeout 3600 >"$tmp/relay.log" 2>&1 &
relay_pid=$!
for _ in $(seq 100); do grep -q ready "$tmp/relay.log" && break; sleep 0.1; done

rate_of() { sed -n 's/.*= \([0-9]*\) msgs\/s.*/\1/p' <<<"$1"; }
best_raw=0
best_bus=0
best_relay=0
echo "mqtt_bench: $count msgs x $size B, QoS 1, $rounds rounds, bus consumers=$consumers, build $build"
for round in $(seq "$rounds"); do
  raw=$("$peer" bench --port "$port" --pub-topic raw/t --sub-topic raw/t --qos 1 --count "$count" --size "$size" --timeout 300)
  echo "round $round raw: $raw"
  bus=$("$peer" bench --port "$port" --pub-topic in/t --sub-topic out/t --qos 1 --count "$count" --size "$size" --timeout 300)
  echo "round $round bus: $bus"
  relay=$("$peer" bench --port "$port" --pub-topic rin/t --sub-topic rout/t --qos 1 --count "$count" --size "$size" --timeout 300)
  echo "round $round plain relay: $relay"
  r=$(rate_of "$raw"); b=$(rate_of "$bus"); l=$(rate_of "$relay")
  (( l > best_relay )) && best_relay=$l
  (( r > best_raw )) && best_raw=$r
  (( b > best_bus )) && best_bus=$b
done
ratio=$(awk -v b="$best_bus" -v r="$best_raw" 'BEGIN { printf "%.2f", b / r }')
cost=$(awk -v b="$best_bus" -v r="$best_raw" 'BEGIN { printf "%.0f", (1 - b / r) * 100 }')
echo "raw broker: $best_raw msgs/s; through the bus: $best_bus msgs/s; ratio bus/raw = $ratio (the bus costs $cost% of raw; target <= 30%)"
relay_ratio=$(awk -v b="$best_bus" -v r="$best_relay" 'BEGIN { printf "%.2f", b / r }')
echo "reference: plain libmosquitto relay over the same two broker hops (no acknowledgement chaining): $best_relay msgs/s; bus/relay = $relay_ratio"
