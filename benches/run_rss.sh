#!/usr/bin/env bash
# Resident memory after a burst (make bench-rss): benches/rss_burst.c, an
# unchanged PUSH/PULL program with high-water marks 0, sends a burst of
# 20,000 messages of 64 KiB (all queued), receives them all, then idles and
# calls nothing for 6 s while its RSS is sampled every 100 ms; the same
# with a steady trickle (100 messages/s) instead of idling. Configurations,
# all by LD_PRELOAD of the same binary:
#   plain                  libzmq with glibc malloc
#   zmqpool / -nodecay     libzmqpool.so, default decay (1 s) / ZMQPOOL_DECAY_MS=0
#   zmqpool-malloc / ...   libzmqpool-malloc.so, the same two
#   mimalloc, jemalloc     Debian's preloads
# Raw samples go to build/rss/raw.csv; benches/rss_report.py writes the
# table (build/rss/results.md) and the chart (build/rss/rss.svg).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=build/rss
COUNT=${COUNT:-20000}
SIZE=${SIZE:-65536}
SECONDS_IDLE=${SECONDS_IDLE:-6}
TRICKLE=${TRICKLE:-100}
mkdir -p "$OUT"
MIMALLOC=$(ls /usr/lib/*/libmimalloc.so.2 2>/dev/null | head -1 || true)
JEMALLOC=$(ls /usr/lib/*/libjemalloc.so.2 2>/dev/null | head -1 || true)
[ -n "$MIMALLOC" ] && [ -n "$JEMALLOC" ] || { echo "needs libmimalloc2.0 and libjemalloc2: make setup-bench" >&2; exit 1; }
pool=$(pwd)/target/release/libzmqpool.so
pool_malloc=$(pwd)/target/release/libzmqpool-malloc.so
declare -A ENV=(
  [plain]=""
  [zmqpool]="LD_PRELOAD=$pool"
  [zmqpool-nodecay]="LD_PRELOAD=$pool ZMQPOOL_DECAY_MS=0"
  [zmqpool-malloc]="LD_PRELOAD=$pool_malloc"
  [zmqpool-malloc-nodecay]="LD_PRELOAD=$pool_malloc ZMQPOOL_DECAY_MS=0"
  [mimalloc]="LD_PRELOAD=$MIMALLOC"
  [jemalloc]="LD_PRELOAD=$JEMALLOC"
)
CONFIGS=(plain zmqpool zmqpool-nodecay zmqpool-malloc zmqpool-malloc-nodecay mimalloc jemalloc)

echo "scenario,transport,config,ms,kib_over_baseline,baseline_kib,peak_kib" > "$OUT/raw.csv"
for scenario in idle trickle; do
  for transport in inproc tcp; do
    for config in "${CONFIGS[@]}"; do
      printf '\r%-8s %-6s %-24s' "$scenario" "$transport" "$config" >&2
      rate=0
      [ "$scenario" = trickle ] && rate=$TRICKLE
      out=$(env ${ENV[$config]} timeout 120 build/rss_burst "$transport" "$SIZE" "$COUNT" "$SECONDS_IDLE" "$rate")
      baseline=$(awk '$1 == "baseline" { print $2 }' <<<"$out")
      peak=$(awk '$1 == "peak" { print $2 }' <<<"$out")
      awk -v s="$scenario" -v t="$transport" -v c="$config" -v b="$baseline" -v p="$peak" \
        '$1 ~ /^[0-9]/ { printf "%s,%s,%s,%s,%d,%d,%d\n", s, t, c, $1, $2 - b, b, p }' <<<"$out" >> "$OUT/raw.csv"
    done
  done
done
echo >&2
python3 benches/rss_report.py "$OUT/raw.csv" "$OUT"
