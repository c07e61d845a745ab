#!/usr/bin/env bash
# A plugin that burns its whole deadline, beside plain traffic: how far past the deadline its
# calls end (client-side p50/p99/max, the request's own read and answer included, and in the
# gateway from its access log's responseLatency) and what plain requests on the same two worker
# threads see with and without the looping calls.
#
#   benches/plugin_deadline.sh                       # deadline 50 ms, 4 looping clients, 8 s
#   DEADLINE_MS=20 LOOPERS=8 DURATION=10 benches/plugin_deadline.sh
#   WASMGATE=/path/to/wasmgate benches/plugin_deadline.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/common.sh
DEADLINE_MS=${DEADLINE_MS:-50}
LOOPERS=${LOOPERS:-4}
DURATION=${DURATION:-8}
CONNECTIONS=${CONNECTIONS:-16}

bench_setup
if [ -z "${WASMGATE:-}" ]; then
  cargo build --release --quiet -p wasmgate
  WASMGATE="$CARGO_TARGET_DIR/release/wasmgate"
fi
backend_port=$(free_port) port=$(free_port) admin_port=$(free_port)
backend_conf "$work/backend" "$backend_port"
nginx -c "$work/backend/nginx.conf" -g 'daemon off;' & pids+=($!)
{
  server_conf "$port" "$admin_port" 2 "$work/state" |
    sed "s|^access_log = .*|access_log = \"$work/access.log\"|"
  plain_route "$backend_port"
  cat <<CONF

[plugins.hostile]
path = "$PWD/plugins/dist/hostile.wasm"
timeout_ms = $DEADLINE_MS
isolation = "reuse"

[apis.bench.routes."GET /loop"]
plugins = ["hostile"]
integration = { type = "http_proxy", uri = "http://127.0.0.1:$backend_port/" }
CONF
} > "$work/gateway.toml"
"$WASMGATE" serve "$work/gateway.toml" 2>"$work/gateway.log" & pids+=($!)
wait_for "http://127.0.0.1:$port/" 60

plain() {
  chrt --batch 0 wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "http://127.0.0.1:$port/" |
    awk '/Requests\/sec/ {rps=$2} / 50%/ {p50=$2} / 99%/ {p99=$2} END {printf "requests/s %s, p50 %s, p99 %s\n", rps, p50, p99}'
}

# LOOPERS keep-alive connections, each sending `x-attack: loop` requests back to back.
loopers() {
  python3 - "$port" "$LOOPERS" "$DURATION" "$DEADLINE_MS" <<'PY'
import asyncio, sys, time
port, loopers, duration, deadline = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
request = b"GET /loop HTTP/1.1\r\nhost: bench\r\nx-attack: loop\r\n\r\n"
async def client(times, statuses, stop):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    while time.monotonic() < stop:
        started = time.perf_counter()
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length"))
        await reader.readexactly(length)
        times.append((time.perf_counter() - started) * 1000)
        statuses.add(int(head.split()[1]))
async def main():
    times, statuses = [], set()
    stop = time.monotonic() + duration
    await asyncio.gather(*(client(times, statuses, stop) for _ in range(loopers)))
    times.sort()
    at = lambda q: times[min(len(times) - 1, int(len(times) * q))]
    print(f"{len(times)} looping calls (statuses {sorted(statuses)}): p50 {at(.5):.1f} ms, "
          f"p99 {at(.99):.1f} ms, max {times[-1]:.1f} ms; p99 past the deadline: {at(.99) - deadline:+.1f} ms")
asyncio.run(main())
PY
}

echo "deadline ${DEADLINE_MS} ms, ${LOOPERS} looping clients, plain load wrk -c${CONNECTIONS}, ${DURATION} s each"
echo "plain alone:            $(plain)"
loopers > "$work/loopers.txt" &
looping=$!
echo "plain beside loopers:   $(plain)"
wait "$looping"
echo "looping plugin calls:   $(cat "$work/loopers.txt")"
python3 - "$work/access.log" "$DEADLINE_MS" <<'PY'
import json, sys
deadline = float(sys.argv[2])
times = sorted(r["responseLatency"] for r in map(json.loads, open(sys.argv[1])) if r.get("path") == "/loop")
at = lambda q: times[min(len(times) - 1, int(len(times) * q))]
print(f"in the gateway:         p50 {at(.5):.1f} ms, p99 {at(.99):.1f} ms, max {times[-1]:.1f} ms; "
      f"p99 past the deadline: {at(.99) - deadline:+.1f} ms")
PY
