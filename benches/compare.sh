#!/usr/bin/env bash
# Two builds of wasmgate, side by side in the same minutes: the plain route, a 3-plugin chain
# (token authorizer + request/response header transformer) and a mock route (1 KiB answered by
# the gateway itself) of each, alternated round by round
# under wrk, against one nginx backend answering 1 KiB. Prints each build's CPU µs per request
# (from /proc/<pid>/stat) and requests/s per route, medians over the rounds, and NEW/OLD ratios:
# what a change costs the gateway itself, with this VM's drifting speed shared by both builds.
#
#   benches/compare.sh OLD_BINARY NEW_BINARY            # 7 rounds of 4 s per build and route
#   ROUNDS=11 DURATION=6 benches/compare.sh OLD NEW
#
#   OLD_SERVER='work_stealing = true' benches/compare.sh BIN BIN   # one build, two settings:
#                                                       # OLD_SERVER / NEW_SERVER are lines
#                                                       # added to that side's [server]
#   benches/compare.sh .../examples/bare_pingora NEW    # wasmgate's plain route against the
#                                                       # bare pingora floor (plain route only)
#   OLD_SERVER=no-steal NEW_SERVER=per-thread benches/compare.sh BARE BARE
#                                                       # for the bare proxy, OLD_SERVER /
#                                                       # NEW_SERVER are its MODE argument
#
# Build the old one from a worktree of the old commit with its own target directory, e.g.
#   git worktree add /var/tmp/wg-old <commit>
#   (cd /var/tmp/wg-old && CARGO_TARGET_DIR=/var/tmp/wg-old-target cargo build --release -p wasmgate)
set -euo pipefail
cd "$(dirname "$0")/.."
OLD="$1"
NEW="$2"
ROUNDS="${ROUNDS:-7}"
DURATION="${DURATION:-4}"
CONNECTIONS="${CONNECTIONS:-64}"
source benches/common.sh
bench_setup

BACKEND_PORT=$(free_port)
backend_conf "$work/backend" "$BACKEND_PORT"
BATCH=(chrt --batch 0)
"${BATCH[@]}" nginx -p "$work/backend" -c "$work/backend/nginx.conf" -g 'daemon off;' & pids+=($!)

# start_gateway NAME BINARY: a gateway on free ports; sets PORT_<NAME> and PID_<NAME>.
start_gateway() {
  local port admin
  port=$(free_port); admin=$(free_port)
  local extra="${1^^}_SERVER"
  if is_bare "$2"; then
    # shellcheck disable=SC2086 # OLD_SERVER/NEW_SERVER: the bare proxy's MODE, if any
    "$2" "127.0.0.1:$port" "127.0.0.1:$BACKEND_PORT" 2 ${!extra:-} & pids+=($!)
    printf -v "PID_$1" '%s' "$!"
    printf -v "PORT_$1" '%s' "$port"
    wait_for "http://127.0.0.1:$port/"
    return
  fi
  {
    server_conf "$port" "$admin" 2 "$work/state-$1" | sed "/^\[server\]/a ${!extra:-# defaults}"
    plain_and_chain "$BACKEND_PORT" reuse
    mock_route
  } > "$work/$1.toml"
  RUST_LOG=warn "$2" serve "$work/$1.toml" & pids+=($!)
  printf -v "PID_$1" '%s' "$!"
  printf -v "PORT_$1" '%s' "$port"
  wait_for "http://127.0.0.1:$admin/readyz"
}
start_gateway old "$OLD"
start_gateway new "$NEW"
ROUTES="plain chain mock"
if is_bare "$OLD" || is_bare "$NEW"; then ROUTES=plain; fi

# run NAME ROUTE: one wrk run; appends "cpu_us_per_request requests_per_second" to its file.
run() {
  local pid="PID_$1" port="PORT_$1" path="/"
  [ "$2" = chain ] && path="/chain/x"
  [ "$2" = mock ] && path="/mock"
  cpu_run "${!pid}" "$work/$1-$2" "$1 $2" -H 'authorization: Bearer bench-token' "http://127.0.0.1:${!port}$path"
}

for round in $(seq "$ROUNDS"); do
  order="old new"; [ $((round % 2)) -eq 0 ] && order="new old"
  for name in $order; do
    for route in $ROUTES; do
      run "$name" "$route"
    done
  done
done

printf '%-6s %-6s %14s %14s\n' build route "CPU µs/req" "requests/s"
for name in old new; do
  for route in $ROUTES; do
    printf '%-6s %-6s %14s %14s\n' "$name" "$route" \
      "$(cut -d' ' -f1 "$work/$name-$route" | median_of)" "$(cut -d' ' -f2 "$work/$name-$route" | median_of)"
  done
done
for route in $ROUTES; do
  old_cpu=$(cut -d' ' -f1 "$work/old-$route" | median_of)
  new_cpu=$(cut -d' ' -f1 "$work/new-$route" | median_of)
  echo "$route: new/old CPU per request $(python3 -c "print(round($new_cpu / $old_cpu, 3))")"
done
