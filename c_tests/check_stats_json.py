#!/usr/bin/env python3
"""Checks zmqpool's JSON statistics; exits non-zero on any mismatch.

  check_stats_json.py < OBJECT        c_tests/stats_workload.c's object: it
                                      parses, every total is the sum of its
                                      parts, the numbers are the workload's
  check_stats_json.py --lines F N     an interval file: N objects or more
  check_stats_json.py --exit-object F the object printed at exit
  check_stats_json.py --memory F LIMIT BYTES DEPOT THREAD
                                      the object printed at exit names the
                                      limit LIMIT of BYTES, and the default
                                      caps derived from it"""
import json
import sys



def check_lines(path, minimum):
    """ZMQPOOL_STATS_INTERVAL_MS output: one object per line, at least
    `minimum` of them, counters that never go back."""
    with open(path) as f:
        objects = [json.loads(line) for line in f if line.strip()]
    problems = []
    if len(objects) < minimum:
        problems.append(f"{len(objects)} objects, expected at least {minimum}")
    for before, after in zip(objects, objects[1:]):
        for key in ("allocations", "frees"):
            if after["totals"][key] < before["totals"][key]:
                problems.append(f"totals.{key} went back")
    if problems:
        print(f"check_stats_json {path}: " + "; ".join(problems))
        sys.exit(1)
    print(f"check_stats_json {path}: {len(objects)} objects, counters monotonic")
    sys.exit(0)


def check_memory(path, limit, limit_bytes, depot, thread):
    """A run under a limit the caller set: the statistics name it, and the
    caps in force are the ones the README's rule derives from it."""
    with open(path) as f:
        stats = json.loads([line for line in f if line.strip()][-1])
    expected = {
        "memory.limit": (stats["memory"]["limit"], limit),
        "memory.limit_bytes": (stats["memory"]["limit_bytes"], int(limit_bytes)),
        "settings.max_cached_bytes": (stats["settings"]["max_cached_bytes"], int(depot)),
        "caps.depot_bytes": (stats["caps"]["depot_bytes"], int(depot)),
        "settings.max_thread_cached_bytes": (stats["settings"]["max_thread_cached_bytes"], int(thread)),
    }
    problems = [f"{key} {got!r}, expected {want!r}" for key, (got, want) in expected.items() if got != want]
    if problems:
        print(f"check_stats_json {path}: " + "; ".join(problems))
        sys.exit(1)
    print(f"check_stats_json {path}: {limit} {limit_bytes}: depot cap {depot}, thread cap {thread}")
    sys.exit(0)


def check_exit_object(path):
    """ZMQPOOL_SHOW_STATS=json at exit of a preloaded socket test: the last
    line is the object; messages were pooled and every block came back."""
    with open(path) as f:
        stats = json.loads([line for line in f if line.strip()][-1])
    problems = []
    if stats["messages"]["pooled"] <= 0:
        problems.append("no pooled messages")
    if stats["totals"]["bytes_in_use"] != 0:
        problems.append(f"bytes_in_use {stats['totals']['bytes_in_use']}")
    if not stats["libzmq"] or not stats["libzmq"].startswith("4."):
        problems.append(f"libzmq version {stats['libzmq']!r}")
    if problems:
        print(f"check_stats_json {path}: " + "; ".join(problems))
        sys.exit(1)
    print(f"check_stats_json {path}: {stats['messages']['pooled']} pooled, all returned, libzmq {stats['libzmq']}")
    sys.exit(0)


if len(sys.argv) == 4 and sys.argv[1] == "--lines":
    check_lines(sys.argv[2], int(sys.argv[3]))
if len(sys.argv) == 3 and sys.argv[1] == "--exit-object":
    check_exit_object(sys.argv[2])
if len(sys.argv) == 7 and sys.argv[1] == "--memory":
    check_memory(*sys.argv[2:])

stats = json.loads(sys.stdin.read())
totals, classes, upstream = stats["totals"], stats["classes"], stats["upstream"]
failures = []


def check(name, actual, expected):
    if actual != expected:
        failures.append(f"{name}: {actual} != {expected}")


def total(field):
    return sum(c[field] for c in classes)


def holding(size):
    """The class a body of `size` bytes lands in (48 bytes of content block
    before it, 16 of header: the pool sees size + 48)."""
    fits = [c for c in classes if c["size"] >= size + 48]
    return min(fits, key=lambda c: c["size"])


check("allocations", totals["allocations"], total("allocations") + upstream["allocations"])
check("frees", totals["frees"], total("frees") + upstream["frees"])
check("foreign_frees", totals["foreign_frees"], total("cross_thread_frees") + upstream["foreign_frees"])
check("cache_misses", totals["cache_misses"], total("misses"))
check("cache_hits", totals["cache_hits"], total("hits"))
check("bytes_in_use", totals["bytes_in_use"], total("in_use_bytes") + upstream["bytes_in_use"])
check("bytes_cached", totals["bytes_cached"], total("cached_bytes"))
for c in classes:
    check(f"class {c['size']} hits + misses", c["hits"] + c["misses"], c["allocations"])
    if c["peak_in_use_bytes"] < c["in_use_bytes"]:
        failures.append(f"class {c['size']}: peak below in use")
# The workload.
check("messages.pooled", stats["messages"]["pooled"], 1000 + 500 + 7)
check("100-byte class allocations", holding(100)["allocations"], 1000)
check("100-byte class frees", holding(100)["frees"], 1000)
check("100-byte class misses (one, then reuse)", holding(100)["misses"], 1)
check("5000-byte class cross-thread frees", holding(5000)["cross_thread_frees"], 500)
big = holding(20000)
check("20000-byte class in use", big["in_use_bytes"], 7 * big["size"])
check("upstream allocations", upstream["allocations"], 10)
check("upstream frees", upstream["frees"], 10)
check("upstream bytes in use", upstream["bytes_in_use"], 0)
check("threads", totals["threads"], 1)
# Peaks are sampled at every 16th miss and at snapshots: the 5000-byte
# class peaked with 500 blocks in use, sampled at its 496th miss (495).
mid = holding(5000)
if not 495 * mid["size"] <= mid["peak_in_use_bytes"] <= 500 * mid["size"]:
    failures.append(f"5000-byte class peak {mid['peak_in_use_bytes']}")
check("20000-byte class peak", big["peak_in_use_bytes"], 7 * big["size"])
check("decay off", stats["settings"]["decay_ms"], 0)
check("nothing decayed", stats["decay"]["released_blocks"], 0)
# The workload runs without a limit of its own: the machine's memory.
if stats.get("memory", {}).get("limit") not in ("physical memory + swap", "cgroup v1 memory.limit_in_bytes",
                                                "cgroup memory.max", "cgroup memory.high", "RLIMIT_AS", "RLIMIT_DATA"):
    failures.append(f"memory.limit {stats.get('memory')}")
for key in ("zmqpool", "backend", "settings", "caps", "memory", "decay", "passed_through", "program", "pid"):
    if key not in stats:
        failures.append(f"missing {key}")
if failures:
    print("check_stats_json: " + "; ".join(failures))
    sys.exit(1)
print(f"check_stats_json: {len(classes)} classes, every total adds up, workload counted exactly")
