#!/usr/bin/env bash
# End-to-end MLLP round trips through a running bus (loopback only), printed as figures.
#
#   tests/bench/tcp_mllp.sh [BUSWAY] [CONNECTIONS] [MESSAGES_PER_CONNECTION]
#
# Starts `busway run` with one tcp server route (framing=mllp) that answers an ACK built
# with set-body, then C client connections (Debian's /usr/bin/python3, plain sockets) each
# send N HL7 messages one after the other and wait for every ACK. Prints messages per second
# and the latency percentiles of a round trip. Run by hand; not a ctest test.
set -euo pipefail
BUSWAY=${1:-build/release/bin/busway}
CONNECTIONS=${2:-8}
PER_CONNECTION=${3:-2000}
PYTHON=/usr/bin/python3

work=$(mktemp -d)
trap 'if [[ -n ${bus:-} ]]; then kill "$bus" 2>/dev/null; wait "$bus" 2>/dev/null || true; fi; rm -rf "$work"' EXIT
port=$($PYTHON -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/routes.xml" <<XML
<routes xmlns="urn:busway:routes:1">
  <route id="mllp">
    <from uri="tcp:127.0.0.1:$port?framing=mllp"/>
    <set-body>MSH|^~\&amp;|BUS|HOSP|\${header.hl7.sending-application}|\${header.hl7.sending-facility}|||ACK|A\${header.hl7.control-id}|P|2.5&#13;MSA|AA|\${header.hl7.control-id}&#13;</set-body>
  </route>
</routes>
XML
"$BUSWAY" run "$work/routes.xml" > "$work/bus.log" 2>&1 &
bus=$!
for _ in $(seq 100); do
  grep -q "listening on" "$work/bus.log" && break
  sleep 0.1
done

$PYTHON - "$port" "$CONNECTIONS" "$PER_CONNECTION" <<'PY'
import socket, sys, threading, time
port, connections, per = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
latencies, lock, failures = [], threading.Lock(), [0]

def client(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    mine, buf = [], b""
    for i in range(per):
        cid = f"C{n}-{i}"
        msg = f"MSH|^~\\&|LAB|NORTH|BUS|HOSP|20261201120000||ORU^R01|{cid}|P|2.5\rPID|1||{i}\r"
        t0 = time.perf_counter()
        s.sendall(b"\x0b" + msg.encode() + b"\x1c\r")
        while b"\x1c\r" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                raise SystemExit("the bus closed the connection")
            buf += chunk
        frame, _, buf = buf.partition(b"\x1c\r")
        mine.append(time.perf_counter() - t0)
        if f"MSA|AA|{cid}".encode() not in frame:
            failures[0] += 1
    s.close()
    with lock:
        latencies.extend(mine)

start = time.perf_counter()
threads = [threading.Thread(target=client, args=(n,)) for n in range(connections)]
for t in threads: t.start()
for t in threads: t.join()
elapsed = time.perf_counter() - start
latencies.sort()
pct = lambda p: latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000
print(f"tcp mllp: {connections} connections x {per} messages = {len(latencies)} round trips in {elapsed:.2f}s")
print(f"  {len(latencies) / elapsed:.0f} messages/s; latency p50 {pct(50):.2f} ms, p99 {pct(99):.2f} ms, max {latencies[-1]*1000:.2f} ms; wrong ACKs: {failures[0]}")
PY
