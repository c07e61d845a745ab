#!/usr/bin/env bash
# Builds every plugin in plugins/ as a WebAssembly component and puts it in plugins/dist/, where
# the example configs and the tests find them: the Rust workspace for wasm32-wasip2 (release),
# each plugins/python/<name>/ (app.py + the WIT world named in `world`) with componentize-py,
# installed from PyPI into a virtualenv beside the cargo target directory, and each
# plugins/js/<name>/ (app.js + `world`) with componentize-js at its default settings, installed
# from npm beside it too.
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

root=$(pwd)
venv="$CARGO_TARGET_DIR/componentize-py-venv"
if [ ! -x "$venv/bin/componentize-py" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "componentize-py==0.25.1"
fi
for dir in plugins/python/*/; do
  out="plugins/dist/$(basename "$dir" | tr '-' '_')_py.wasm"
  # Python components take seconds to build: only when the sources or the WIT changed.
  if [ ! -f "$out" ] || [ -n "$(find "$dir" wit -type f -newer "$out" -not -path '*__pycache__*')" ]; then
    (cd "$dir" && "$venv/bin/componentize-py" -d "$root/wit" -w "$(cat world)" componentize app -o "$root/$out" >/dev/null)
  fi
done

js="$CARGO_TARGET_DIR/componentize-js"
componentize_js=0.23.0
if [ "$(node -p "require('$js/node_modules/@bytecodealliance/componentize-js/package.json').version" 2>/dev/null)" != "$componentize_js" ]; then
  mkdir -p "$js"
  [ -f "$js/package.json" ] || echo '{"private": true}' > "$js/package.json"
  (cd "$js" && npm install --silent --no-audit --no-fund "@bytecodealliance/componentize-js@$componentize_js")
fi
cp plugins/js/build.mjs "$js/"
for dir in plugins/js/*/; do
  out="plugins/dist/$(basename "$dir" | tr '-' '_')_js.wasm"
  # JavaScript components take seconds to build too: only when the sources or the WIT changed.
  if [ ! -f "$out" ] || [ -n "$(find "$dir" wit plugins/js/build.mjs -type f -newer "$out")" ]; then
    node "$js/build.mjs" "$dir" "$root/wit" "$root/$out"
  fi
done
