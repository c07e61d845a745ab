#!/usr/bin/env bash
# Instructions per request of two wasmgate builds under callgrind: a deterministic A/B for
# changes too small for compare.sh to see through this VM's drifting speed. Each build serves
# the plain and chain routes (benches/common.sh) on one worker thread; REQUESTS sequential
# keep-alive requests per route are counted after a warm-up, and the busiest functions of each
# build are listed (inclusive) so the difference can be read.
#
#   benches/instructions.sh OLD_BINARY NEW_BINARY       # 2000 requests per route
#   REQUESTS=5000 TOP=40 benches/instructions.sh OLD NEW
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

# send PORT PATH COUNT: COUNT requests one after another on one keep-alive connection.
send() {
  python3 - "$@" <<'PY'
import http.client, sys
port, path, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
conn = http.client.HTTPConnection("127.0.0.1", port)
for _ in range(count):
    conn.request("GET", path, headers={"authorization": "Bearer bench-token"})
    response = conn.getresponse()
    response.read()
    assert response.status == 200, response.status
PY
}

# measure NAME BINARY: instructions per request of each route, and the top functions.
measure() {
  local port admin out
  port=$(free_port); admin=$(free_port); out="$work/$1"
  mkdir -p "$out"
  cat > "$out/gateway.toml" <<CONF
[server]
listen = ["127.0.0.1:$port"]
threads = 1
access_log = "off"
watch_config = false
throttle = { rate = 1000000, burst = 100000 }
state_dir = "$out/state"
[admin]
listen = "127.0.0.1:$admin"
$(plain_and_chain "$BACKEND_PORT" reuse)
CONF
  RUST_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.%p" \
    "$2" serve "$out/gateway.toml" 2>"$out/valgrind.log" &
  local pid=$!
  pids+=($pid)
  wait_for "http://127.0.0.1:$admin/readyz" 900
  for route in plain chain; do
    local path=/; [ "$route" = chain ] && path=/chain/x
    send "$port" "$path" 200
    callgrind_control -z "$pid" >/dev/null
    send "$port" "$path" "$REQUESTS"
    callgrind_control -d "$route" "$pid" >/dev/null
  done
  kill "$pid"; wait "$pid" 2>/dev/null || true
  for route in plain chain; do
    local dump
    dump=$(ls "$out"/callgrind.*."$route"* 2>/dev/null | head -1)
    [ -n "$dump" ] || dump=$(ls -t "$out"/callgrind.* | grep -v "\.$pid$" | head -1)
    local total
    total=$(awk '/^(summary|totals):/ {print $2; exit}' "$dump")
    echo "$1 $route $((total / REQUESTS))" >> "$work/per-request"
    callgrind_annotate --inclusive=yes --threshold=100 "$dump" 2>/dev/null \
      | awk -v n="$REQUESTS" -v top="$TOP" '
          /^-+$/ {rule++; next}
          rule >= 3 && $1 ~ /^[0-9,]+$/ && shown < top {
            gsub(",", "", $1); $2 = ""; printf "%9.0f %s\n", $1 / n, substr($0, index($0, $3)); shown++
          }' > "$out/$route.top"
  done
}

measure old "$OLD"
measure new "$NEW"

for route in plain chain; do
  old=$(awk -v r="$route" '$1 == "old" && $2 == r {print $3}' "$work/per-request")
  new=$(awk -v r="$route" '$1 == "new" && $2 == r {print $3}' "$work/per-request")
  echo "== $route: instructions per request old $old, new $new, new/old $(python3 -c "print(round($new / $old, 3))")"
  for name in old new; do
    echo "-- $name, inclusive per request:"
    cat "$work/$name/$route.top"
  done
done
