#!/usr/bin/env bash
# TLS against nginx, in the same minutes, with the same ECDSA P-256 certificate: each server
# (2 workers/threads) terminates TLS 1.3 and either answers 1 KiB itself (`/mock`: the cost of
# TLS and HTTP) or proxies to one nginx backend answering 1 KiB (`/`). Rounds alternate
# between the servers; prints medians and wasmgate/nginx ratios of:
#   plaintext       wrk on `/mock` without TLS: the baseline the TLS measures add to
#   keep-alive      wrk over kept-alive TLS connections (requests/s, CPU µs per request)
#   proxy           the same through to the backend
#   handshakes      wrk with `Connection: close`: a full TLS handshake per request
#   h2              h2load, HTTP/2 by ALPN, 16 connections × 10 streams
#
#   benches/tls.sh                             # 5 rounds of 4 s per server and measure
#   ROUNDS=9 DURATION=6 benches/tls.sh
#   WASMGATE=/path/to/wasmgate benches/tls.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${ROUNDS:-5}"
DURATION="${DURATION:-4}"
CONNECTIONS="${CONNECTIONS:-64}"
source benches/common.sh
bench_setup
command -v h2load >/dev/null 2>&1 || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nghttp2-client >/dev/null
}
if [ -z "${WASMGATE:-}" ]; then
  cargo build --release --quiet -p wasmgate
  WASMGATE="$CARGO_TARGET_DIR/release/wasmgate"
fi
BATCH=(chrt --batch 0)

# The certificate both servers serve.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj "/CN=bench.test" \
  -addext "subjectAltName=DNS:bench.test,IP:127.0.0.1" -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
body=$(head -c 1024 /dev/zero | tr '\0' 'x')

backend_port=$(free_port)
backend_conf "$work/backend" "$backend_port"
"${BATCH[@]}" nginx -p "$work/backend" -c "$work/backend/nginx.conf" -g 'daemon off;' & pids+=($!)

nginx_port=$(free_port) nginx_plain_port=$(free_port)
nginx_conf "$work/nginx" 2 "  upstream backend { server 127.0.0.1:$backend_port; keepalive 128; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:$nginx_port ssl http2;
    ssl_certificate $work/cert.pem;
    ssl_certificate_key $work/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    location = /mock { return 200 \"$body\"; }
    location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection \"\"; }
  }
  server { listen 127.0.0.1:$nginx_plain_port; location = /mock { return 200 \"$body\"; } }"
"${BATCH[@]}" nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off;' & pids+=($!)
nginx_pid=$!

gate_port=$(free_port) plain_port=$(free_port) admin=$(free_port)
{
  server_conf "$plain_port" "$admin" 2 "$work/state"
  cat <<CONF
[server.tls]
listen = ["127.0.0.1:$gate_port"]
certificate = "$work/cert.pem"
key = "$work/key.pem"

[apis.bench]
type = "http"
[apis.bench.stages."\$default"]
[apis.bench.routes."GET /mock"]
integration = { type = "mock", status = 200, body = "$body" }
[apis.bench.routes."\$default"]
integration = { type = "http_proxy", uri = "http://127.0.0.1:$backend_port" }
CONF
} > "$work/gateway.toml"
RUST_LOG=warn "${BATCH[@]}" "$WASMGATE" serve "$work/gateway.toml" & pids+=($!)
gate_pid=$!
wait_for "http://127.0.0.1:$admin/readyz"

# h2_run PID OUT LABEL URL: one h2load run, appending "cpu_us_per_request requests_per_second".
h2_run() {
  local pid=$1 file=$2 label=$3 before after out requests tick_us
  tick_us=$((1000000 / $(getconf CLK_TCK)))
  before=$(proc_ticks "$pid")
  out=$(chrt --batch 0 h2load -c16 -m10 -t2 -D"$DURATION" "$4")
  after=$(proc_ticks "$pid")
  requests=$(echo "$out" | awk '/^status codes:/ {print $3}')
  if ! echo "$out" | grep -q 'h2'; then
    echo "$label: not HTTP/2" >&2
    exit 1
  fi
  if echo "$out" | awk '/^status codes:/ {exit !($5 + $7 + $9 > 0)}'; then
    echo "$label: non-2xx answers" >&2
    exit 1
  fi
  awk -v t="$((after - before))" -v us="$tick_us" -v n="$requests" -v d="$DURATION" \
    'BEGIN {printf "%.2f %.0f\n", t * us / n, n / d}' >> "$file"
}

# run SERVER MEASURE: one run of MEASURE against SERVER (nginx or wasmgate).
run() {
  local pid port plain
  if [ "$1" = nginx ]; then
    pid=$nginx_pid port=$nginx_port plain=$nginx_plain_port
  else
    pid=$gate_pid port=$gate_port plain=$plain_port
  fi
  local base="https://127.0.0.1:$port"
  case $2 in
    plaintext) cpu_run "$pid" "$work/$1-$2" "$1 $2" "http://127.0.0.1:$plain/mock" ;;
    keep-alive) cpu_run "$pid" "$work/$1-$2" "$1 $2" "$base/mock" ;;
    proxy) cpu_run "$pid" "$work/$1-$2" "$1 $2" "$base/" ;;
    handshakes) cpu_run "$pid" "$work/$1-$2" "$1 $2" -H 'Connection: close' "$base/mock" ;;
    h2) h2_run "$pid" "$work/$1-$2" "$1 $2" "$base/mock" ;;
  esac
}

measures="plaintext keep-alive proxy handshakes h2"
for round in $(seq "$ROUNDS"); do
  order="nginx wasmgate"; [ $((round % 2)) -eq 0 ] && order="wasmgate nginx"
  for measure in $measures; do
    for server in $order; do run "$server" "$measure"; done
  done
done

printf '%-11s %-9s %12s %12s\n' measure server "CPU µs/req" "requests/s"
for measure in $measures; do
  for server in nginx wasmgate; do
    printf '%-11s %-9s %12s %12s\n' "$measure" "$server" \
      "$(cut -d' ' -f1 "$work/$server-$measure" | median_of)" "$(cut -d' ' -f2 "$work/$server-$measure" | median_of)"
  done
done
for measure in $measures; do
  nginx_rps=$(cut -d' ' -f2 "$work/nginx-$measure" | median_of)
  gate_rps=$(cut -d' ' -f2 "$work/wasmgate-$measure" | median_of)
  nginx_cpu=$(cut -d' ' -f1 "$work/nginx-$measure" | median_of)
  gate_cpu=$(cut -d' ' -f1 "$work/wasmgate-$measure" | median_of)
  echo "$measure: wasmgate/nginx requests/s $(python3 -c "print(round($gate_rps / $nginx_rps, 2))"), CPU per request $(python3 -c "print(round($gate_cpu / $nginx_cpu, 2))")"
done
