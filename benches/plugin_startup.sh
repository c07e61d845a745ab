#!/usr/bin/env bash
# Plugin cold starts and memory, release build:
# 1. An empty compile cache, a config with the Python token authorizer and a plain route: from
#    exec to the plain route's first 200 (it must not wait for the compile), and to the Python
#    route's first 200 (the compile, then the gateway's own reload).
# 2. The same cache after `wasmgate plugins compile`: from exec to `/readyz` 200.
# 3. Resident memory (VmRSS) after 50 requests per route: no plugins; one warm Python plugin
#    (isolation = "reuse"); one warm JavaScript plugin; ten Rust plugins (ten config entries of
#    the token authorizer, one route each) — each also as the increase over no plugins.
#
#   benches/plugin_startup.sh
#   WASMGATE=/path/to/wasmgate benches/plugin_startup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/common.sh
bench_setup
if [ -z "${WASMGATE:-}" ]; then
  cargo build --release --quiet -p wasmgate
  WASMGATE="$CARGO_TARGET_DIR/release/wasmgate"
fi


# wait_status URL STATUS [HEADER]: poll until URL answers STATUS (at most 5 minutes).
wait_status() {
  for _ in $(seq 150000); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' ${3:+-H "$3"} "$1")" = "$2" ] && return 0
    sleep 0.002
  done
  echo "$1 never answered $2" >&2
  return 1
}

# config NAME PLUGINS...: a config in $work/NAME with the plugins (python, js, or rustN for N
# Rust entries), one route per entry, and a plain route; echoes its proxy and admin ports.
config() {
  local dir="$work/$1" port admin
  shift
  port=$(free_port) admin=$(free_port)
  mkdir -p "$dir"
  {
    printf '[server]\nlisten = ["127.0.0.1:%s"]\naccess_log = "off"\nwatch_config = false\nplugin_cache_dir = "%s"\n' "$port" "$work/cache"
    printf '[admin]\nlisten = "127.0.0.1:%s"\n' "$admin"
    printf '[apis.a]\ntype = "http"\n[apis.a.stages.s]\n[apis.a.routes."GET /plain"]\nintegration = { type = "mock", body = "plain" }\n'
    for plugin in "$@"; do
      case $plugin in
        python) file=token_authorizer_py ;;
        js) file=token_authorizer_js ;;
        rust*) file=token_authorizer ;;
      esac
      printf '[plugins.%s]\npath = "%s/plugins/dist/%s.wasm"\nisolation = "reuse"\nmemory_mb = 128\ntimeout_ms = 2000\n' "$plugin" "$PWD" "$file"
      printf 'config = { tokens = { "t" = { principal = "p" } } }\n'
      printf '[apis.a.routes."GET /%s"]\nplugins = ["%s"]\nintegration = { type = "mock", body = "ok" }\n' "$plugin" "$plugin"
    done
  } > "$dir/gateway.toml"
  echo "$port $admin"
}

start() { RUST_LOG=error "$WASMGATE" serve "$work/$1/gateway.toml" & pids+=($!); gateway=$!; }
stop() { kill -INT "$gateway"; wait "$gateway" 2>/dev/null || true; }

echo "1. empty compile cache, the Python token authorizer"
read -r port admin < <(config cold python)
started=$(date +%s%N)
start cold
wait_status "http://127.0.0.1:$port/s/plain" 200
plain=$(ms_since "$started")
wait_status "http://127.0.0.1:$port/s/python" 200 "authorization: Bearer t"
echo "   plain route answers after ${plain} ms; the Python route after $(ms_since "$started") ms"
stop

echo "2. after \`wasmgate plugins compile\`"
rm -rf "$work/cache"
"$WASMGATE" plugins compile "$work/cold/gateway.toml" 2>/dev/null | sed 's/^/   /'
for round in 1 2 3; do
  started=$(date +%s%N)
  start cold
  wait_status "http://127.0.0.1:$admin/readyz" 200
  echo "   start $round: ready (Python plugin loaded) after $(ms_since "$started") ms"
  stop
done

echo "3. resident memory after 50 requests per route"
rss_of() {
  local name=$1 port admin route
  shift
  read -r port admin < <(config "$name" "$@")
  "$WASMGATE" plugins compile "$work/$name/gateway.toml" >/dev/null 2>&1
  start "$name"
  wait_status "http://127.0.0.1:$admin/readyz" 200
  for route in plain "$@"; do
    for _ in $(seq 50); do curl -s -o /dev/null -H "authorization: Bearer t" "http://127.0.0.1:$port/s/$route"; done
  done
  awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$gateway/status"
  stop
}
base=$(rss_of none)
echo "   no plugins:          ${base} MB"
python=$(rss_of py python)
echo "   one Python plugin:   ${python} MB (+$((python - base)) MB)"
js=$(rss_of js js)
echo "   one JavaScript one:  ${js} MB (+$((js - base)) MB)"
rust=$(rss_of rust rust1 rust2 rust3 rust4 rust5 rust6 rust7 rust8 rust9 rust10)
echo "   ten Rust plugins:    ${rust} MB (+$((rust - base)) MB)"
