#!/usr/bin/env python3
"""Checks zmqpool's layering (docs/architecture.md): every file of src/
imports only files of its own layer or of a lower one, and no files import
each other in a cycle. Reads `use` paths and `crate::`/`super::` paths
anywhere in the code (test modules and comments left out).
Usage: layers_check.py [SRC=src]; exit 0 when clean."""
import os
import re
import sys

SRC = sys.argv[1] if len(sys.argv) > 1 else "src"
# The layers, lowest first; a top-level module may import those of a lower rank.
RANK = {"sys": 0, "sync": 1, "settings": 1, "pool": 2, "msg": 3, "zmtp": 4,
        "report": 5, "background": 6, "ffi": 7, "malloc_override": 7, "load": 8, "lib": 9}

files = {}
for root, _, names in os.walk(SRC):
    for name in names:
        if name.endswith(".rs"):
            rel = os.path.relpath(os.path.join(root, name), SRC)
            parts = rel[:-3].split(os.sep)
            if parts[-1] in ("mod", "lib"):
                parts = parts[:-1]
            files[tuple(parts)] = rel


def is_test_file(rel):
    return os.path.basename(rel) in ("tests.rs", "loom_models.rs")


def strip(text):
    text = re.sub(r"//[^\n]*", "", text)
    out, i = [], 0
    for m in re.finditer(r"#\[cfg\((?:all\()?test[^\]]*\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+\w+\s*(\{|;)", text):
        if m.start() < i:
            continue
        out.append(text[i:m.start()])
        if m.group(1) == ";":
            i = m.end()
            continue
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        i = j
    out.append(text[i:])
    return "".join(out)


def resolve(path):
    for k in range(len(path), 0, -1):
        if tuple(path[:k]) in files:
            return tuple(path[:k])
    return None


def expand(s):
    """`a::{b, c::{d}}` -> ['a::b', 'a::c::d']"""
    if "{" not in s:
        return [s]
    head, rest = s.split("{", 1)
    inner = rest[:rest.rfind("}")]
    items, depth, cur = [], 0, ""
    for ch in inner:
        if ch == "," and depth == 0:
            items.append(cur)
            cur = ""
            continue
        depth += (ch == "{") - (ch == "}")
        cur += ch
    items.append(cur)
    return [p for it in items if it for p in expand(head + it)]


def target_of(mod, segs):
    segs = [s for s in segs if s and s != "self"]
    if not segs:
        return None
    if segs[0] == "crate":
        return resolve(segs[1:])
    if segs[0] == "super":
        base = list(mod)
        while segs and segs[0] == "super":
            base = base[:-1]
            segs = segs[1:]
        return resolve(base + segs)
    return None


edges = {m: set() for m in files}
for mod, rel in files.items():
    if is_test_file(rel):
        continue
    text = strip(open(os.path.join(SRC, rel)).read())
    paths = []
    for m in re.finditer(r"\buse\s+([^;]+);", text):
        body = re.sub(r"\s+as\s+\w+", "", m.group(1))
        body = re.sub(r"\s+", "", body)
        for p in expand(body):
            segs = p.split("::")
            # a path that starts with a child module of this file
            if segs and segs[0] not in ("crate", "super", "self", "core", "std", "libc", "alloc"):
                segs = ["self"] + segs
            if segs[0] == "self":
                t = resolve(list(mod) + [s for s in segs[1:] if s != "self"])
            else:
                t = target_of(mod, segs)
            if t and t != mod:
                edges[mod].add(t)
    for m in re.finditer(r"\b((?:crate|super)(?:::\w+)+)", text):
        t = target_of(mod, m.group(1).split("::"))
        if t and t != mod:
            edges[mod].add(t)
    # child::item paths without `use`
    children = {k[len(mod)] for k in files if len(k) > len(mod) and k[:len(mod)] == mod}
    for child in children:
        for m in re.finditer(r"(?<![\w:])" + child + r"::(\w+)", text):
            t = resolve(list(mod) + [child, m.group(1)])
            if t and t != mod:
                edges[mod].add(t)

problems = []
for a, targets in edges.items():
    for b in targets:
        la, lb = (a[0] if a else "lib"), (b[0] if b else "lib")
        if la != lb and RANK.get(lb, 99) >= RANK.get(la, 99):
            problems.append(f"upward import: {files[a]} -> {files[b]}")

index, low, stack, on, comps, counter = {}, {}, [], set(), [], [0]
sys.setrecursionlimit(10000)


def visit(v):
    index[v] = low[v] = counter[0]
    counter[0] += 1
    stack.append(v)
    on.add(v)
    for w in edges[v]:
        if w not in index:
            visit(w)
            low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop()
            on.discard(w)
            comp.append(w)
            if w == v:
                break
        comps.append(comp)


for v in files:
    if v not in index:
        visit(v)
for comp in comps:
    if len(comp) > 1:
        problems.append("import cycle: " + ", ".join(sorted(files[x] for x in comp)))
for p in sorted(problems):
    print(p)
print(f"layers: {len(files)} files, {sum(len(t) for t in edges.values())} imports, "
      f"{len(problems)} problems")
sys.exit(1 if problems else 0)
