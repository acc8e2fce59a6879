#!/usr/bin/env python3
"""Checks the JSON statistics of c_tests/stats_workload.c: the object parses,
every total is the sum of its parts, and the numbers are those of the known
workload. Reads the object from stdin; exits non-zero on any mismatch."""
import json
import sys

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
for key in ("zmqpool", "backend", "settings", "caps", "decay", "passed_through", "program", "pid"):
    if key not in stats:
        failures.append(f"missing {key}")
if failures:
    print("check_stats_json: " + "; ".join(failures))
    sys.exit(1)
print(f"check_stats_json: {len(classes)} classes, every total adds up, workload counted exactly")
