#!/usr/bin/env bash
# End-to-end benchmark (make bench-e2e): throughput (msgs/s, demo/throughput.c)
# of a zmq_msg_init_size sender (thr) and of a zmq_send sender (send), and
# round-trip latency (us, demo/latency.c, process pinned to one core) through Debian's libzmq over
# inproc, ipc and tcp, for five configurations of the same binaries:
#   plain            libzmq with glibc malloc
#   zmqpool          LD_PRELOAD=libzmqpool.so (zmq_msg_* from the pool)
#   zmqpool-malloc   LD_PRELOAD=libzmqpool-malloc.so (the pool + malloc -> mimalloc)
#   mimalloc         LD_PRELOAD=Debian's libmimalloc.so.2
#   jemalloc         LD_PRELOAD=Debian's libjemalloc.so.2
# and a pseudo-configuration "floor", the same path with no allocation at all:
# for thr, the same program sending 32-byte messages (they live inside
# zmq_msg_t), for send, send-floor (the same copy into a warm buffer, sent as
# a constant message); it has no latency run.
# Every (transport, size) point runs each configuration RUNS times, the
# configurations interleaved and their order rotated from run to run.
# Raw figures go to build/e2e/raw.csv; benches/e2e_report.py turns them into
# medians, spreads, ratios, the table (build/e2e/results.md) and the chart
# (build/e2e/e2e.svg).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
SIZES=${SIZES:-"64 256 1024 8192 65536 131072 262144"}
TRANSPORTS=${TRANSPORTS:-"inproc ipc tcp"}
OUT=build/e2e
mkdir -p "$OUT"
MIMALLOC=$(ls /usr/lib/*/libmimalloc.so.2 2>/dev/null | head -1 || true)
JEMALLOC=$(ls /usr/lib/*/libjemalloc.so.2 2>/dev/null | head -1 || true)
[ -n "$MIMALLOC" ] && [ -n "$JEMALLOC" ] || { echo "needs libmimalloc2.0 and libjemalloc2: make setup-bench" >&2; exit 1; }
declare -A PRELOAD=(
  [plain]=""
  [zmqpool]="$(pwd)/target/release/libzmqpool.so"
  [zmqpool-malloc]="$(pwd)/target/release/libzmqpool-malloc.so"
  [mimalloc]="$MIMALLOC"
  [jemalloc]="$JEMALLOC"
)
CONFIGS=(plain zmqpool zmqpool-malloc mimalloc jemalloc floor)
PRELOAD[floor]=""

# About 0.1-0.3 s per run on this machine.
thr_count() { local n=$((400000000 / $1)); [ $n -gt 400000 ] && n=400000; [ $n -lt 4000 ] && n=4000; echo $n; }
lat_count() { if [ "$1" -ge 65536 ]; then echo 1000; else echo 3000; fi; }

run() { # config bench transport size
  local preload=${PRELOAD[$1]} bin count
  # Latency runs pinned to one core: unpinned, this 2-core machine gives
  # 7 us or 50 us for the same run depending on where the two threads land.
  local mode=() size=$4
  case $2 in
    thr) bin=(build/throughput); count=$(thr_count "$4"); mode=(init_size) ;;
    send) bin=(build/throughput); count=$(thr_count "$4"); mode=(send) ;;
    lat) bin=(taskset -c 0 build/latency); count=$(lat_count "$4") ;;
  esac
  if [ "$1" = floor ]; then
    case $2 in
      thr) size=32; count=$(thr_count 64) ;;
      send) mode=(send-floor) ;;
      lat) echo NA; return ;;
    esac
  fi
  # A run that hangs or fails is reported as missing (NA), never as a figure.
  local value
  value=$(env ${preload:+LD_PRELOAD=$preload} timeout 120 "${bin[@]}" "$3" "$size" "$count" "${mode[@]}") || value=""
  echo "${value:-NA}"
}

echo "bench,transport,size,config,run,value" > "$OUT/raw.csv"
total=$(( $(wc -w <<<"$TRANSPORTS") * $(wc -w <<<"$SIZES") ))
point=0
for transport in $TRANSPORTS; do
  for size in $SIZES; do
    point=$((point + 1))
    printf '\r[%2d/%d] %-6s %7s B' "$point" "$total" "$transport" "$size" >&2
    for r in $(seq "$RUNS"); do
      for k in "${!CONFIGS[@]}"; do
        config=${CONFIGS[$(( (k + r) % ${#CONFIGS[@]} ))]}
        for bench in ${BENCHES:-thr send lat}; do
          value=$(run "$config" "$bench" "$transport" "$size")
          [ "$value" = NA ] || echo "$bench,$transport,$size,$config,$r,$value" >> "$OUT/raw.csv"
        done
      done
    done
  done
done
echo >&2
python3 benches/e2e_report.py "$OUT/raw.csv" "$OUT"
