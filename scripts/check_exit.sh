#!/usr/bin/env bash
# A process ends when its threads do, under zmqpool as under libzmq alone
# (c_tests/test_exit.c): each run must exit with status 0 within the time
# limit and print its atexit line. Under libzmq alone it is the control.
#   check_exit.sh BUILD_DIR LIBZMQPOOL_SO LIBZMQPOOL_MALLOC_SO [VALGRIND_CMD]
set -u
build=$1 lib=$2 lib_malloc=$3 valgrind=${4:-}
limit=20
failed=0 passed=0
run() { # name, env..., -- , program args...
  local name=$1; shift
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  local out status start=$SECONDS
  out=$(env "${envs[@]}" timeout -k 5 "$limit" "$@" 2>&1)
  status=$?
  if [ $status -ne 0 ] || ! grep -q '^atexit ran$' <<<"$out"; then
    echo "FAIL $name: status $status after $((SECONDS - start)) s (124: still running at ${limit} s)"
    sed 's/^/     /' <<<"$out" | tail -5
    failed=$((failed + 1))
  else
    echo "ok   $name ($((SECONDS - start)) s)"
    passed=$((passed + 1))
  fi
}
stats=$build/exit-interval.json
rm -f "$stats"
for mode in pthread_exit exit_from_worker fork_after_main_exit; do
  decay=(); [ $mode = exit_from_worker ] && decay=(ZMQPOOL_DECAY_MS=now)
  run "$mode: libzmq alone" "${decay[@]}" -- "$build/test_exit_ref" $mode
  run "$mode: linked" ZMQPOOL_TEST_EXPECT=1 "${decay[@]}" -- "$build/test_exit_linked" $mode
  run "$mode: preloaded" ZMQPOOL_TEST_EXPECT=1 LD_PRELOAD="$lib" "${decay[@]}" -- "$build/test_exit_ref" $mode
  run "$mode: malloc variant" ZMQPOOL_TEST_EXPECT=1 LD_PRELOAD="$lib_malloc" "${decay[@]}" -- "$build/test_exit_ref" $mode
  run "$mode: linked, interval statistics" ZMQPOOL_TEST_EXPECT=1 ZMQPOOL_STATS_INTERVAL_MS=20 \
    ZMQPOOL_STATS_FILE="$stats" "${decay[@]}" -- "$build/test_exit_linked" $mode
done
# The interval writer really ran in those processes (the helper was there).
if [ ! -s "$stats" ]; then
  echo "FAIL interval statistics: $stats is empty (no helper thread ran)"
  failed=$((failed + 1))
fi
if [ -n "$valgrind" ]; then
  limit=120
  run "pthread_exit: linked, valgrind" ZMQPOOL_TEST_EXPECT=1 -- $valgrind "$build/test_exit_linked" pthread_exit
fi
echo "check_exit: $passed passed, $failed failed"
[ $failed -eq 0 ]
