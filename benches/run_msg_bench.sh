#!/usr/bin/env bash
# Runs build/msg_bench for every size and implementation, interleaved,
# RUNS times each, and prints medians (ns per message) and ratios
# (baseline time / zmqpool time: above 1 means zmqpool is faster).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=build/msg_bench
RUNS=${RUNS:-5}
SIZES=${SIZES:-"64 256 1024 8192 65536 131072 262144"}
MIMALLOC=$(ls /usr/lib/*/libmimalloc.so.2 2>/dev/null | head -1 || true)
JEMALLOC=$(ls /usr/lib/*/libjemalloc.so.2 2>/dev/null | head -1 || true)

median() { sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
# Threads pinned (producer or same-thread loop on CPU 0, consumer on CPU 1).
export MSG_BENCH_PIN=${MSG_BENCH_PIN:-1}
# 1,000,000 messages a run (0.02-0.1 s for zmqpool and the floor); the
# baselines that take microseconds per large message get 100,000.
iters_for() { if [ "$1" -ge 65536 ] && [ "${2:-}" = slow ]; then echo 100000; else echo 1000000; fi; }
run() { "$@" | awk '{print $2}'; }

echo "== 1. same thread: zmq_msg_init_size + touch + zmq_msg_close (ns/msg, median of $RUNS)"
printf '%8s %9s %9s %9s %9s | %9s %9s %9s\n' size zmqpool libzmq mi+hdr pmr "x libzmq" "x mi+hdr" "x pmr"
for size in $SIZES; do
  n=$(iters_for "$size"); declare -A t=()
  for impl in zmqpool libzmq mimalloc pmr; do t[$impl]=""; done
  for _ in $(seq "$RUNS"); do
    for impl in zmqpool libzmq mimalloc pmr; do t[$impl]+="$(run "$BIN" same "$impl" "$size" "$n") "; done
  done
  declare -A m; for impl in zmqpool libzmq mimalloc pmr; do m[$impl]=$(printf '%s\n' ${t[$impl]} | median); done
  awk -v s="$size" -v z="${m[zmqpool]}" -v l="${m[libzmq]}" -v mi="${m[mimalloc]}" -v p="${m[pmr]}" \
    'BEGIN { printf "%8s %9.1f %9.1f %9.1f %9.1f | %8.2fx %8.2fx %8.2fx\n", s, z, l, mi, p, l/z, mi/z, p/z }'
  unset t m
done

echo
echo "== 2. producer/consumer: built on thread A, closed on thread B (ns/msg, median of $RUNS)"
for mode in handoff handoff-data; do
  echo "-- $mode ($([ $mode = handoff ] && echo zmq_msg_init_size || echo 'zmq_msg_init_data on a caller buffer'))"
  printf '%8s %9s %9s %9s %9s %9s | %9s %11s\n' size zmqpool libzmq "+mimalloc" "+jemalloc" floor "x best" "x over floor"
  for size in $SIZES; do
    n=$(iters_for "$size"); ns=$(iters_for "$size" slow); z=""; l=""; lm=""; lj=""; f=""
    for _ in $(seq "$RUNS"); do
      f+="$(run "$BIN" handoff-floor libzmq "$size" "$n") "
      z+="$(run "$BIN" $mode zmqpool "$size" "$n") "
      l+="$(run "$BIN" $mode libzmq "$size" "$ns") "
      [ -n "$MIMALLOC" ] && lm+="$(LD_PRELOAD=$MIMALLOC run "$BIN" $mode libzmq "$size" "$ns") "
      [ -n "$JEMALLOC" ] && lj+="$(LD_PRELOAD=$JEMALLOC run "$BIN" $mode libzmq "$size" "$ns") "
    done
    mz=$(printf '%s\n' $z | median); ml=$(printf '%s\n' $l | median)
    mm=$(printf '%s\n' ${lm:-nan} | median); mj=$(printf '%s\n' ${lj:-nan} | median)
    mf=$(printf '%s\n' $f | median)
    awk -v s="$size" -v z="$mz" -v l="$ml" -v m="$mm" -v j="$mj" -v f="$mf" 'BEGIN {
      best = l; if (m + 0 > 0 && m < best) best = m; if (j + 0 > 0 && j < best) best = j;
      over = (z - f > 0.5) ? sprintf("%10.2fx", (best - f) / (z - f)) : "     (floor)";
      printf "%8s %9.1f %9.1f %9.1f %9.1f %9.1f | %8.2fx %s\n", s, z, l, m, j, f, best / z, over }'
  done
done

echo
echo "== 3. burst: 10,000 messages allocated, then all closed (KiB; one process each)"
printf '%8s %10s %12s %12s %12s %10s\n' size requested "peak-start" "zmqpool/req" "libzmq/req" "after trim"
for size in $SIZES; do
  read -r _ zs zp za _ req < <("$BIN" burst zmqpool "$size")
  read -r _ ls lp la _ _ < <("$BIN" burst libzmq "$size")
  awk -v s="$size" -v r="$req" -v zs="$zs" -v zp="$zp" -v za="$za" -v ls="$ls" -v lp="$lp" 'BEGIN {
    printf "%8s %10d %12d %11.2fx %11.2fx %+9d\n", s, r, zp - zs, (zp - zs) / r, (lp - ls) / r, za - zs }'
done
echo "(machine: $(nproc) cores; ratios are baseline time / zmqpool time)"
