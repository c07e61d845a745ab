#!/usr/bin/env bash
# Runs the whole test suite: unit tests and end-to-end tests that start the real gateway on
# loopback ports against real TCP backends and load the real plugin components (built first).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/wasmgate-target}"
bash scripts/build-plugins.sh
cargo test --workspace
