#!/usr/bin/env bash
# The demo mesh on loopback: three C peers (each dials the ones started before it), then one
# peer per extra make target given (Python, Go), which dial every C peer (PEER_ADDRS).
# Every peer prints what it receives; the script checks that each C peer heard from the others.
# usage: demo.sh PATH_TO_C_PEER [make-target ...]
set -euo pipefail
bin=$1; shift
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
secs=6

wait_file() { for _ in $(seq 100); do [ -s "$1" ] && return 0; sleep 0.05; done; echo "no address from $1" >&2; exit 1; }

"$bin" --name c1 --seconds $secs --addr-file "$dir/c1.addr" > "$dir/c1.log" 2>&1 &
pids=($!)
wait_file "$dir/c1.addr"
"$bin" --name c2 --seconds $secs --addr-file "$dir/c2.addr" --dial "$(cat "$dir/c1.addr")" > "$dir/c2.log" 2>&1 &
pids+=($!)
wait_file "$dir/c2.addr"
"$bin" --name c3 --seconds $secs --addr-file "$dir/c3.addr" --dial "$(cat "$dir/c1.addr"),$(cat "$dir/c2.addr")" > "$dir/c3.log" 2>&1 &
pids+=($!)
wait_file "$dir/c3.addr"
addrs="$(cat "$dir/c1.addr"),$(cat "$dir/c2.addr"),$(cat "$dir/c3.addr")"

for target in "$@"; do
    PEER_ADDRS="$addrs" ${MAKE:-make} -s --no-print-directory "$target" > "$dir/$target.log" 2>&1 &
    pids+=($!)
done

status=0
for p in "${pids[@]}"; do wait "$p" || status=1; done
for f in "$dir"/*.log; do
    echo "---- $(basename "$f" .log)"
    cat "$f"
done
# Each C peer must have received a broadcast from both other C peers.
for me in c1 c2 c3; do
    for other in c1 c2 c3; do
        [ "$me" = "$other" ] && continue
        grep -q "broadcast from $other (C)" "$dir/$me.log" || { echo "demo: $me did not hear $other" >&2; status=1; }
    done
done
[ $status -eq 0 ] && echo "demo: every peer heard the others" || echo "demo: FAILED" >&2
exit $status
