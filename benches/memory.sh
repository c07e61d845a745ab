#!/usr/bin/env bash
# Memory that follows the work, and the scale of configuration (release build, everything on
# 127.0.0.1 and stopped at the end). Resident memory is VmRSS from /proc, after IDLE seconds
# without requests (the warm-instance pools trim idle instances):
# 1. examples/quickstart.toml (its ports moved to free ones), idle after a request on each
#    route.                                                               target <= 50 MB
# 2. Routes: an API of ROUTES http_proxy routes against one of 100; the difference per route.
#                                                                         target <= 2 KB
#    With ROUTES routes: `wasmgate check` time, `POST /admin/reload` time (median of 5,
#    target < 100 ms), and plain proxying to the first and the last route against the 100-route
#    gateway's (route matching unaffected by route count).
# 3. One Python plugin (the token authorizer, isolation "reuse"), idle after 50 calls, against
#    the same gateway without it; and after 40 s idle, once its warm instances (idle for 30 s)
#    have been dropped.                                                   target <= 60 MB
#
#   benches/memory.sh
#   ROUTES=20000 IDLE=30 WASMGATE=/path/to/wasmgate benches/memory.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROUTES="${ROUTES:-10000}"
IDLE="${IDLE:-12}"
DURATION="${DURATION:-4}"
source benches/common.sh
bench_setup
if [ -z "${WASMGATE:-}" ]; then
  cargo build --release --quiet -p wasmgate
  WASMGATE="$CARGO_TARGET_DIR/release/wasmgate"
fi
BACKEND_PORT=$(free_port)
backend_conf "$work/backend" "$BACKEND_PORT"
nginx -p "$work/backend" -c "$work/backend/nginx.conf" -g 'daemon off;' & pids+=($!)

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
mb() { python3 -c "print(round($1 / 1024, 1))"; }

# start CONFIG ADMIN_PORT: a gateway on CONFIG, waited for; sets $gateway.
start() {
  RUST_LOG=error "$WASMGATE" serve "$1" & pids+=($!)
  gateway=$!
  wait_for "http://127.0.0.1:$2/readyz" 300
}
stop() { kill -INT "$gateway"; wait "$gateway" 2>/dev/null || true; }

# get URL [HEADER]: one request, its status.
get() { curl -s -o /dev/null -w '%{http_code}' ${2:+-H "$2"} "$1"; }

echo "1. examples/quickstart.toml, idle ${IDLE} s after a request on each route"
port=$(free_port); admin=$(free_port)
mkdir -p "$work/quickstart/examples"
ln -s "$PWD/plugins" "$work/quickstart/plugins"
sed -e "s/127.0.0.1:8080/127.0.0.1:$port/g" -e "s/127.0.0.1:9901/127.0.0.1:$admin/" \
  -e 's/^access_log = "stdout"/access_log = "off"/' \
  examples/quickstart.toml > "$work/quickstart/examples/quickstart.toml"
start "$work/quickstart/examples/quickstart.toml" "$admin"
for path in hello pets/7 pets/7 orders stock nope; do
  get "http://127.0.0.1:$port/prod/$path" "authorization: Bearer demo-token" >/dev/null
done
busy=$(rss_kb "$gateway")
sleep "$IDLE"
idle=$(rss_kb "$gateway")
echo "   after the requests $(mb "$busy") MB; idle $(mb "$idle") MB (target <= 50)"
stop

# routes_config N: an API of N http_proxy routes GET /r0 .. /r<N-1> to the backend.
routes_config() {
  local dir="$work/routes-$1"
  mkdir -p "$dir"
  port=$(free_port); admin=$(free_port)
  {
    server_conf "$port" "$admin" 2 "$dir/state"
    printf '[upstreams.backend]\ntargets = ["127.0.0.1:%s"]\n' "$BACKEND_PORT"
    printf '[apis.bench]\ntype = "http"\n[apis.bench.stages."$default"]\n'
    python3 - "$1" <<'PY'
import sys
for i in range(int(sys.argv[1])):
    print(f'[apis.bench.routes."GET /r{i}"]\n'
          f'integration = {{ type = "http_proxy", uri = "http://backend/r{i}" }}')
PY
  } > "$dir/gateway.toml"
  config="$dir/gateway.toml"
}

# throughput PORT PATH: requests/s of DURATION seconds of wrk.
throughput() {
  wrk -t1 -c32 -d"${DURATION}s" "http://127.0.0.1:$1$2" | awk '/Requests\/sec/ {print int($2)}'
}

