#!/usr/bin/env bash
# Makes the example configs' certificates in examples/certs/ when they are missing: a local CA
# (ca.pem) and a server certificate for localhost and 127.0.0.1 signed by it (localhost.pem,
# localhost.key). Self-signed, for trying wasmgate on one machine: trust ca.pem in the client
# (curl --cacert examples/certs/ca.pem). Safe to run again; keeps what exists.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=examples/certs
[ -s "$dir/localhost.pem" ] && [ -s "$dir/localhost.key" ] && [ -s "$dir/ca.pem" ] && exit 0
command -v openssl >/dev/null || { echo "dev-certs: openssl is needed (scripts/setup.sh installs it)" >&2; exit 1; }
mkdir -p "$dir"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 \
  -subj "/CN=wasmgate example CA" -keyout "$work/ca.key" -out "$work/ca.pem" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
  -keyout "$work/localhost.key" -out "$work/localhost.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' > "$work/ext"
openssl x509 -req -in "$work/localhost.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" \
  -CAcreateserial -days 825 -extfile "$work/ext" -out "$work/localhost.pem" 2>/dev/null
cp "$work/ca.pem" "$work/localhost.pem" "$work/localhost.key" "$dir/"
chmod 600 "$dir/localhost.key"
echo "dev-certs: made $dir/ca.pem and $dir/localhost.{pem,key} (self-signed, for local use)" >&2
