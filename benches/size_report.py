#!/usr/bin/env python3
"""Summarises build/size/raw.csv (benches/run_size.sh): medians and spreads
of inproc throughput per message size, each configuration as a fraction of
the no-allocation floor measured in the same run, the issue's target
(>= 85% of the floor at every size) checked, a Markdown table and an SVG
chart of throughput against size. Standard library only.

usage: size_report.py RAW_CSV OUT_DIR
"""
import csv
import math
import statistics
import sys
from collections import defaultdict

CONFIGS = ["plain", "zmqpool", "zmqpool-malloc", "mimalloc", "jemalloc"]
COLORS = {"floor-zmqpool": "#7f7f7f", "plain": "#555555", "zmqpool": "#d62728", "zmqpool-malloc": "#ff7f0e",
          "mimalloc": "#1f77b4", "jemalloc": "#2ca02c", "floor": "#000000",
          "copy-floor": "#9467bd"}
NAMES = {"thr": "zmq_msg_init_size sender", "send": "zmq_send sender"}
TARGET = 0.85


def load(path):
    values = defaultdict(list)
    with open(path) as f:
        for row in csv.DictReader(f):
            values[(row["bench"], int(row["size"]), row["config"])].append(float(row["value"]))
    return values


def load_runs(path):
    """(bench, size, config, run) -> value, for ratios taken run by run."""
    runs = {}
    with open(path) as f:
        for row in csv.DictReader(f):
            runs[(row["bench"], int(row["size"]), row["config"], row["run"])] = float(row["value"])
    return runs


def paired_ratio(runs, bench, size, config, floor):
    """Median over runs of config / floor measured in the same round: the
    round's configurations ran back to back, so a machine that is slower
    for a while (or libzmq's inproc pipe in its other regime) weighs on
    both sides of each ratio."""
    ratios = [v / runs[(b, n, floor, r)] for (b, n, c, r), v in runs.items()
              if b == bench and n == size and c == config and (b, n, floor, r) in runs]
    return statistics.median(ratios) if ratios else float("nan")


def summarise(values):
    """(bench, size, config) -> (median, spread), spread = (max - min) / median."""
    return {k: (statistics.median(v), (max(v) - min(v)) / statistics.median(v))
            for k, v in values.items() if v}


def fmt_size(n):
    return f"{n // 1024} KiB" if n >= 1024 else f"{n} B"


def floor_ratio(runs, bench, size):
    """zmqpool against the higher of the two 32-byte floors (libzmq's and
    zmqpool's own), round by round; the plain floor alone where the other
    was not measured."""
    ratios = []
    for (b, n, c, r), v in runs.items():
        if b == bench and n == size and c == "zmqpool":
            floors = [runs[k] for k in ((b, n, "floor", r), (b, n, "floor-zmqpool", r)) if k in runs]
            if floors:
                ratios.append(v / max(floors))
    return statistics.median(ratios) if ratios else float("nan")


def table(s, sizes, bench, runs):
    copy = any(k[0] == bench and k[2] == "copy-floor" for k in s)
    head = "| size | " + " | ".join(f"{c} (M msgs/s)" for c in CONFIGS) + \
        " | floor, 32 B, libzmq (M msgs/s) | floor, 32 B, zmqpool (M msgs/s) | zmqpool / higher floor"
    if copy:
        head += " | copy floor (M msgs/s) | zmqpool / copy floor"
    cols = len(CONFIGS) + 3 + 2 * copy
    lines = [head + " |", "|---:|" + "---:|" * cols]
    for n in sizes:
        row = [fmt_size(n)]
        for c in CONFIGS + ["floor", "floor-zmqpool"]:
            m, sp = s.get((bench, n, c), (float("nan"), 0))
            row.append(f"{m / 1e6:.2f} ±{sp * 100:.0f}%")
        row.append(f"**{floor_ratio(runs, bench, n) * 100:.0f}%**")
        if copy:
            cf = s.get((bench, n, "copy-floor"), (float("nan"), 0))
            row.append(f"{cf[0] / 1e6:.2f} ±{cf[1] * 100:.0f}%")
            row.append(f"{paired_ratio(runs, bench, n, 'zmqpool', 'copy-floor') * 100:.0f}%")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def targets(s, sizes, runs):
    out = []
    for bench in ("thr", "send"):
        for n in sizes:
            z = s.get((bench, n, "zmqpool"))
            f = s.get((bench, n, "floor"))
            if not z or not f:
                continue
            ratio = floor_ratio(runs, bench, n)
            line = (f"{'met' if ratio >= TARGET else 'NOT met'}: {NAMES[bench]} at {fmt_size(n)}: "
                    f"{ratio * 100:.0f}% of the higher 32-byte floor (spreads ±{z[1] * 100:.0f}% / ±{f[1] * 100:.0f}%)")
            if s.get((bench, n, "copy-floor")):
                line += f"; {paired_ratio(runs, bench, n, 'zmqpool', 'copy-floor') * 100:.0f}% of the copy floor"
            out.append("- " + line)
    return "\n".join(out)