echo "2. $ROUTES routes against 100"
routes_config 100
start "$config" "$admin"
[ "$(get "http://127.0.0.1:$port/r99")" = 200 ]
small_rss=$(rss_kb "$gateway")
small_first=$(throughput "$port" /r0)
stop
routes_config "$ROUTES"
started=$(date +%s%N)
"$WASMGATE" check "$config" >/dev/null
check_ms=$(ms_since "$started")
start "$config" "$admin"
[ "$(get "http://127.0.0.1:$port/r$((ROUTES - 1))")" = 200 ]
large_rss=$(rss_kb "$gateway")
reloads=()
for _ in 1 2 3 4 5; do
  started=$(date +%s%N)
  curl -sf -o /dev/null -X POST "http://127.0.0.1:$admin/admin/reload"
  reloads+=("$(ms_since "$started")")
done
reload_ms=$(printf '%s\n' "${reloads[@]}" | median_of)
# A reload answers first and frees what it replaced after: read the memory once that is done.
sleep 2
after_reload_rss=$(rss_kb "$gateway")
large_first=$(throughput "$port" /r0)
large_last=$(throughput "$port" "/r$((ROUTES - 1))")
stop
per_route=$(( (large_rss - small_rss) * 1024 / (ROUTES - 100) ))
echo "   RSS: 100 routes $(mb "$small_rss") MB, $ROUTES routes $(mb "$large_rss") MB" \
  "($(mb "$after_reload_rss") MB 2 s after 5 reloads): ${per_route} bytes per route (target <= 2048)"
echo "   $ROUTES routes: check ${check_ms} ms; reload ${reload_ms} ms median of ${reloads[*]} (target < 100)"
echo "   requests/s: 100 routes, first ${small_first}; $ROUTES routes, first ${large_first}," \
  "last ${large_last}: last/first(100) $(python3 -c "print(round($large_last / $small_first, 2))")"

# plugin_config NAME [python]: a gateway with a mock route, and the Python plugin's route.
plugin_config() {
  local dir="$work/$1"
  mkdir -p "$dir"
  port=$(free_port); admin=$(free_port)
  {
    server_conf "$port" "$admin" 2 "$dir/state" |
      sed "/^\[server\]/a plugin_cache_dir = \"$work/cache\""
    printf '[apis.a]\ntype = "http"\n[apis.a.stages.s]\n'
    printf '[apis.a.routes."GET /plain"]\nintegration = { type = "mock", body = "plain" }\n'
    if [ -n "${2:-}" ]; then
      printf '[plugins.python]\npath = "%s/plugins/dist/token_authorizer_py.wasm"\n' "$PWD"
      printf 'isolation = "reuse"\nmemory_mb = 128\ntimeout_ms = 2000\n'
      printf 'config = { tokens = { "t" = { principal = "p" } } }\n'
      printf '[apis.a.routes."GET /python"]\nplugins = ["python"]\n'
      printf 'integration = { type = "mock", body = "ok" }\n'
    fi
  } > "$dir/gateway.toml"
  config="$dir/gateway.toml"
}

# idle_rss ROUTE...: RSS IDLE seconds after 50 requests on each route of the started gateway.
idle_rss() {
  local route
  for route in "$@"; do
    for _ in $(seq 50); do get "http://127.0.0.1:$port/s/$route" "authorization: Bearer t" >/dev/null; done
  done
  sleep "$IDLE"
  rss_kb "$gateway"
}

echo "3. one Python plugin, idle ${IDLE} s after 50 calls"
plugin_config none
start "$config" "$admin"
base=$(idle_rss plain)
stop
plugin_config python python
"$WASMGATE" plugins compile "$config" >/dev/null 2>&1
start "$config" "$admin"
[ "$(get "http://127.0.0.1:$port/s/python" "authorization: Bearer t")" = 200 ]
python=$(idle_rss plain python)
# Warm instances idle for 30 s are dropped (plugin::pool, looked at every 5 s).
sleep $((40 - IDLE > 0 ? 40 - IDLE : 0))
trimmed=$(rss_kb "$gateway")
stop
echo "   no plugins $(mb "$base") MB; one Python plugin $(mb "$python") MB" \
  "(+$(mb $((python - base))) MB), $(mb "$trimmed") MB after 40 s idle, its warm instances" \
  "dropped (target <= 60 MB in all)"
