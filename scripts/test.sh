#!/usr/bin/env bash
# Runs the whole test suite: unit tests and end-to-end tests that start the real gateway on
# loopback ports against real TCP backends.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/wasmgate-target}"
cargo test --workspace
