#!/usr/bin/env bash
# zmqpool in a privileged program (secure-execution mode): a set-user-ID
# copy of a program linked with libzmqpool.so, run by an unprivileged user
# whose environment asks for JSON statistics appended to a file that user
# may not write. The file must stay as it was, the program must work, and
# zmqpool must print nothing. The same program without the set-user-ID bit
# (the control) does write the file, so the check can fail. Also: the
# statistics file is never created through a dangling symbolic link, and
# zmqpool-run refuses a set-user-ID program.
#   check_secure.sh PROGRAM LIBZMQPOOL_SO ZMQPOOL_RUN
# Needs root (it makes a set-user-ID file and runs it as nobody); skipped
# with the reason otherwise.
set -u
program=$1 lib=$2 zmqpool_run=$3
passed=0 failed=0
ok() { echo "ok   $1"; passed=$((passed + 1)); }
bad() { echo "FAIL $1"; failed=$((failed + 1)); }
if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null || ! command -v patchelf >/dev/null; then
  echo "check_secure: skipped (needs root, setpriv and patchelf)"
  echo "check_secure: 0 passed, 0 failed, 1 skipped"
  exit 0
fi
dir=$(mktemp -d /tmp/zmqpool-secure.XXXXXX)
trap 'rm -rf "$dir"' EXIT
chmod 755 "$dir"
cp "$lib" "$dir/"
cp "$program" "$dir/prog"
patchelf --set-rpath "$dir" "$dir/prog"
chmod 755 "$dir/prog" "$dir/$(basename "$lib")"
printf 'untouched\n' >"$dir/victim"
chmod 644 "$dir/victim"
settings=(ZMQPOOL_STATS_FILE="$dir/victim" ZMQPOOL_STATS_INTERVAL_MS=1 ZMQPOOL_VERBOSE=1
          ZMQPOOL_SHOW_STATS=1 ZMQPOOL_DECAY_MS=now TEST_EXIT_PRINT_IDS=1)

# The control: not privileged, so the settings apply (run as root, who may
# write the file).
cp "$dir/victim" "$dir/victim.orig"
out=$(env "${settings[@]}" timeout -k 5 20 "$dir/prog" exit_from_worker 2>&1)
if [ $? -eq 0 ] && ! cmp -s "$dir/victim" "$dir/victim.orig" && grep -q '^zmqpool ' <<<"$out"; then
  ok "control: without set-user-ID the settings apply (the file got statistics)"
else
  bad "control: the settings did not apply to the unprivileged program"
fi
cp "$dir/victim.orig" "$dir/victim"

# Privileged: root's set-user-ID copy, run by nobody.
chmod 4755 "$dir/prog"
out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups env "${settings[@]}" \
      timeout -k 5 20 "$dir/prog" exit_from_worker 2>&1)
status=$?
if ! grep -q '^uid=65534 euid=0$' <<<"$out"; then
  echo "check_secure: skipped (the set-user-ID bit did not take: $(grep '^uid' <<<"$out"))"
  echo "check_secure: $passed passed, $failed failed, 1 skipped"
  exit $((failed > 0))
fi
[ $status -eq 0 ] && grep -q '^atexit ran$' <<<"$out" && ok "set-user-ID program works (status 0)" \
  || bad "set-user-ID program: status $status"
cmp -s "$dir/victim" "$dir/victim.orig" && ok "the file it may write but its user may not is unchanged" \
  || bad "ZMQPOOL_STATS_FILE was written by a set-user-ID program"
! grep -q 'zmqpool' <<<"$out" && ok "nothing printed (ZMQPOOL_VERBOSE, ZMQPOOL_SHOW_STATS ignored)" \
  || bad "zmqpool printed in a set-user-ID program: $(grep zmqpool <<<"$out" | head -1)"

# zmqpool-run refuses the set-user-ID program rather than run it unpooled.
out=$("$zmqpool_run" "$dir/prog" exit_from_worker 2>&1)
status=$?
[ $status -eq 126 ] && grep -q 'set-user-ID' <<<"$out" && ok "zmqpool-run refuses a set-user-ID program" \
  || bad "zmqpool-run ran a set-user-ID program (status $status)"
chmod 755 "$dir/prog"

# A dangling symbolic link where the statistics file should be: nothing is
# created where it points.
ln -s "$dir/planted" "$dir/link"
env ZMQPOOL_STATS_FILE="$dir/link" ZMQPOOL_STATS_INTERVAL_MS=1 timeout -k 5 20 "$dir/prog" exit_from_worker >/dev/null 2>&1
[ ! -e "$dir/planted" ] && ok "a dangling symbolic link is not followed to create a file" \
  || bad "the statistics file was created through a dangling symbolic link"
# A new file is created with mode 0644 at most (never group- or world-writable).
(umask 000; env ZMQPOOL_STATS_FILE="$dir/new.json" ZMQPOOL_STATS_INTERVAL_MS=1 timeout -k 5 20 "$dir/prog" exit_from_worker >/dev/null 2>&1)
mode=$(stat -c %a "$dir/new.json" 2>/dev/null)
[ "$mode" = 644 ] && [ -s "$dir/new.json" ] && ok "a new statistics file is created 0644 under umask 000" \
  || bad "a new statistics file has mode '$mode' (or is empty)"
echo "check_secure: $passed passed, $failed failed"
[ $failed -eq 0 ]
