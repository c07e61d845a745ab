#!/usr/bin/env bash
# Builds the plugins and wasmgate (release) and serves a config: examples/quickstart.toml unless
# one is given. The examples' self-signed certificates are made first if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/wasmgate-target}"
bash scripts/build-plugins.sh
bash scripts/dev-certs.sh
exec cargo run --release -p wasmgate -- serve "${1:-examples/quickstart.toml}"
