#!/usr/bin/env python3
"""Summarises build/e2e/raw.csv (benches/run_e2e.sh): medians, spreads and
ratios against plain libzmq, the issue's targets checked one by one, a
Markdown table and an SVG chart. Standard library only.

usage: e2e_report.py RAW_CSV OUT_DIR
"""
import csv
import statistics
import sys
from collections import defaultdict

CONFIGS = ["plain", "zmqpool", "zmqpool-malloc", "mimalloc", "jemalloc"]
# "floor" (the same path with no allocation) is a column of its own.
COLORS = {"plain": "#555555", "zmqpool": "#d62728", "zmqpool-malloc": "#ff7f0e",
          "mimalloc": "#1f77b4", "jemalloc": "#2ca02c", "floor": "#000000"}
TRANSPORTS = ["inproc", "ipc", "tcp"]
NAMES = {"thr": "throughput (zmq_msg_init_size)", "send": "throughput (zmq_send)",
         "lat": "latency"}


def load(path):
    values = defaultdict(list)
    with open(path) as f:
        for row in csv.DictReader(f):
            key = (row["bench"], row["transport"], int(row["size"]), row["config"])
            values[key].append(float(row["value"]))
    return values


def summarise(values):
    """(bench, transport, size, config) -> (median, spread): spread is
    (max - min) / median, the run-to-run variation of that point."""
    out = {}
    for key, vs in values.items():
        m = statistics.median(vs)
        out[key] = (m, (max(vs) - min(vs)) / m if m else 0.0)
    return out


def speedup(s, bench, transport, size, config):
    """How much faster than plain: msgs/s ratio, or inverse latency ratio."""
    plain = s[(bench, transport, size, "plain")][0]
    mine = s[(bench, transport, size, config)][0]
    return plain / mine if bench == "lat" else mine / plain


def fmt_size(n):
    return f"{n // 1024} KiB" if n >= 1024 else f"{n} B"


