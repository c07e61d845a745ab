#!/usr/bin/env bash
# A Python environment from PyPI for the tests that need an implementation independent of the
# gateway's: PyJWT (and `cryptography`) mints the JWT tests' tokens, grpcio serves and calls gRPC
# through the gateway, and sslyze scans its TLS listener. Prints the environment's python.
# Safe to run again; installs only once.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${CARGO_TARGET_DIR:-/var/tmp/wasmgate-target}/test-venv"
if ! "$venv/bin/python" -c 'import jwt, cryptography, grpc, sslyze' 2>/dev/null; then
  [ -x "$venv/bin/pip" ] || python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet "pyjwt[crypto]==2.10.1" "grpcio==1.76.0" "sslyze==6.2.0" >&2
fi
echo "$venv/bin/python"
