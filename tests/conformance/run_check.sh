#!/usr/bin/env bash
# Runs `busway plugins check` with real, private addresses: every @TMP@ in the arguments
# becomes a fresh temporary folder (removed afterwards) and every @PORT@ a free TCP port on
# 127.0.0.1 with nothing listening (the kit may start a consumer on it, and a producer's
# send to it fails with "connection refused", which is a legal, explained answer).
# usage: run_check.sh BUSWAY PLUGIN.so [kit arguments...]
set -euo pipefail
busway=$1
plugin=$2
shift 2
tmp=$(mktemp -d /tmp/busway-conformance-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
free_port() {
  /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
port=$(free_port)
args=()
for a in "$@"; do
  a=${a//@TMP@/$tmp}
  a=${a//@PORT@/$port}
  args+=("$a")
done
echo "busway plugins check ${args[*]} $plugin"
exec "$busway" plugins check "${args[@]}" "$plugin"
