#!/usr/bin/env bash
# Throughput against message size over inproc (make bench-size): does the size
# of a message still matter? PUSH/PULL through Debian's libzmq
# (demo/throughput.c), steady state (THR_WARMUP: the clock starts once the
# 2,000-message queue has filled and its bodies have been recycled), sender
# and receiver pinned to their own CPU (THR_PIN=1), for
#   plain, zmqpool, zmqpool-malloc, mimalloc, jemalloc   (LD_PRELOAD)
# and the floors measured in the same run:
#   floor       the same program sending 32-byte messages, which live inside
#               zmq_msg_t: no allocation at all, the ceiling of any allocator
#               (plain libzmq's zmq_msg_*, and floor-zmqpool: zmqpool's, a
#               little faster; zmqpool is held to the higher of the two)
#   copy-floor  (zmq_send sender only) the same bytes copied into one warm
#               buffer and sent as a constant message: a copying API's floor
# Both senders: zmq_msg_init_size (thr) and zmq_send (send). Every point runs
# each configuration RUNS times, interleaved, order rotated from run to run.
# Raw figures: build/size/raw.csv; benches/size_report.py makes the table
# (build/size/results.md) and the chart (build/size/size.svg).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
SIZES=${SIZES:-"64 256 1024 8192 65536 131072 262144"}
WARMUP=${WARMUP:-10000}
COUNT=${COUNT:-200000}
OUT=build/size
mkdir -p "$OUT"
MIMALLOC=$(ls /usr/lib/*/libmimalloc.so.2 2>/dev/null | head -1 || true)
JEMALLOC=$(ls /usr/lib/*/libjemalloc.so.2 2>/dev/null | head -1 || true)
[ -n "$MIMALLOC" ] && [ -n "$JEMALLOC" ] || { echo "needs libmimalloc2.0 and libjemalloc2: make setup-bench" >&2; exit 1; }
declare -A PRELOAD=(
  [plain]="" [floor]="" [copy-floor]=""
  [zmqpool]="$(pwd)/target/release/libzmqpool.so"
  [floor-zmqpool]="$(pwd)/target/release/libzmqpool.so"
  [zmqpool-malloc]="$(pwd)/target/release/libzmqpool-malloc.so"
  [mimalloc]="$MIMALLOC" [jemalloc]="$JEMALLOC"
)

run() { # bench config size
  local size=$3 mode=init_size
  [ "$1" = send ] && mode=send
  case $2 in
    floor|floor-zmqpool) size=32; mode=init_size ;;
    copy-floor) mode=send-floor ;;
  esac
  local value
  value=$(env ${PRELOAD[$2]:+LD_PRELOAD=${PRELOAD[$2]}} THR_PIN=1 THR_WARMUP="$WARMUP" \
            timeout 300 build/throughput inproc "$size" $((COUNT + WARMUP)) "$mode") || value=""
  echo "${value:-NA}"
}

echo "bench,size,config,run,value" > "$OUT/raw.csv"
for size in $SIZES; do
  printf '\r%7s B' "$size" >&2
  for r in $(seq "$RUNS"); do
    for bench in thr send; do
      configs=(plain zmqpool zmqpool-malloc mimalloc jemalloc floor floor-zmqpool)
      [ "$bench" = send ] && configs+=(copy-floor)
      n=${#configs[@]}
      for k in $(seq 0 $((n - 1))); do
        config=${configs[$(( (k + r) % n ))]}
        value=$(run "$bench" "$config" "$size")
        [ "$value" = NA ] || echo "$bench,$size,$config,$r,$value" >> "$OUT/raw.csv"
      done
    done
  done
done
echo >&2
python3 benches/size_report.py "$OUT/raw.csv" "$OUT"
