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

# proxy-wasm filters written elsewhere, built unchanged (plugins/proxy-wasm/README.md): the Rust
# SDK's example filters from the proxy-wasm crate on crates.io, and the AddHeader filter from
# the README of @solo-io/proxy-runtime on npm, in AssemblyScript.
if ! rustup target list --installed | grep -qx wasm32-wasip1; then
  rustup target add wasm32-wasip1 >&2
fi
sdk_manifest=$(cd plugins/proxy-wasm && cargo metadata --format-version 1 |
  python3 -c 'import json, sys; print(next(p["manifest_path"] for p in json.load(sys.stdin)["packages"] if p["name"] == "proxy-wasm"))')
sdk="$CARGO_TARGET_DIR/proxy-wasm-sdk"
if [ ! -f "$sdk/Cargo.toml" ] || ! cmp -s "$sdk/Cargo.toml" "$sdk_manifest"; then
  rm -rf "$sdk"
  cp -r "$(dirname "$sdk_manifest")" "$sdk"
  chmod -R u+w "$sdk"
fi
(cd "$sdk" && CARGO_TARGET_DIR="$sdk/target" cargo build --release --examples --target wasm32-wasip1 --quiet 2>/dev/null)
for example in hello_world http_auth_random http_body http_config http_headers; do
  cp "$sdk/target/wasm32-wasip1/release/examples/$example.wasm" "plugins/dist/proxy_wasm_$example.wasm"
done

as="$CARGO_TARGET_DIR/proxy-runtime-as"
if [ ! -x "$as/node_modules/.bin/asc" ] || [ ! -d "$as/node_modules/@solo-io/proxy-runtime" ]; then
  mkdir -p "$as"
  [ -f "$as/package.json" ] || echo '{"private": true}' > "$as/package.json"
  (cd "$as" && npm install --silent --no-audit --no-fund assemblyscript@0.14.13 @solo-io/proxy-runtime@0.1.8)
fi
if [ ! -f plugins/dist/add_header_as.wasm ]; then
  mkdir -p "$as/assembly"
  # The README's "Hello, World" filter: the first TypeScript block after its "## Code" heading.
  awk '/^## Code/ { code = 1 } code && /^```ts/ { inside = 1; next } inside && /^```/ { exit } inside { print }' \
    "$as/node_modules/@solo-io/proxy-runtime/README.md" > "$as/assembly/index.ts"
  (cd "$as" && npx asc assembly/index.ts -b "$root/plugins/dist/add_header_as.wasm" --use abort=abort_proc_exit --optimize 2>/dev/null)
fi

# Our own hostile proxy-wasm filter (plugins/testing/hostile-filter), for the hostile tests.
(cd plugins/testing/hostile-filter && cargo build --release --target wasm32-wasip1 --quiet)
cp "$CARGO_TARGET_DIR/wasm32-wasip1/release/hostile_filter.wasm" plugins/dist/
