#!/usr/bin/env bash
# Does decay cost the fast path anything? (make bench-decay) The same
# binaries with decay on (the default: the helper thread runs, ticking every
# 250 ms) and off (ZMQPOOL_DECAY_MS=0: no helper), interleaved, RUNS times:
#   - same thread: zmq_msg_init_size + touch + zmq_msg_close (ns/msg)
#   - hand-off: built on thread A, closed on thread B (ns/msg)
#   - inproc PUSH/PULL throughput of a zmq_msg_init_size sender (msgs/s),
#     zmqpool preloaded into Debian's libzmq
# Optionally OTHER_LIB=DIR adds a third column: the library in DIR (an
# older build) with decay at its default, to compare builds.
# Prints medians and min-max spreads; ratios are on/off (1.00: no cost).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-7}
SIZES=${SIZES:-"64 1024 8192 65536 262144"}
OTHER_LIB=${OTHER_LIB:-}
lib=$(pwd)/target/release
stats() { sort -g | awk '{v[NR]=$1} END {m = (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2; printf "%.1f [%.1f-%.1f]", m, v[1], v[NR]}'; }
median() { sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
# Long enough at every size (0.1-0.3 s a run): shorter runs of the large
# sizes are dominated by noise on a 2-core machine.
iters_for() { echo 1000000; }
thr_count() { echo 400000; }

configs=(on off)
[ -n "$OTHER_LIB" ] && configs+=(other)
# runs one measurement of `what` for `config`, printing the number
one() {
  local config=$1 what=$2 size=$3 env=()
  case $config in
    on) env=(LD_LIBRARY_PATH="$lib") ;;
    off) env=(LD_LIBRARY_PATH="$lib" ZMQPOOL_DECAY_MS=0) ;;
    other) env=(LD_LIBRARY_PATH="$OTHER_LIB") ;;
  esac
  case $what in
    same|handoff) env "${env[@]}" build/msg_bench "$what" zmqpool "$size" "$(iters_for "$size")" | awk '{print $2}' ;;
    thr)
      local so=$lib/libzmqpool.so
      [ "$config" = other ] && so=$OTHER_LIB/libzmqpool.so
      env "${env[@]}" LD_PRELOAD="$so" build/throughput inproc "$size" "$(thr_count "$size")" init_size | awk '{print $1}' ;;
  esac
}
for what in same handoff thr; do
  unit="ns/msg"; [ $what = thr ] && unit="msgs/s"
  echo "== $what ($unit; median [min-max] of $RUNS)"
  printf '%8s' size; for c in "${configs[@]}"; do printf ' %26s' "decay $c"; done; printf ' %8s\n' "on/off"
  for size in $SIZES; do
    declare -A t=()
    for c in "${configs[@]}"; do t[$c]=""; done
    for r in $(seq "$RUNS"); do
      # rotate the order from run to run
      order=("${configs[@]}"); [ $((r % 2)) -eq 0 ] && order=($(printf '%s\n' "${configs[@]}" | tac))
      for c in "${order[@]}"; do t[$c]+="$(one "$c" $what "$size") "; done
    done
    printf '%8s' "$size"
    for c in "${configs[@]}"; do printf ' %26s' "$(printf '%s\n' ${t[$c]} | stats)"; done
    on=$(printf '%s\n' ${t[on]} | median); off=$(printf '%s\n' ${t[off]} | median)
    awk -v a="$on" -v b="$off" 'BEGIN { printf " %7.2fx\n", a / b }'
    unset t
  done
done
