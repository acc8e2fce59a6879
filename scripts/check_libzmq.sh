#!/usr/bin/env bash
# libzmq's own test suite under zmqpool (make check-libzmq).
#
# Builds Debian's libzmq 4.3.4 source package (apt-get source zeromq3) twice,
# as Debian configures it and with --enable-drafts (RADIO/DISH, CLIENT/SERVER,
# PEER... exercise zmqpool's draft functions from inside libzmq), caches both
# under build/libzmq/, and runs every test of each plain, with libzmqpool.so
# preloaded and with libzmqpool-malloc.so preloaded.
#
# Verdict: every test that passes plain must pass preloaded; a test that
# fails preloaded is run again, and counts as failed only if it fails in 2
# of 3 runs (libzmq's suite has timing-sensitive tests) - but a preloaded
# run that crashes or hangs (killed by a signal, or timed out) fails at
# once, unless plain did the same. Each preloaded run must show zmqpool's
# statistics (the preload took effect), and each library must have pooled
# messages (bodies from the pool) over the whole suite. A test named in
# LIBZMQ_TESTS that does not exist, or fails plain, fails the run.
#
# Environment:
#   LIBZMQ_CONFIGS  configurations to build and run (default "debian drafts")
#   LIBZMQ_TESTS    test names to run (default: every test the build has)
#   JOBS            tests run at once (default: number of cores)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
work=$root/build/libzmq
configs=${LIBZMQ_CONFIGS:-debian drafts}
jobs=${JOBS:-$(nproc)}
variants=(plain zmqpool zmqpool-malloc)
# The libraries under test, copied first: a `make` running meanwhile may
# replace the originals, never these.
mkdir -p "$work/lib"
libs=()
for lib in libzmqpool.so libzmqpool-malloc.so; do
  [ -f "$root/target/release/$lib" ] || { echo "check-libzmq: target/release/$lib is missing (run make first)"; exit 2; }
  cp "$root/target/release/$lib" "$work/lib/$lib"
  libs+=("$work/lib/$lib")
done

bash "$root/scripts/setup.sh" --libzmq-source

# ---- source ------------------------------------------------------------------
mkdir -p "$work"
if [ ! -f "$work/source/.ready" ]; then
  rm -rf "$work/source"
  mkdir -p "$work/source"
  echo "check-libzmq: fetching Debian's zeromq3 source package"
  (cd "$work/source" && apt-get source -qq zeromq3 >/dev/null 2>"$work/source.log") ||
    { cat "$work/source.log"; exit 1; }
  touch "$work/source/.ready"
fi
srcdir=$(find "$work/source" -mindepth 1 -maxdepth 1 -type d -name 'zeromq3-*' | head -1)

# ---- builds ------------------------------------------------------------------
# debian/rules' configure flags (override_dh_auto_configure).
debian_flags=(--with-pgm --with-libsodium --with-norm=yes --with-libgssapi_krb5=yes --disable-Werror)
for config in $configs; do
  case $config in
    debian) flags=("${debian_flags[@]}") ;;
    drafts) flags=("${debian_flags[@]}" --enable-drafts) ;;
    *) echo "check-libzmq: unknown configuration $config"; exit 2 ;;
  esac
  dir=$work/$config
  if [ ! -f "$dir/.built" ]; then
    echo "check-libzmq: building libzmq ($config: ${flags[*]}) in $dir"
    rm -rf "$dir"
    cp -a "$srcdir" "$dir"
    if ! (cd "$dir" && ./autogen.sh && ./configure "${flags[@]}" --disable-static &&
          make -j"$jobs" && make -j"$jobs" check TESTS=) >"$dir.build.log" 2>&1; then
      tail -40 "$dir.build.log"
      echo "check-libzmq: the $config build failed (log: $dir.build.log)"
      exit 1
    fi
    touch "$dir/.built"
  fi
done

