#!/usr/bin/env python3
"""Summarises build/rss/raw.csv (benches/run_rss.sh): resident memory above
the pre-burst baseline at chosen times after the burst, per configuration and
transport, the target verdicts, a Markdown table and an SVG chart of RSS over
time. Standard library only.

usage: rss_report.py RAW_CSV OUT_DIR
"""
import csv
import sys
from collections import defaultdict

CONFIGS = ["plain", "zmqpool", "zmqpool-nodecay", "zmqpool-malloc", "zmqpool-malloc-nodecay",
           "mimalloc", "jemalloc"]
COLORS = {"plain": "#555555", "zmqpool": "#d62728", "zmqpool-nodecay": "#f7a6a6",
          "zmqpool-malloc": "#ff7f0e", "zmqpool-malloc-nodecay": "#ffc58a",
          "mimalloc": "#1f77b4", "jemalloc": "#2ca02c"}
TIMES = [500, 1000, 2000, 3000, 6000]


def load(path):
    series = defaultdict(list)
    with open(path) as f:
        for row in csv.DictReader(f):
            key = (row["scenario"], row["transport"], row["config"])
            series[key].append((int(row["ms"]), int(row["kib_over_baseline"]) / 1024.0))
    return series


def at(points, ms):
    """The last sample at or before `ms` (MiB over the baseline)."""
    before = [v for t, v in points if t <= ms]
    return before[-1] if before else None


def table(series, scenario):
    lines = ["| transport | configuration | " + " | ".join(f"{t / 1000:g} s" for t in TIMES) + " |",
             "|---|---|" + "---:|" * len(TIMES)]
    for transport in ("inproc", "tcp"):
        for config in CONFIGS:
            points = series.get((scenario, transport, config))
            if not points:
                continue
            cells = []
            for t in TIMES:
                v = at(points, t)
                cells.append("" if v is None else f"{v:+.1f} MiB")
            lines.append(f"| {transport} | {config} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def verdicts(series):
    out = []
    for transport in ("inproc", "tcp"):
        for config in ("zmqpool", "zmqpool-malloc"):
            points = series.get(("idle", transport, config))
            if not points:
                continue
            v = at(points, 3000)
            ok = v is not None and v <= 8
            out.append(f"- {'met' if ok else 'NOT met'}: {config} over {transport}, RSS within 8 MiB "
                       f"of the pre-burst baseline within 3 s ({v:+.1f} MiB at 3 s)")
    return out


def chart(series, path):
    w, h, pad_l, pad_b, pad_t = 430, 250, 56, 34, 30
    panels = [(s, t) for s in ("idle", "trickle") for t in ("inproc", "tcp")]
    width, height = 2 * w + 20, 2 * h + 70
    top_all = max([v for pts in series.values() for _, v in pts] + [1])
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="11">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{width / 2}" y="16" text-anchor="middle" font-size="14">'
           'RSS above the pre-burst baseline after a burst of 20,000 x 64 KiB (log scale, MiB)</text>']
    import math
    lo, hi = 0.5, max(top_all, 2) * 1.3
    ly = lambda v: math.log10(max(v, lo))
    for k, (scenario, transport) in enumerate(panels):
        x0, y0 = (k % 2) * w + 10, (k // 2) * h + 30
        px = lambda ms: x0 + pad_l + ms / 6000 * (w - pad_l - 10)
        py = lambda v: y0 + pad_t + (h - pad_t - pad_b) * (1 - (ly(v) - ly(lo)) / (ly(hi) - ly(lo)))
        out.append(f'<text x="{x0 + w / 2}" y="{y0 + 16}" text-anchor="middle" font-weight="bold">'
                   f'{transport}, {"then idle" if scenario == "idle" else "then a trickle of 100 msgs/s"}</text>')
        out.append(f'<rect x="{x0 + pad_l}" y="{y0 + pad_t}" width="{w - pad_l - 10}" '
                   f'height="{h - pad_t - pad_b}" fill="none" stroke="#ccc"/>')
        for v in (1, 8, 10, 100, 1000):
            if v > hi:
                continue
            color = "#d62728" if v == 8 else "#eee"
            out.append(f'<line x1="{x0 + pad_l}" x2="{x0 + w - 10}" y1="{py(v):.1f}" y2="{py(v):.1f}" stroke="{color}"/>')
            out.append(f'<text x="{x0 + pad_l - 4}" y="{py(v) + 4:.1f}" text-anchor="end">{v}</text>')
        for s in range(0, 7):
            out.append(f'<text x="{px(s * 1000):.1f}" y="{y0 + h - pad_b + 14}" text-anchor="middle">{s} s</text>')
        for config in CONFIGS:
            points = series.get((scenario, transport, config))
            if not points:
                continue
            coords = " ".join(f"{px(t):.1f},{py(v):.1f}" for t, v in points if t <= 6000)
            dash = ' stroke-dasharray="4,3"' if "nodecay" in config else ""
            out.append(f'<polyline points="{coords}" fill="none" stroke="{COLORS[config]}" stroke-width="2"{dash}/>')
    ly0 = 2 * h + 45
    for i, config in enumerate(CONFIGS):
        lx = 10 + (i % 4) * 215
        y = ly0 + (i // 4) * 16
        dash = ' stroke-dasharray="4,3"' if "nodecay" in config else ""
        out.append(f'<line x1="{lx}" x2="{lx + 22}" y1="{y}" y2="{y}" stroke="{COLORS[config]}" stroke-width="2"{dash}/>')
        out.append(f'<text x="{lx + 28}" y="{y + 4}">{config}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    raw, out_dir = sys.argv[1], sys.argv[2]
    series = load(raw)
    text = "\n".join([
        "RSS above the pre-burst baseline after a burst of 20,000 messages of 64 KiB (PUSH/PULL,",
        "high-water marks 0: all queued, then all received), the process then idle:", "",
        table(series, "idle"), "",
        "The same burst, then a steady trickle of 100 messages/s of 64 KiB:", "",
        table(series, "trickle"), "", "Targets:", ""] + verdicts(series)) + "\n"
    with open(f"{out_dir}/results.md", "w") as f:
        f.write(text)
    chart(series, f"{out_dir}/rss.svg")
    print(text)
    print(f"written: {out_dir}/results.md, {out_dir}/rss.svg, {raw}")


if __name__ == "__main__":
    main()
