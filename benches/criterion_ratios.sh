#!/usr/bin/env bash
# Prints, for every criterion group and size, each baseline's mean time
# divided by zmqpool's (above 1: zmqpool is faster). Run after
# `cargo bench --bench pool`.
set -euo pipefail
cd "$(dirname "$0")/../target/criterion"
for group in same_thread handoff; do
  [ -d "$group" ] || continue
  echo "== $group (ns per operation; ratio = baseline / zmqpool)"
  for size in 64 256 1024 8192 65536 131072 262144; do
    z=$(python3 -c "import json;print(json.load(open('$group/zmqpool/$size/new/estimates.json'))['mean']['point_estimate'])" 2>/dev/null) || continue
    line=$(printf '%8s zmqpool %8.1f' "$size" "$z")
    for base in "$group"/*/; do
      name=$(basename "$base"); [ "$name" = zmqpool ] || [ "$name" = report ] && continue
      t=$(python3 -c "import json;print(json.load(open('$base/$size/new/estimates.json'))['mean']['point_estimate'])" 2>/dev/null) || continue
      line+=$(awk -v n="$name" -v t="$t" -v z="$z" 'BEGIN { printf "  %s %8.1f (%.2fx)", n, t, t / z }')
    done
    echo "$line"
  done
done
