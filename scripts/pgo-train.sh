#!/usr/bin/env bash
# The training run of the PGO build (scripts/build-release.sh): drives the instrumented gateway
# given as $1 under load, on loopback only, through the benchmark's routes (plain proxying, a
# plugin chain, API keys with a usage plan, RS256 JWTs, a cached Wasm authorizer: benches/run.sh
# with TRAIN=1) and then the quickstart example's (a REST API, mock and http integrations,
# parameter mappings, the response cache, an authorizer's 401s, a gateway response, a usage
# plan's 429s, the access log). Each gateway process writes its profile where LLVM_PROFILE_FILE
# says when it exits.
set -euo pipefail
cd "$(dirname "$0")/.."
gateway=$(realpath "$1")

TRAIN=1 DURATION=3 WASMGATE="$gateway" bash benches/run.sh

work=$(mktemp -d)
gateway_pid=""
cleanup() {
  [ -z "$gateway_pid" ] || kill -INT "$gateway_pid" 2>/dev/null || true
  wait
  rm -rf "$work"
}
trap cleanup EXIT

# The quickstart on free ports; its plugin paths are relative to the config's directory.
source scripts/loopback.sh
gate_port=$(free_port)
admin_port=$(free_port)
mkdir "$work/examples"
ln -s "$PWD/plugins" "$work/plugins"
sed -e "s/127\.0\.0\.1:8080/127.0.0.1:$gate_port/g" -e "s/127\.0\.0\.1:9901/127.0.0.1:$admin_port/g" \
  examples/quickstart.toml > "$work/examples/quickstart.toml"
RUST_LOG=warn "$gateway" serve "$work/examples/quickstart.toml" >/dev/null & gateway_pid=$!
wait_for "http://127.0.0.1:$admin_port/readyz"

key=$("$gateway" keys create --admin "http://127.0.0.1:$admin_port" --name train --plan starter --json \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["value"])')
printf 'wrk.method = "POST"\nwrk.body = "{\\"name\\": \\"Rex\\"}"\n' > "$work/post.lua"

load() { chrt --batch 0 wrk -t2 -c16 -d2s "$@" >/dev/null; }
base="http://127.0.0.1:$gate_port/prod"
load "$base/hello"
load "$base/pets/7"
load -s "$work/post.lua" "$base/pets"
load -H 'authorization: Bearer demo-token' "$base/orders"
load "$base/orders"
load "$base/nope"
load -H "x-api-key: $key" "$base/stock"
echo "pgo-train: trained on the benchmark's and the quickstart's routes" >&2
