#!/usr/bin/env bash
# Builds wasmgate (release) and serves a config: examples/quickstart.toml unless one is given.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/wasmgate-target}"
exec cargo run --release -p wasmgate -- serve "${1:-examples/quickstart.toml}"