def svg_chart(s, sizes, path, bench="thr"):
    width, height, left, right, top, bottom = 880, 420, 70, 240, 30, 50
    values = [s[k][0] for k in s if k[0] == bench and s[k][0] > 0]
    ymax = max(values) * 1.1
    ymin = min(values) / 1.5
    lx = lambda i: left + (width - left - right) * i / max(1, len(sizes) - 1)
    ly = lambda v: top + (height - top - bottom) * (1 - (math.log10(v) - math.log10(ymin))
                                                    / (math.log10(ymax) - math.log10(ymin)))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{left}" y="18" font-size="14">inproc PUSH/PULL throughput against message size '
           f'({NAMES[bench]}, steady state, medians)</text>']
    decade = 10 ** math.floor(math.log10(ymin))
    while decade <= ymax:
        for mult in (1, 2, 5):
            v = decade * mult
            if ymin <= v <= ymax:
                y = ly(v)
                out.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
                label = f"{v / 1e6:g} M" if v >= 1e6 else f"{v / 1e3:g} k"
                out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{label}</text>')
        decade *= 10
    for i, n in enumerate(sizes):
        out.append(f'<text x="{lx(i):.1f}" y="{height - bottom + 18}" text-anchor="middle">{fmt_size(n)}</text>')
    out.append(f'<text x="{(left + width - right) / 2}" y="{height - 12}" text-anchor="middle">message size</text>')
    series = CONFIGS + ["floor"]
    for j, c in enumerate(series):
        pts = [(lx(i), ly(s[(bench, n, c)][0])) for i, n in enumerate(sizes)
               if (bench, n, c) in s and s[(bench, n, c)][0] > 0]
        if not pts:
            continue
        dash = ' stroke-dasharray="6,4"' if c == "floor" else ""
        wide = 3 if c == "zmqpool" else 1.8
        out.append(f'<polyline fill="none" stroke="{COLORS[c]}" stroke-width="{wide}"{dash} points="'
                   + " ".join(f"{x:.1f},{y:.1f}" for x, y in pts) + '"/>')
        label = "floor (32 B, no allocation)" if c == "floor" else c
        y = top + 16 * j
        out.append(f'<line x1="{width - right + 12}" x2="{width - right + 34}" y1="{y}" y2="{y}" '
                   f'stroke="{COLORS[c]}" stroke-width="{wide}"{dash}/>')
        out.append(f'<text x="{width - right + 40}" y="{y + 4}">{label}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    raw, out_dir = sys.argv[1], sys.argv[2]
    s = summarise(load(raw))
    runs = load_runs(raw)
    sizes = sorted({k[1] for k in s})
    text = []
    for bench in ("thr", "send"):
        if any(k[0] == bench for k in s):
            text.append(f"Inproc throughput, {NAMES[bench]} (medians, ± run-to-run spread):\n")
            text.append(table(s, sizes, bench, runs) + "\n")
    text.append("Targets (zmqpool >= 85% of the 32-byte no-allocation floor, the higher of libzmq's "
                "and zmqpool's own; ratios are medians of run-by-run ratios):\n")
    text.append(targets(s, sizes, runs))
    with open(f"{out_dir}/results.md", "w") as f:
        f.write("\n".join(text) + "\n")
    svg_chart(s, sizes, f"{out_dir}/size.svg")
    print("\n".join(text))
    print(f"written: {out_dir}/results.md, {out_dir}/size.svg, {raw}")


if __name__ == "__main__":
    main()
