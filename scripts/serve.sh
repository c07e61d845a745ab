#!/usr/bin/env bash
# Builds the plugins and wasmgate (release) and serves a config: examples/quickstart.toml unless
# one is given.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/wasmgate-target}"
bash scripts/build-plugins.sh
exec cargo run --release -p wasmgate -- serve "${1:-examples/quickstart.toml}"
