#!/usr/bin/env bash
# Runs the whole test suite: unit tests (the gateway's and the plugin SDK's) and end-to-end
# tests that start the real gateway on loopback ports against real TCP backends and load the
# real plugin components (built first), and a headless Chromium for the CORS tests (installed by
# setup.sh --browser).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/wasmgate-target}"
bash scripts/setup.sh --browser
bash scripts/build-plugins.sh
cargo test --workspace
cargo test --manifest-path plugin-sdk/Cargo.toml
