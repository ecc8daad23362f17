#!/usr/bin/env bash
# http_bench.sh: busway's http plugin against nginx, same load, loopback only. Run by hand.
#
#   cmake --preset release && cmake --build --preset release --target busway busway_plugins
#   tests/bench/http_bench.sh [DURATION_SECONDS] [CONNECTIONS] [THREADS]
#
# nginx (worker_processes 1, access log off) answers every POST with return 200 '{"ok":true}'.
# busway runs one route: POST /orders with a 1 KB JSON order, a <choice> on $.priority,
# a JSON reply. wrk POSTs the same 1 KB body to both with the same threads, connections and
# duration (defaults -t2 -c32 -d10s, after a 2 s warm-up each; under a minute in all) and
# this prints req/s and p99 latency for each and the ratio busway/nginx.
# Both servers, wrk and this script share the machine's cores: compare ratios, not absolutes.
set -euo pipefail

DURATION=${1:-10}
CONNECTIONS=${2:-32}
THREADS=${3:-2}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUSWAY=${BUSWAY:-$ROOT/build/release/bin/busway}
PLUGIN=$(dirname "$BUSWAY")/../lib/busway/plugins/http.so
NGINX=${NGINX:-/usr/sbin/nginx}
WRK=${WRK:-/usr/bin/wrk}
PYTHON=/usr/bin/python3

if [[ ! -x $BUSWAY || ! -f $PLUGIN ]]; then
  echo "needs a release build of busway and its plugins ($BUSWAY, $PLUGIN):" >&2
  echo "  cmake --preset release && cmake --build --preset release --target busway busway_plugins" >&2
  exit 1
fi
for program in "$NGINX" "$WRK" "$PYTHON"; do
  [[ -x $program ]] || { echo "missing $program: packaging/install-deps.sh --group servers" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/busway-http-bench.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 1 200); do
    if "$PYTHON" -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),0.2)" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "nothing listens on port $1" >&2
  return 1
}

NGINX_PORT=$(free_port)
BUS_PORT=$(free_port)

# nginx with its own prefix, config and pid file.
mkdir -p "$WORK/nginx/logs" "$WORK/nginx/tmp"
cat > "$WORK/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx/tmp/body;
  proxy_temp_path $WORK/nginx/tmp/proxy;
  fastcgi_temp_path $WORK/nginx/tmp/fastcgi;
  uwsgi_temp_path $WORK/nginx/tmp/uwsgi;
  scgi_temp_path $WORK/nginx/tmp/scgi;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / {
      default_type application/json;
      return 200 '{"ok":true}';
    }
  }
}
CONF
"$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/logs/error.log" &
PIDS+=($!)

# busway with one route: a choice on a JSON field, a JSON reply.
cat > "$WORK/routes.xml" <<XML
<?xml version="1.0" encoding="UTF-8"?>
<routes xmlns="urn:busway:routes:1" version="1">
  <route id="orders">
    <from uri="http:127.0.0.1:$BUS_PORT/orders?methods=POST"/>
    <choice>
      <when jsonpath="\$.priority == 'express'">
        <set-body media-type="application/json">{"ok":true,"lane":"express"}</set-body>
      </when>
      <otherwise>
        <set-body media-type="application/json">{"ok":true,"lane":"standard"}</set-body>
      </otherwise>
    </choice>
  </route>
</routes>
XML
"$BUSWAY" run "$WORK/routes.xml" > "$WORK/busway.log" 2>&1 &
PIDS+=($!)
wait_port "$NGINX_PORT"
wait_port "$BUS_PORT"

# A 1 KB order.
"$PYTHON" - "$WORK/order.json" <<'PY'
import json, sys
order = {"id": "ord-1001", "priority": "express", "customer": {"id": "c-77", "name": "ACME Tools"}, "lines": []}
i = 0
while len(json.dumps(order)) < 1000:
    i += 1
    order["lines"].append({"sku": "SKU-%04d" % i, "qty": i % 7 + 1, "price": 9.99})
text = json.dumps(order)
open(sys.argv[1], "w").write(text + " " * (1024 - len(text)))
PY
cat > "$WORK/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$WORK/order.json", "r")
wrk.body = f:read("*a")
f:close()
LUA

check() {
  local answer
  answer=$(curl -s -X POST -H 'Content-Type: application/json' --data-binary @"$WORK/order.json" "$1")
  echo "  $2 answers: $answer"
}
echo "wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s, POST of $(wc -c < "$WORK/order.json") bytes; nginx worker_processes 1"
check "http://127.0.0.1:$NGINX_PORT/orders" nginx
check "http://127.0.0.1:$BUS_PORT/orders" busway

run() {  # url -> "req/s p99"
  "$WRK" -t"$THREADS" -c"$CONNECTIONS" -d2s -s "$WORK/post.lua" "$1" > /dev/null  # warm-up
  local out
  out=$("$WRK" -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$WORK/post.lua" "$1")
  local rps p99 errors
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<< "$out")
  p99=$(awk '$1 == "99%" {print $2}' <<< "$out")
  errors=$(grep -E 'Non-2xx|Socket errors' <<< "$out" | tr '\n' ' ' || true)
  echo "$rps $p99 $errors"
}

read -r NGINX_RPS NGINX_P99 NGINX_ERR <<< "$(run "http://127.0.0.1:$NGINX_PORT/orders")"
read -r BUS_RPS BUS_P99 BUS_ERR <<< "$(run "http://127.0.0.1:$BUS_PORT/orders")"

printf '%-8s %12s %10s  %s\n' "server" "req/s" "p99" "errors"
printf '%-8s %12s %10s  %s\n' "nginx" "$NGINX_RPS" "$NGINX_P99" "${NGINX_ERR:-none}"
printf '%-8s %12s %10s  %s\n' "busway" "$BUS_RPS" "$BUS_P99" "${BUS_ERR:-none}"
"$PYTHON" -c "print('busway/nginx: %.2f (target >= 0.50)' % ($BUS_RPS / $NGINX_RPS))"
