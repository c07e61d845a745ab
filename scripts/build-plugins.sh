#!/usr/bin/env bash
# Builds every plugin in plugins/ as a WebAssembly component (wasm32-wasip2, release) and copies
# the components to plugins/dist/, where the example configs and the tests find them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/wasmgate-target}"
(cd plugins && cargo build --release --target wasm32-wasip2 --quiet)
mkdir -p plugins/dist
members=$(cd plugins && cargo metadata --no-deps --format-version 1 |
  python3 -c 'import json, sys; print("\n".join(p["name"].replace("-", "_") for p in json.load(sys.stdin)["packages"]))')
for name in $members; do
  cp "$CARGO_TARGET_DIR/wasm32-wasip2/release/$name.wasm" plugins/dist/
done
