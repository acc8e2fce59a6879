#!/usr/bin/env bash
# The default caps follow the process's memory limits (README, "Memory
# limits"): each limit is set on a child only (prlimit, or a memory cgroup
# made for it by scripts/cgroup_run.sh), and the statistics it prints at
# exit must name the limit and show the caps the rule derives from it. In
# a 256 MiB cgroup, 8 bursts of 96 MiB in flight (c_tests/test_bursts.c)
# complete under both libraries (decay at 5 s, longer than the whole run);
# with the depot's cap set to 1 GiB by hand
# (the control) the OOM killer ends the same program.
#
#   check_limits.sh BUILD_DIR LIBZMQPOOL LIBZMQPOOL_MALLOC
set -euo pipefail
build=$1
lib=$2
lib_malloc=$3
here=$(dirname "$0")
probe=("$build/test_decay" --print-decay)
pass=0

check() { # NAME EXPECT-LIMIT EXPECT-BYTES DEPOT THREAD -- COMMAND...
  local name=$1 limit=$2 bytes=$3 depot=$4 thread=$5; shift 6
  ZMQPOOL_SHOW_STATS=json "$@" 2>"$build/limits-$name.json" >/dev/null
  python3 "$here/../c_tests/check_stats_json.py" --memory "$build/limits-$name.json" "$limit" "$bytes" "$depot" "$thread"
  pass=$((pass + 1))
}

check as-1g RLIMIT_AS 1073741824 33554432 4194304 -- prlimit --as=1073741824 "${probe[@]}"
check as-200m RLIMIT_AS 209715200 6553600 3276800 -- prlimit --as=209715200 "${probe[@]}"
check data-1g RLIMIT_DATA 1073741824 33554432 4194304 -- prlimit --data=1073741824 "${probe[@]}"
# A cap the user set holds as set.
check as-set RLIMIT_AS 1073741824 5242880 4194304 -- env ZMQPOOL_MAX_CACHED_BYTES=5M prlimit --as=1073741824 "${probe[@]}"

# Under an address-space limit mimalloc maps its pages one by one, unless
# the user said otherwise; without one it keeps arenas.
mapping() { # EXPECT-WORDS ENV... : the ZMQPOOL_VERBOSE line says how mimalloc maps
  local expect=$1 said; shift
  # Captured first: grep -q in a pipe would end it early, and pipefail
  # would take the writer's SIGPIPE for a failure.
  said=$(env ZMQPOOL_VERBOSE=1 "$@" "${probe[@]}" 2>&1 >/dev/null)
  grep -q "mimalloc $expect" <<<"$said" ||
    { echo "check_limits: with $*: mimalloc does not say it $expect"; echo "$said"; exit 1; }
  echo "ok: $* -> mimalloc $expect"
  pass=$((pass + 1))
}
mapping "maps its pages one by one" prlimit --as=1073741824
mapping "carves its pages from arenas" MIMALLOC_DISALLOW_ARENA_ALLOC=0 prlimit --as=1073741824
mapping "carves its pages from arenas" prlimit --as=8589934592

# A 256 MiB memory cgroup of the child's own (v1 names its limit
# memory.limit_in_bytes, v2 memory.max).
status=0
ZMQPOOL_SHOW_STATS=json "$here/cgroup_run.sh" 268435456 "${probe[@]}" 2>"$build/limits-cgroup.json" >/dev/null || status=$?
if [ "$status" -eq 77 ]; then
  grep "skipped" "$build/limits-cgroup.json" >&2
  echo "check_limits: $pass passed, 0 failed, 1 skipped"
  exit 0
fi
[ "$status" -eq 0 ] || { cat "$build/limits-cgroup.json" >&2; exit 1; }
if grep -q "(v1)" "$build/limits-cgroup.json"; then name="cgroup v1 memory.limit_in_bytes"; else name="cgroup memory.max"; fi
python3 "$here/../c_tests/check_stats_json.py" --memory "$build/limits-cgroup.json" "$name" 268435456 8388608 4194304
pass=$((pass + 1))

bursts() { # EXPECT(pass|killed) ENV... : test_bursts in a 256 MiB group
  local expect=$1 status=0; shift
  "$here/cgroup_run.sh" 268435456 env "$@" "$build/test_bursts_ref" >"$build/bursts.txt" 2>&1 || status=$?
  case "$expect:$status" in
    pass:0 | killed:137)
      echo "ok: bursts in 256 MiB, $*: $(tail -1 "$build/bursts.txt")"
      pass=$((pass + 1)) ;;
    *)
      cat "$build/bursts.txt" >&2
      echo "check_limits: bursts with $*: expected $expect, got exit $status"
      exit 1 ;;
  esac
}
# Decay at 5 s: nothing decays between the bursts (200 ms apart), however
# slow the machine, so only the caps decide what stays.
bursts pass ZMQPOOL_DECAY_MS=5000 ZMQPOOL_TEST_EXPECT=1 LD_PRELOAD="$lib"
bursts pass ZMQPOOL_DECAY_MS=5000 ZMQPOOL_TEST_EXPECT=1 LD_PRELOAD="$lib_malloc"
bursts killed ZMQPOOL_DECAY_MS=5000 ZMQPOOL_MAX_CACHED_BYTES=1G LD_PRELOAD="$lib"
echo "check_limits: $pass passed, 0 failed"
