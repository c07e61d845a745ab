#!/usr/bin/env bash
# What a proxy-wasm header filter costs on wasmgate and on Envoy, in the same minutes: the
# proxy-wasm Rust SDK's http_config example (adds a response header from its configuration,
# built unchanged by scripts/build-plugins.sh) on one route/listener, a plain one beside it, on
# each proxy (2 worker threads each), against one nginx backend answering 1 KiB. Rounds of wrk
# alternate between the four; prints CPU µs per request (from /proc/<pid>/stat) and requests/s
# (medians), each proxy's filter cost (filtered minus plain CPU per request) and the ratios.
#
#   benches/proxy_wasm.sh                      # 5 rounds of 4 s per proxy and route
#   ROUNDS=9 DURATION=6 benches/proxy_wasm.sh
#   WASMGATE=/path/to/wasmgate benches/proxy_wasm.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${ROUNDS:-5}"
DURATION="${DURATION:-4}"
CONNECTIONS="${CONNECTIONS:-64}"
source benches/common.sh
bench_setup
ENVOY=$(bash scripts/envoy.sh)
if [ -z "${WASMGATE:-}" ]; then
  cargo build --release --quiet -p wasmgate
  WASMGATE="$CARGO_TARGET_DIR/release/wasmgate"
fi
FILTER="$PWD/plugins/dist/proxy_wasm_http_config.wasm"
BATCH=(chrt --batch 0)
backend_port=$(free_port)
backend_conf "$work/backend" "$backend_port"
"${BATCH[@]}" nginx -p "$work/backend" -c "$work/backend/nginx.conf" -g 'daemon off;' & pids+=($!)

port=$(free_port) admin=$(free_port)
{
  server_conf "$port" "$admin" 2 "$work/state"
  plain_route "$backend_port"
  cat <<CONF

[plugins.header]
path = "$FILTER"
configuration = "bench"
bodies = []

[apis.bench.routes."ANY /filter/{proxy+}"]
plugins = ["header"]
integration = { type = "http_proxy", uri = "http://127.0.0.1:$backend_port/{proxy}" }
CONF
} > "$work/wasmgate.toml"
RUST_LOG=warn "$WASMGATE" serve "$work/wasmgate.toml" & pids+=($!)
PID_wasmgate=$!
wait_for "http://127.0.0.1:$admin/readyz"

envoy_plain=$(free_port) envoy_filter=$(free_port) envoy_admin=$(free_port)
wasm_filter=$(cat <<YAML
          - name: envoy.filters.http.wasm
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
              config:
                configuration: { "@type": type.googleapis.com/google.protobuf.StringValue, value: bench }
                vm_config: { runtime: envoy.wasm.runtime.v8, code: { local: { filename: "$FILTER" } } }
YAML
)
envoy_conf "$envoy_admin" "$backend_port" \
  "$(envoy_listener "$envoy_plain" ""; envoy_listener "$envoy_filter" "$wasm_filter")" \
  > "$work/envoy.yaml"
"$ENVOY" --concurrency 2 --disable-hot-restart -l warning -c "$work/envoy.yaml" 2> "$work/envoy.log" & pids+=($!)
PID_envoy=$!
wait_for "http://127.0.0.1:$envoy_admin/ready"

# run PROXY ROUTE URL: one wrk run; appends "cpu_us_per_request requests_per_second".
run() {
  local pid="PID_$1"
  cpu_run "${!pid}" "$work/$1-$2" "$1 $2" "$3"
}
curl -sf -o /dev/null -D - "http://127.0.0.1:$port/filter/x" | grep -qi '^custom-header: bench' || { echo "wasmgate's filter did not run" >&2; exit 1; }
curl -sf -o /dev/null -D - "http://127.0.0.1:$envoy_filter/x" | grep -qi '^custom-header: bench' || { echo "Envoy's filter did not run" >&2; exit 1; }
for round in $(seq "$ROUNDS"); do
  order="wasmgate envoy"; [ $((round % 2)) -eq 0 ] && order="envoy wasmgate"
  for proxy in $order; do
    if [ "$proxy" = wasmgate ]; then
      run wasmgate plain "http://127.0.0.1:$port/"
      run wasmgate filter "http://127.0.0.1:$port/filter/x"
    else
      run envoy plain "http://127.0.0.1:$envoy_plain/"
      run envoy filter "http://127.0.0.1:$envoy_filter/x"
    fi
  done
done
printf '%-9s %-7s %12s %12s\n' proxy route "CPU µs/req" "requests/s"
for proxy in wasmgate envoy; do
  for route in plain filter; do
    printf '%-9s %-7s %12s %12s\n' "$proxy" "$route" \
      "$(cut -d' ' -f1 "$work/$proxy-$route" | median_of)" "$(cut -d' ' -f2 "$work/$proxy-$route" | median_of)"
  done
done
cost() { python3 -c "print(round($(cut -d' ' -f1 "$work/$1-filter" | median_of) - $(cut -d' ' -f1 "$work/$1-plain" | median_of), 2))"; }
wasmgate_cost=$(cost wasmgate) envoy_cost=$(cost envoy)
echo "filter cost (CPU µs per request): wasmgate $wasmgate_cost, Envoy $envoy_cost"
python3 - "$work" <<'PY'
import statistics, sys
work = sys.argv[1]
def med(name, column):
    return statistics.median(float(line.split()[column]) for line in open(f"{work}/{name}"))
print("wasmgate/Envoy, filtered route: CPU per request %.2f, requests/s %.2f" % (
    med("wasmgate-filter", 0) / med("envoy-filter", 0), med("wasmgate-filter", 1) / med("envoy-filter", 1)))
PY
