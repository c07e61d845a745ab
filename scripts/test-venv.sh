#!/usr/bin/env bash
# A Python environment with PyJWT (and `cryptography`) from PyPI: the JWT tests mint their tokens
# with it, an implementation independent of the gateway's. Prints the environment's python.
# Safe to run again; installs only once.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${CARGO_TARGET_DIR:-/var/tmp/wasmgate-target}/test-venv"
if ! "$venv/bin/python" -c 'import jwt, cryptography' 2>/dev/null; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet "pyjwt[crypto]==2.10.1" >&2
fi
echo "$venv/bin/python"