# ---- one test, one variant -----------------------------------------------------
# Prints "status runs_failed pooled sends" for the test: status is pass,
# fail, crash (a preloaded run killed by a signal or the timeout), skip
# (automake's exit status 77) or missing; pooled: messages whose body came
# from the pool; sends: zmq_send calls zmqpool served: status is pass,
# fail or skip (automake's exit status 77).
run_one() {
  local config=$1 test=$2 variant=$3 dir=$work/$1 attempt failed=0 passed=0 log rc
  local outdir=$work/logs/$config/$variant
  mkdir -p "$outdir"
  local preload=""
  case $variant in
    zmqpool) preload=${libs[0]} ;;
    zmqpool-malloc) preload=${libs[1]} ;;
  esac
  if [ ! -x "$dir/tests/.libs/$test" ]; then echo "missing 0 0 0"; return; fi
  for attempt in 1 2 3; do
    log=$outdir/$test.$attempt.log
    set +e
    (cd "$dir/tests" &&
      env LD_LIBRARY_PATH="$dir/src/.libs" ${preload:+LD_PRELOAD=$preload} ZMQPOOL_SHOW_STATS=1 \
        timeout 300 "$dir/tests/.libs/$test") >"$log" 2>&1
    rc=$?
    set -e
    echo "check-libzmq: exit status $rc" >>"$log"
    if [ $rc -eq 77 ]; then echo "skip 0 0 0"; return; fi
    # Killed by a signal (128+n) or by the timeout (124): a crash or a hang
    # under a preload is zmqpool's until proven otherwise - no retry,
    # unless plain crashed or hung the same way (run_one plain wrote it).
    if [ -n "$preload" ] && [ $rc -ge 124 ] && [ $rc -ne 77 ] &&
       ! grep -qs "check-libzmq: exit status $rc" "$work/logs/$config/plain/$test".*.log; then
      echo "crash 1 0 0"; return
    fi
    if [ $rc -eq 0 ] && [ -n "$preload" ] && ! grep -q '^zmqpool stats' "$log"; then
      rc=99 # the preload did not take effect
      echo "zmqpool: no statistics at exit: the preload did not take effect" >>"$log"
    fi
    if [ $rc -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
    # Plain: one pass decides. Preloaded: 2 of 3 decide either way.
    if [ -z "$preload" ] && [ $passed -ge 1 ]; then break; fi
    if [ -n "$preload" ] && { [ $passed -ge 2 ] || [ $failed -ge 2 ]; }; then break; fi
    if [ -n "$preload" ] && [ $attempt -eq 1 ] && [ $passed -eq 1 ]; then break; fi
  done
  local pooled sends
  pooled=$(cat "$outdir/$test".*.log | awk '$1 == "pooled" { s += $2 } END { print s + 0 }')
  sends=$(cat "$outdir/$test".*.log | awk '$1 == "zmq_send" { s += $2 } END { print s + 0 }')
  if [ $passed -gt 0 ] && { [ -z "$preload" ] || [ $failed -lt 2 ]; }; then
    echo "pass $failed $pooled $sends"
  else
    echo "fail $failed $pooled $sends"
  fi
}
export -f run_one
export work
export libs_0=${libs[0]} libs_1=${libs[1]}

# ---- run -----------------------------------------------------------------------
status=0
summary=$work/summary.txt
: >"$summary"
for config in $configs; do
  dir=$work/$config
  rm -rf "$work/logs/$config"
  if [ -n "${LIBZMQ_TESTS:-}" ]; then
    tests=$LIBZMQ_TESTS
  else
    tests=$(make -s -C "$dir" -f Makefile -f - print-tests <<<'print-tests: ; @echo $(TESTS)' 2>/dev/null |
      tr ' ' '\n' | sed -n 's|^tests/||p')
  fi
  results=$work/results-$config.txt
  : >"$results"
  # $jobs tests at a time; one test's variants one after the other (some
  # tests bind fixed ports, so a test must never run twice at once).
  for test in $tests; do echo "$config $test"; done | xargs -P "$jobs" -n 2 bash -c '
    libs=("$libs_0" "$libs_1")
    for variant in plain zmqpool zmqpool-malloc; do
      printf "%s %s %s\n" "$1" "$variant" "$(run_one "$0" "$1" "$variant")"
    done' >>"$results"
  sort -k1,1 -k2,2 -o "$results" "$results"
  echo "== libzmq test suite, $config build: $(echo "$tests" | wc -w) tests" | tee -a "$summary"
  awk -v config="$config" -v named="${LIBZMQ_TESTS:+1}" '
    {
      status[$1, $2] = $3; retries[$1, $2] = $4; pooled[$2] += $5; sends[$2] += $6
      if (!($1 in seen)) { seen[$1] = 1; list[++n] = $1 }
    }
    END {
      for (i = 1; i <= n; i++) {
        t = list[i]; p = status[t, "plain"]
        for (v = 1; v <= 3; v++) {
          variant = (v == 1 ? "plain" : v == 2 ? "zmqpool" : "zmqpool-malloc")
          s = status[t, variant]; count[variant, s]++
        }
        for (v = 2; v <= 3; v++) {
          variant = (v == 2 ? "zmqpool" : "zmqpool-malloc")
          s = status[t, variant]
          if (p == "pass" && s == "crash") { printf "CRASH      %s under %s (killed by a signal or the timeout)\n", t, variant; bad++ }
          else if (p == "pass" && s != "pass") { printf "REGRESSION %s under %s\n", t, variant; bad++ }
          else if (p == "pass" && retries[t, variant] > 0)
            printf "flaky      %s under %s (failed %d of 3, passed on retry)\n", t, variant, retries[t, variant]
        }
        if (p == "missing") { printf "MISSING    %s (no such test in this build)\n", t; bad++ }
        if (p == "fail") {
          if (named) { printf "FAILS PLAIN %s (a named test must pass plain)\n", t; bad++ }
          else printf "fails plain %s (not counted)\n", t
        }
      }
      printf "%-16s %6s %6s %6s %12s %10s\n", "variant", "pass", "fail", "skip", "pooled msgs", "zmq_send"
      for (v = 1; v <= 3; v++) {
        variant = (v == 1 ? "plain" : v == 2 ? "zmqpool" : "zmqpool-malloc")
        printf "%-16s %6d %6d %6d %12s %10s\n", variant, count[variant, "pass"], count[variant, "fail"] + count[variant, "crash"],
          count[variant, "skip"], (v == 1 ? "-" : pooled[variant]), (v == 1 ? "-" : sends[variant])
        if (v > 1 && pooled[variant] == 0) { printf "NOTHING POOLED under %s\n", variant; bad++ }
      }
      exit bad > 0
    }' "$results" | tee -a "$summary" || status=1
done
echo "check-libzmq: logs in $work/logs, summary in $summary"
exit $status
