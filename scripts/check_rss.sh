#!/usr/bin/env bash
# The smoke version of `make bench-rss`, run by `make test`: an unchanged
# program (benches/rss_burst.c, PUSH/PULL, high-water marks 0) sends a burst
# of 3000 messages of 64 KiB (all queued), receives them, then idles; with
# zmqpool preloaded (both libraries), over inproc and tcp, its RSS must come
# back within 8 MiB of the pre-burst baseline. The deadline here is 10 s
# (a loaded CI machine); the 3 s figures come from `make bench-rss`.
# Control: with decay off the pool keeps its caches, and the same check
# must fail (so it can).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=build/rss_burst
within_kib=8192
fail=0
seconds=10
# prints "KIB_OVER MS" of the last sample
run() {
  local out baseline last
  out=$(env RSS_BURST_STOP_KIB=$within_kib "$@" timeout 60 "$bin" "$transport" 65536 3000 "$seconds" 0)
  baseline=$(awk '$1 == "baseline" { print $2 }' <<<"$out")
  last=$(awk '$1 ~ /^[0-9]/ { ms = $1; kib = $2 } END { print kib, ms }' <<<"$out")
  echo "$(( ${last% *} - baseline )) ${last#* }"
}
for lib in libzmqpool.so libzmqpool-malloc.so; do
  for transport in inproc tcp; do
    read -r over ms < <(run LD_PRELOAD="$PWD/target/release/$lib")
    if [ "$over" -le "$within_kib" ]; then
      echo "ok   $lib $transport: RSS back to +$over KiB, $ms ms after the burst"
    else
      echo "FAIL $lib $transport: RSS still +$over KiB after $ms ms"
      fail=1
    fi
  done
done
transport=inproc
seconds=3
read -r over ms < <(run LD_PRELOAD="$PWD/target/release/libzmqpool.so" ZMQPOOL_DECAY_MS=0)
if [ "$over" -gt "$within_kib" ]; then
  echo "ok   control (decay off): RSS stays +$over KiB (the check can fail)"
else
  echo "FAIL control (decay off): RSS +$over KiB, expected the caches to stay"
  fail=1
fi
exit $fail
