#!/usr/bin/env bash
# What the bench scripts share, sourced by each from the repository root: the tools, a work
# directory whose servers stop at exit, nginx and Envoy configs, a 1 KiB backend, the TOML of
# wasmgate's plain and chain routes, and small helpers.

source scripts/loopback.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/wasmgate-target}"

# bench_setup: the plugins built, wrk and nginx installed from apt if missing, and $work a fresh
# directory; servers whose pids are added to $pids are stopped, and $work removed, at exit.
bench_setup() {
  bash scripts/build-plugins.sh
  local need=()
  command -v wrk >/dev/null 2>&1 || need+=(wrk)
  command -v nginx >/dev/null 2>&1 || need+=(nginx-light)
  if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi
  work=$(mktemp -d)
  pids=()
  trap bench_cleanup EXIT
}

bench_cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}

# nginx_conf DIR WORKERS HTTP: an nginx config in DIR (its log and pid there too), without access
# logs, whose http block holds HTTP.
nginx_conf() {
  mkdir -p "$1"
  cat > "$1/nginx.conf" <<CONF
worker_processes $2;
error_log $1/error.log;
pid $1/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
$3
}
CONF
}

# backend_conf DIR PORT: a one-worker nginx in DIR answering every request with 1 KiB.
backend_conf() {
  local body
  body=$(head -c 1024 /dev/zero | tr '\0' 'x')
  nginx_conf "$1" 1 "  server { listen 127.0.0.1:$2; location / { return 200 \"$body\"; } }"
}

# server_conf PORT ADMIN_PORT THREADS STATE_DIR: a bench gateway's [server] and [admin]: no
# access log, no config watching, an account throttle above any rate reached here.
server_conf() {
  cat <<CONF
[server]
listen = ["127.0.0.1:$1"]
threads = $3
access_log = "off"
watch_config = false
throttle = { rate = 1000000, burst = 100000 }
state_dir = "$4"
[admin]
listen = "127.0.0.1:$2"
CONF
}

# plain_route BACKEND_PORT: the `bench` API with its plain `$default` route to the backend.
plain_route() {
  cat <<CONF
[apis.bench]
type = "http"

[apis.bench.stages."\$default"]

[apis.bench.routes."\$default"]
integration = { type = "http_proxy", uri = "http://127.0.0.1:$1" }
CONF
}

# plain_and_chain BACKEND_PORT ISOLATION: the plain route, and a 3-plugin chain route (token
# authorizer + request/response header transformer) with the plugins' instances kept by
# ISOLATION.
plain_and_chain() {
  plain_route "$1"
  cat <<CONF

[plugins.auth]
path = "$PWD/plugins/dist/token_authorizer.wasm"
isolation = "$2"
config = { tokens = { "bench-token" = { principal = "bench" } } }

[plugins.headers]
path = "$PWD/plugins/dist/header_transformer.wasm"
isolation = "$2"
config = { request = { set = { "x-principal" = "\$principal" } }, response = { set = { "x-powered-by" = "wasmgate" } } }

[apis.bench.routes."ANY /chain/{proxy+}"]
plugins = ["auth", "headers"]
integration = { type = "http_proxy", uri = "http://127.0.0.1:$1/{proxy}" }
CONF
}

# proc_ticks PID: CPU ticks (user + system) used by PID and its child processes (nginx's
# workers under its master), from /proc.
proc_ticks() {
  local total=0 pid
  for pid in "$1" $(pgrep -P "$1" || true); do
    total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
  done
  echo "$total"
}

# mock_route: a `GET /mock` route of the `bench` API answering 1 KiB itself.
mock_route() {
  cat <<CONF

[apis.bench.routes."GET /mock"]
integration = { type = "mock", status = 200, body = "$(head -c 1024 /dev/zero | tr '\0' 'x')" }
CONF
}

# cpu_run PID OUT LABEL WRK_ARGS...: one wrk run (2 threads, $CONNECTIONS connections,
# $DURATION s, as SCHED_BATCH) against the process PID, appending "cpu_us_per_request
# requests_per_second" to the file OUT (CPU of PID and its children); a non-2xx answer stops
# the bench, naming LABEL.
cpu_run() {
  local pid=$1 file=$2 label=$3 before after out requests tick_us
  shift 3
  tick_us=$((1000000 / $(getconf CLK_TCK)))
  before=$(proc_ticks "$pid")
  out=$(chrt --batch 0 wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" "$@")
  after=$(proc_ticks "$pid")
  requests=$(echo "$out" | awk '/requests in/ {print $1}')
  if echo "$out" | grep -q "Non-2xx"; then
    echo "$label: non-2xx answers" >&2
    exit 1
  fi
  awk -v t="$((after - before))" -v us="$tick_us" -v n="$requests" -v rps="$(echo "$out" | awk '/Requests\/sec/ {print $2}')" \
    'BEGIN {printf "%.2f %s\n", t * us / n, rps}' >> "$file"
}

# median_of: the median of the numbers on standard input, one per line.
median_of() { sort -n | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }

# ms_since START_NS: milliseconds since START_NS (from `date +%s%N`).
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

# is_bare BINARY: whether BINARY is the bare pingora proxy (benches/bare_pingora.rs), which
# takes `LISTEN BACKEND THREADS` instead of a config.
is_bare() { [ "$(basename "$1")" = bare_pingora ]; }

# envoy_listener PORT FILTERS: an Envoy listener on PORT routing everything to the cluster
# `backend` through the HTTP filters FILTERS (YAML list items, may be empty) and the router.
envoy_listener() {
  cat <<YAML
  - address: { socket_address: { address: 127.0.0.1, port_value: $1 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: bench
          route_config:
            virtual_hosts: [{ name: all, domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: backend } }] }]
          http_filters:
$2
          - name: envoy.filters.http.router
            typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }
YAML
}

# envoy_conf ADMIN_PORT BACKEND_PORT LISTENERS: an Envoy config with its admin on ADMIN_PORT,
# the listeners LISTENERS (from envoy_listener) and the cluster `backend` at BACKEND_PORT.
envoy_conf() {
  echo "admin: { address: { socket_address: { address: 127.0.0.1, port_value: $1 } } }"
  echo "static_resources:"
  echo "  listeners:"
  echo "$3"
  cat <<YAML
  clusters:
  - name: backend
    connect_timeout: 1s
    load_assignment:
      cluster_name: backend
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: $2 } } } }] }]
YAML
}
