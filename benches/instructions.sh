#!/usr/bin/env bash
# Instructions per request of two wasmgate builds under callgrind: a deterministic A/B for
# changes too small for compare.sh to see through this VM's drifting speed. Each build serves
# one plain http_proxy route on one worker thread; REQUESTS sequential keep-alive
# requests are counted after a warm-up, and the busiest functions of each build are listed
# (inclusive) so the difference can be read. Plain only: wasmtime's pooling allocator reserves
# more address space than valgrind allows, so plugin routes are measured by compare.sh.
#
#   benches/instructions.sh OLD_BINARY NEW_BINARY       # 2000 requests
#   REQUESTS=5000 TOP=40 benches/instructions.sh OLD NEW
#   SAVE=/tmp/instr benches/instructions.sh OLD NEW     # keep every function's numbers and the
#                                                       # callgrind dumps there
#   benches/instructions.sh .../examples/bare_pingora NEW   # wasmgate against the bare pingora floor
#
# A binary named `bare_pingora` (benches/bare_pingora.rs) is run as the bare proxy in front of
# the same backend, so either side can be the floor.
set -euo pipefail
cd "$(dirname "$0")/.."
OLD="$1"
NEW="$2"
REQUESTS="${REQUESTS:-2000}"
TOP="${TOP:-25}"
source benches/common.sh
bench_setup
command -v valgrind >/dev/null 2>&1 || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null
}

BACKEND_PORT=$(free_port)
backend_conf "$work/backend" "$BACKEND_PORT"
nginx -p "$work/backend" -c "$work/backend/nginx.conf" -g 'daemon off;' & pids+=($!)

# send PORT PATH COUNT [CONNECTIONS]: COUNT requests one after another on each of CONNECTIONS
# keep-alive connections at once (the warm-up uses two, so every build keeps more than one
# backend connection pooled and the measured requests find the pool in the same state).
send() {
  python3 - "$@" <<'PY'
import http.client, sys, threading
port, path, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
connections = int(sys.argv[4]) if len(sys.argv) > 4 else 1
def run():
    conn = http.client.HTTPConnection("127.0.0.1", port)
    for _ in range(count):
        conn.request("GET", path, headers={"authorization": "Bearer bench-token"})
        response = conn.getresponse()
        response.read()
        assert response.status == 200, response.status
threads = [threading.Thread(target=run) for _ in range(connections)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
PY
}

# measure NAME BINARY: instructions per request, and the top functions.
measure() {
  local port admin out
  port=$(free_port); admin=$(free_port); out="$work/$1"
  mkdir -p "$out"
  {
    server_conf "$port" "$admin" 1 "$out/state"
    plain_route "$BACKEND_PORT"
  } > "$out/gateway.toml"
  local args=(serve "$out/gateway.toml") ready="http://127.0.0.1:$admin/readyz"
  if is_bare "$2"; then
    args=("127.0.0.1:$port" "127.0.0.1:$BACKEND_PORT" 1)
    ready="http://127.0.0.1:$port/"
  fi
  RUST_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.%p" \
    "$2" "${args[@]}" 2>"$out/valgrind.log" &
  local pid=$!
  pids+=($pid)
  wait_for "$ready" 120 || { cat "$out/valgrind.log" >&2; exit 1; }
  send "$port" / 200 2
  callgrind_control -z "$pid" >/dev/null
  send "$port" / "$REQUESTS"
  callgrind_control -d plain "$pid" >/dev/null
  kill "$pid"; wait "$pid" 2>/dev/null || true
  local dump total
  dump=$(compgen -G "$out/callgrind.$pid.*" | head -1)
  total=$(awk '/^(summary|totals):/ {print $2; exit}' "$dump")
  echo "$((total / REQUESTS))" > "$out/per-request"
  # per_function INCLUSIVE: "instructions-per-request<TAB>function" for every function.
  per_function() {
    callgrind_annotate --inclusive="$1" --threshold=100 "$dump" 2>/dev/null \
      | awk -v n="$REQUESTS" '
          /^-+$/ {rule++; next}
          rule >= 3 && $1 ~ /^[0-9,]+$/ {
            cost = $1; gsub(",", "", cost)
            name = $0; sub(/^ *[0-9,]+ *(\([^)]*\) *)?/, "", name); sub(/ \[[^]]*\]$/, "", name)
            printf "%.0f\t%s\n", cost / n, name
          }'
  }
  cp "$dump" "$out/callgrind.out"
  per_function yes > "$out/inclusive"
  head -"$TOP" "$out/inclusive" > "$out/top"
  per_function no > "$out/self"
}

measure old "$OLD"
measure new "$NEW"

old=$(cat "$work/old/per-request")
new=$(cat "$work/new/per-request")
for name in old new; do
  echo "-- $name, inclusive instructions per request:"
  cat "$work/$name/top"
done
echo "-- functions whose own instructions per request changed most (new - old, old, new):"
python3 - "$work/old/self" "$work/new/self" "$TOP" <<'PY'
import sys
def load(path):
    costs = {}
    for line in open(path):
        cost, name = line.rstrip("\n").split("\t", 1)
        costs[name] = costs.get(name, 0) + int(cost)
    return costs
old, new, top = load(sys.argv[1]), load(sys.argv[2]), int(sys.argv[3])
names = set(old) | set(new)
changes = sorted(names, key=lambda n: -abs(new.get(n, 0) - old.get(n, 0)))
for name in changes[:top]:
    a, b = old.get(name, 0), new.get(name, 0)
    print(f"{b - a:+7d} {a:7d} {b:7d}  {name[:150]}")
PY
if [ -n "${SAVE:-}" ]; then
  mkdir -p "$SAVE"
  for name in old new; do
    cp "$work/$name/inclusive" "$SAVE/$name.inclusive"
    cp "$work/$name/self" "$SAVE/$name.self"
    cp "$work/$name/callgrind.out" "$SAVE/$name.callgrind"
  done
fi
echo "plain: instructions per request old $old, new $new, new/old $(python3 -c "print(round($new / $old, 3))")"
