#!/usr/bin/env bash
# The demo: message throughput through Debian's libzmq, plain and with
# zmqpool's zmq_msg_* preloaded, runs interleaved, medians of $RUNS.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=build/throughput
LIB=$(pwd)/target/release/libzmqpool.so
RUNS=${RUNS:-5}

median() { sort -n | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }

printf '%-8s %8s %14s %14s %8s\n' transport size "libzmq msg/s" "zmqpool msg/s" ratio
for transport in inproc tcp; do
  for size in 64 1024 65536 262144; do
    if [ "$size" -ge 65536 ]; then count=40000; else count=400000; fi
    plain=(); pooled=()
    for _ in $(seq "$RUNS"); do
      plain+=("$("$BIN" "$transport" "$size" "$count")")
      pooled+=("$(LD_PRELOAD="$LIB" "$BIN" "$transport" "$size" "$count")")
    done
    p=$(printf '%s\n' "${plain[@]}" | median)
    z=$(printf '%s\n' "${pooled[@]}" | median)
    awk -v t="$transport" -v s="$size" -v p="$p" -v z="$z" \
      'BEGIN { printf "%-8s %8s %14.0f %14.0f %7.2fx\n", t, s, p, z, z / p }'
  done
done
echo "(medians of $RUNS interleaved runs; ratio = zmqpool / libzmq; machine: $(nproc) cores)"
echo
echo "zmqpool's statistics for one preloaded inproc run at 65536 bytes (ZMQPOOL_SHOW_STATS=1):"
ZMQPOOL_SHOW_STATS=1 LD_PRELOAD="$LIB" "$BIN" inproc 65536 40000 2>&1 >/dev/null | sed 's/^/  /'
