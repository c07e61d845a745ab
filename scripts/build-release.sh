#!/usr/bin/env bash
# The production build: wasmgate optimized with a profile of its own hot paths (PGO). Builds the
# gateway instrumented, trains it under load (scripts/pgo-train.sh), merges the profile with the
# toolchain's llvm-profdata (rustup's llvm-tools) and builds again with it. Prints the optimized
# binary's path on standard output, everything else on standard error. About twice a release
# build's time (~20 min here); skipped when the gateway's sources, the training scripts and the
# toolchain are the same as for the last build.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/wasmgate-target}"
host=$(rustc -vV | sed -n 's/^host: //p')
optimized_dir="$CARGO_TARGET_DIR/pgo-use"
optimized="$optimized_dir/$host/release/wasmgate"

inputs=$( { rustc -vV; find proxy/src proxy/Cargo.toml wit vendor Cargo.toml Cargo.lock benches/run.sh benches/common.sh scripts/pgo-train.sh \
  scripts/loopback.sh scripts/build-release.sh -type f -print0 | sort -z | xargs -0 sha256sum; } | sha256sum | cut -c1-64)
if [ -x "$optimized" ] && [ "$(cat "$optimized_dir/inputs.sha256" 2>/dev/null)" = "$inputs" ]; then
  echo "$optimized"
  exit 0
fi

bash scripts/setup.sh >&2
rustup component add llvm-tools >&2
bash scripts/build-plugins.sh >&2
profiles="$CARGO_TARGET_DIR/pgo-profiles"
rm -rf "$profiles"
mkdir -p "$profiles/raw"

# --target: the flags reach the gateway's own code and its dependencies, not build scripts or
# proc macros (which would write profiles of their own while building).
RUSTFLAGS="-Cprofile-generate=$profiles/raw" \
  cargo build --release -p wasmgate --target "$host" --target-dir "$CARGO_TARGET_DIR/pgo-generate" >&2
LLVM_PROFILE_FILE="$profiles/raw/wasmgate-%p-%m.profraw" \
  bash scripts/pgo-train.sh "$CARGO_TARGET_DIR/pgo-generate/$host/release/wasmgate" >&2

# Named by its digest: RUSTFLAGS changes with the profile, so cargo rebuilds everything with it.
"$(rustc --print sysroot)/lib/rustlib/$host/bin/llvm-profdata" merge -o "$profiles/merged.profdata" "$profiles/raw"
profile="$profiles/wasmgate-$(sha256sum "$profiles/merged.profdata" | cut -c1-16).profdata"
mv "$profiles/merged.profdata" "$profile"
RUSTFLAGS="-Cprofile-use=$profile -Cllvm-args=-pgo-warn-missing-function=false" \
  cargo build --release -p wasmgate --target "$host" --target-dir "$optimized_dir" >&2
echo "$inputs" > "$optimized_dir/inputs.sha256"
echo "$optimized"
