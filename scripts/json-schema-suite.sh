#!/usr/bin/env bash
# Prints the directory holding the JSON-Schema-Test-Suite's draft-04 cases, which the `jsonschema`
# sdist on PyPI ships under json/tests/draft4; downloaded once into the cargo target directory.
set -euo pipefail
version=4.23.0
dir="${CARGO_TARGET_DIR:-/var/tmp/wasmgate-target}/json-schema-suite"
suite="$dir/jsonschema-$version/json/tests/draft4"
if [ ! -d "$suite" ]; then
  mkdir -p "$dir"
  python3 -m pip download --quiet --disable-pip-version-check --no-deps --no-binary :all: \
    "jsonschema==$version" -d "$dir" >&2
  tar xzf "$dir/jsonschema-$version.tar.gz" -C "$dir" "jsonschema-$version/json/tests/draft4"
fi
echo "$suite"