def table(s, sizes, bench):
    unit = "us/round trip" if bench == "lat" else "msgs/s"
    floor = any(k[0] == bench and k[3] == "floor" for k in s)
    head = f"| transport | size | plain ({unit}) | " + " | ".join(CONFIGS[1:])
    if floor:
        head += " | floor (msgs/s) | zmqpool / floor"
    lines = [head + " |", "|---|---:|---:|" + "---:|" * (len(CONFIGS) - 1 + 2 * floor)]
    for t in TRANSPORTS:
        for n in sizes:
            if (bench, t, n, "plain") not in s:
                continue
            m, spread = s[(bench, t, n, "plain")]
            cells = [f"{speedup(s, bench, t, n, c):.2f}x ±{100 * s[(bench, t, n, c)][1]:.0f}%"
                     for c in CONFIGS[1:]]
            if floor and (bench, t, n, "floor") in s:
                f, f_spread = s[(bench, t, n, "floor")]
                cells.append(f"{f:,.0f} ±{100 * f_spread:.0f}%")
                cells.append(f"{100 * s[(bench, t, n, 'zmqpool')][0] / f:.0f}%")
            value = f"{m:.1f}" if bench == "lat" else f"{m:,.0f}"
            lines.append(f"| {t} | {fmt_size(n)} | {value} ±{100 * spread:.0f}% | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def targets(s, sizes):
    """The issue's targets, each with its verdict."""
    checks = []

    def check(name, ok, detail):
        checks.append((name, ok, detail))

    for bench in ("thr", "send", "lat"):
        worst = None
        for t in TRANSPORTS:
            for n in sizes:
                if (bench, t, n, "plain") not in s:
                    continue
                r = speedup(s, bench, t, n, "zmqpool")
                # allowed: within the larger of the two points' spreads
                slack = max(s[(bench, t, n, "plain")][1], s[(bench, t, n, "zmqpool")][1])
                ok = r >= 1 - slack
                if worst is None or r - (1 - slack) < worst[0]:
                    worst = (r - (1 - slack), t, n, r, slack, ok)
        if worst:
            _, t, n, r, slack, ok = worst
            check(f"zmqpool never slower than plain beyond the spread ({NAMES[bench]})",
                  ok, f"closest: {t} {fmt_size(n)} at {r:.2f}x with spread {100 * slack:.0f}%")
    for bench in ("thr", "send"):
        for n in sizes:
            if (bench, "inproc", n, "plain") not in s:
                continue
            r = speedup(s, bench, "inproc", n, "zmqpool")
            goal = 1.3 if n <= 1024 else 3.0 if n >= 8192 else None
            if not goal:
                continue
            detail = f"{r:.2f}x"
            if ("send", "inproc", n, "floor") in s and bench == "send":
                f = speedup(s, bench, "inproc", n, "floor")
                detail += f"; the no-allocation floor is {f:.2f}x plain, zmqpool at {100 * r / f:.0f}% of it"
            check(f"inproc {NAMES[bench]} >= {goal}x plain at {fmt_size(n)}", r >= goal, detail)
    for n in sizes:
        if ("thr", "inproc", n, "plain") not in s:
            continue
        r = speedup(s, "thr", "inproc", n, "zmqpool")
        best = max(speedup(s, "thr", "inproc", n, c) for c in ("mimalloc", "jemalloc"))
        check(f"inproc throughput >= 1.1x the best LD_PRELOAD allocator at {fmt_size(n)}",
              r >= 1.1 * best, f"{r:.2f}x vs {best:.2f}x ({r / best:.2f}x)")
    for t in ("ipc", "tcp"):
        for n in sizes:
            if ("thr", t, n, "plain") not in s:
                continue
            r = speedup(s, "thr", t, n, "zmqpool-malloc")
            best_c = max(("mimalloc", "jemalloc"), key=lambda c: speedup(s, "thr", t, n, c))
            best = speedup(s, "thr", t, n, best_c)
            slack = max(s[("thr", t, n, "zmqpool-malloc")][1], s[("thr", t, n, best_c)][1])
            check(f"{t} throughput: zmqpool-malloc matches the best LD_PRELOAD allocator at {fmt_size(n)}",
                  r >= best * (1 - slack),
                  f"{r:.2f}x vs {best_c} {best:.2f}x (spread {100 * slack:.0f}%)")
    return checks


def svg_chart(s, sizes, path):
    w, h, pad_l, pad_b, pad_t = 300, 220, 46, 34, 28
    benches = [b for b in ("thr", "send", "lat") if any(k[0] == b for k in s)]
    cols, rows = len(TRANSPORTS), len(benches)
    width, height = cols * w + 20, rows * h + 70
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="11">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{width / 2}" y="16" text-anchor="middle" font-size="14">'
           'zmqpool end to end: speed-up over plain libzmq 4.3.4 (higher is better; median of runs)</text>']
    for row, bench in enumerate(benches):
        for col, t in enumerate(TRANSPORTS):
            x0, y0 = col * w + 10, row * h + 30
            lines_of = CONFIGS + ["floor"]
            pts = {c: [(n, speedup(s, bench, t, n, c)) for n in sizes
                       if (bench, t, n, c) in s and (bench, t, n, "plain") in s]
                   for c in lines_of}
            top = max([1.5] + [r for c in lines_of for _, r in pts[c]]) * 1.05
            px = lambda i: x0 + pad_l + i * (w - pad_l - 10) / max(1, len(sizes) - 1)
            py = lambda r: y0 + pad_t + (h - pad_t - pad_b) * (1 - r / top)
            title = {"thr": "throughput, zmq_msg_init_size", "send": "throughput, zmq_send",
                     "lat": "round-trip latency"}[bench] + f" - {t}"
            out.append(f'<text x="{x0 + w / 2}" y="{y0 + 16}" text-anchor="middle" font-weight="bold">{title}</text>')
            out.append(f'<rect x="{x0 + pad_l}" y="{y0 + pad_t}" width="{w - pad_l - 10}" '
                       f'height="{h - pad_t - pad_b}" fill="none" stroke="#ccc"/>')
            step = 0.5 if top <= 4 else 1 if top <= 8 else 2
            v = 0.0
            while v <= top:
                out.append(f'<line x1="{x0 + pad_l}" x2="{x0 + w - 10}" y1="{py(v):.1f}" y2="{py(v):.1f}" '
                           f'stroke="{"#888" if v == 1 else "#eee"}"/>')
                out.append(f'<text x="{x0 + pad_l - 4}" y="{py(v) + 4:.1f}" text-anchor="end">{v:g}x</text>')
                v += step
            for i, n in enumerate(sizes):
                out.append(f'<text x="{px(i):.1f}" y="{y0 + h - pad_b + 14}" text-anchor="middle">'
                           f'{fmt_size(n).replace(" ", "")}</text>')
            for c in lines_of:
                coords = " ".join(f"{px(sizes.index(n)):.1f},{py(r):.1f}" for n, r in pts[c])
                dash = (' stroke-dasharray="4,3"' if c in ("mimalloc", "jemalloc")
                        else ' stroke-dasharray="1,3"' if c == "floor" else "")
                out.append(f'<polyline points="{coords}" fill="none" stroke="{COLORS[c]}" stroke-width="2"{dash}/>')
    ly = rows * h + 50
    for i, c in enumerate(CONFIGS + ["floor"]):
        lx = 20 + i * 150
        dash = (' stroke-dasharray="4,3"' if c in ("mimalloc", "jemalloc")
                else ' stroke-dasharray="1,3"' if c == "floor" else "")
        out.append(f'<line x1="{lx}" x2="{lx + 24}" y1="{ly}" y2="{ly}" stroke="{COLORS[c]}" stroke-width="2"{dash}/>')
        label = {"plain": "plain libzmq (1x)", "floor": "no allocation"}.get(c, c)
        out.append(f'<text x="{lx + 30}" y="{ly + 4}">{label}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    raw, out_dir = sys.argv[1], sys.argv[2]
    values = load(raw)
    s = summarise(values)
    sizes = sorted({k[2] for k in s})
    runs = max(len(v) for v in values.values())
    report = [f"Throughput of a zmq_msg_init_size sender: msgs/s of plain libzmq, then each "
              f"configuration's speed-up (x) over it; ±: run-to-run spread ((max-min)/median) "
              f"over {runs} interleaved runs.", "",
              table(s, sizes, "thr"), "",
              "Throughput of a zmq_send sender (the same program, sending a buffer with zmq_send):", "",
              table(s, sizes, "send"), "",
              "Round-trip latency (REQ/REP): us of plain libzmq, then speed-up (plain time / time).", "",
              table(s, sizes, "lat"), "", "Targets:", ""]
    for name, ok, detail in targets(s, sizes):
        report.append(f"- {'met' if ok else 'NOT met'}: {name} ({detail})")
    text = "\n".join(report) + "\n"
    with open(f"{out_dir}/results.md", "w") as f:
        f.write(text)
    svg_chart(s, sizes, f"{out_dir}/e2e.svg")
    print(text)
    print(f"written: {out_dir}/results.md, {out_dir}/e2e.svg, {raw}")


if __name__ == "__main__":
    main()
