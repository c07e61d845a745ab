#!/usr/bin/env bash
# Helpers for scripts that start servers on 127.0.0.1, sourced by benches/common.sh and
# scripts/pgo-train.sh.

# A TCP port nothing listens on right now.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Wait up to $2 seconds (10 by default) for URL $1 to answer with a 2xx; fail naming it otherwise.
wait_for() {
  for _ in $(seq $((${2:-10} * 10))); do
    curl -sf -o /dev/null "$1" && return 0
    sleep 0.1
  done
  echo "nothing answers at $1" >&2
  return 1
}
