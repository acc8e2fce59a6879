#!/usr/bin/env bash
# Runs a command in a memory cgroup made for it alone, with a limit, then
# removes the group:
#
#   cgroup_run.sh LIMIT_BYTES COMMAND [ARG...]
#
# The group is made under this process's own group in the hierarchy that
# holds the memory controller, found through /proc/self/cgroup and the
# mounts (cgroup v1 `memory`, or v2 where `memory` is already in the
# parent's cgroup.subtree_control). Only the command's own process is
# placed in it; no limit or controller setting of any existing group is
# written. Exit status: the command's; 77 (with the reason on stderr) when
# no such group can be made here (not root, no memory controller, ...).
set -u
limit=$1; shift

skip() { echo "cgroup_run: skipped: $*" >&2; exit 77; }

[ "$(id -u)" -eq 0 ] || skip "not root"
parent=""
version=""
# v1: the line whose controllers include memory; v2: the line 0::PATH.
while IFS=: read -r id controllers path; do
  if [ "$id" != 0 ] && [[ ",$controllers," == *,memory,* ]]; then
    group_v1=$path
  elif [ "$id" = 0 ] && [ -z "$controllers" ]; then
    group_v2=$path
  fi
done < /proc/self/cgroup
# Mount points: field 5 is the mount point, after " - " the type and options.
while read -r line; do
  read -ra fields <<<"$line"
  mount_root=${fields[3]}; mount_point=${fields[4]}
  rest=${line#* - }; fstype=${rest%% *}; options=${rest##* }
  if [ "$fstype" = cgroup ] && [[ ",$options," == *,memory,* ]] && [ -n "${group_v1:-}" ]; then
    relative=${group_v1#$mount_root}; [ "$mount_root" = / ] && relative=$group_v1
    parent=$mount_point$relative; version=1
  elif [ "$fstype" = cgroup2 ] && [ -z "$parent" ] && [ -n "${group_v2:-}" ]; then
    relative=${group_v2#$mount_root}; [ "$mount_root" = / ] && relative=$group_v2
    candidate=$mount_point$relative
    if grep -qw memory "$candidate/cgroup.subtree_control" 2>/dev/null; then
      parent=$candidate; version=2
    fi
  fi
done < /proc/self/mountinfo
[ -n "$parent" ] || skip "no memory controller a child group can be made under"
group="$parent/zmqpool-test-$$"
mkdir "$group" 2>/dev/null || skip "cannot make $group"
cleanup() {
  # The command has exited: the group is empty; give it a moment to be.
  for _ in 1 2 3 4 5 6 7 8 9 10; do rmdir "$group" 2>/dev/null && return; sleep 0.1; done
  echo "cgroup_run: could not remove $group" >&2
}
trap cleanup EXIT
trap 'exit 143' INT TERM
if [ "$version" = 1 ]; then
  echo "$limit" > "$group/memory.limit_in_bytes" || skip "cannot set the limit of $group"
  # No swap either, where the kernel accounts it.
  [ -e "$group/memory.memsw.limit_in_bytes" ] && echo "$limit" > "$group/memory.memsw.limit_in_bytes" 2>/dev/null
else
  echo "$limit" > "$group/memory.max" || skip "cannot set the limit of $group"
  [ -e "$group/memory.swap.max" ] && echo 0 > "$group/memory.swap.max"
fi
echo "cgroup_run: $group (v$version), limit $limit bytes" >&2
# The child moves itself into the group, then becomes the command.
bash -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' cgroup_run "$group" "$@"
status=$?
exit $status
