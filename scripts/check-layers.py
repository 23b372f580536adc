#!/usr/bin/env python3
"""Checks the layering ARCHITECTURE.md describes, so it stays true:

1. The crate graph: the `crate-graph` block in ARCHITECTURE.md lists every workspace crate
   with its normal (non-dev) dependencies on other workspace crates, exactly as
   `cargo tree --workspace --depth 1 -e normal --no-dedupe` reports them.
2. No module cycles: inside every crate, the `crate::` references between its top-level
   modules go one way (no strongly connected component of two or more modules).
3. The binary is a front end: `crates/quarantd/src` names neither the store nor the
   notification templates directly (it uses the workflow API, `quarantd_release`, and the
   notifier), and holds no validation of its own (`quarantd_config` does).

Exits 1 with what is wrong.
"""

import collections
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
problems = []


def cargo_graph():
    out = subprocess.run(
        ["cargo", "tree", "--workspace", "--depth", "1", "-e", "normal",
         "--prefix", "depth", "--no-dedupe", "--offline"],
        cwd=ROOT, check=True, capture_output=True, text=True).stdout
    graph, current = {}, None
    for line in out.splitlines():
        m = re.match(r"^(\d+)(\S+) v", line)
        if not m:
            continue
        depth, name = int(m.group(1)), m.group(2)
        if depth == 0:
            current = name
            graph.setdefault(name, set())
        elif name.startswith("quarantd") and current is not None:
            graph[current].add(name)
    graph.pop("quarantd-fuzz", None)
    return graph


def documented_graph():
    text = open(os.path.join(ROOT, "ARCHITECTURE.md"), encoding="utf-8").read()
    m = re.search(r"```text crate-graph\n(.*?)```", text, re.S)
    if not m:
        problems.append("ARCHITECTURE.md: no ```text crate-graph block")
        return {}
    graph = {}
    for line in m.group(1).splitlines():
        line = line.split("#")[0].strip()
        if not line:
            continue
        name, _, deps = line.partition(":")
        graph[name.strip()] = set(deps.split())
    return graph


def check_graph():
    real, doc = cargo_graph(), documented_graph()
    for name in sorted(set(real) | set(doc)):
        have, say = real.get(name), doc.get(name)
        if have is None:
            problems.append(f"crate-graph: {name} is documented but not in the workspace")
        elif say is None:
            problems.append(f"crate-graph: {name} is missing (cargo tree: {' '.join(sorted(have))})")
        elif have != say:
            problems.append(
                f"crate-graph: {name}: cargo tree has {' '.join(sorted(have)) or '-'}, "
                f"ARCHITECTURE.md says {' '.join(sorted(say)) or '-'}")


def top_module(src, path):
    rel = os.path.relpath(path, src)
    first = rel.split(os.sep)[0]
    return first[:-3] if first.endswith(".rs") else first


def strip_tests(text):
    """Drops `#[cfg(test)] mod tests { ... }` (test modules may look anywhere)."""
    m = re.search(r"#\[cfg\(test\)\]\s*mod \w+\s*\{", text)
    return text[:m.start()] if m else text


def check_modules():
    for crate in sorted(os.listdir(os.path.join(ROOT, "crates"))):
        src = os.path.join(ROOT, "crates", crate, "src")
        if not os.path.isdir(src):
            continue
        mods, edges = set(), collections.defaultdict(set)
        files = []
        for dirpath, _, names in os.walk(src):
            for n in names:
                if n.endswith(".rs"):
                    files.append(os.path.join(dirpath, n))
        for f in files:
            mod = top_module(src, f)
            if mod in ("lib", "main"):
                continue
            mods.add(mod)
        for f in files:
            mod = top_module(src, f)
            if mod in ("lib", "main"):
                continue
            text = strip_tests(open(f, encoding="utf-8").read())
            text = re.sub(r"//[^\n]*", "", text)
            for m in re.finditer(r"\bcrate::(\w+)", text):
                target = m.group(1)
                if target in mods and target != mod:
                    edges[mod].add(target)
            # `use crate::{a, b::c}` groups
            for m in re.finditer(r"\bcrate::\{([^}]*)\}", text):
                for part in m.group(1).split(","):
                    target = part.strip().split("::")[0]
                    if target in mods and target != mod:
                        edges[mod].add(target)
        for scc in sccs(mods, edges):
            if len(scc) > 1:
                problems.append(f"module cycle in crates/{crate}: {' <-> '.join(sorted(scc))}")


def sccs(nodes, edges):
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            out.append(comp)

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def check_binary():
    src = os.path.join(ROOT, "crates", "quarantd", "src")
    banned = {
        "quarantd_store": "the store (use the workflow API: quarantd_release)",
        "quarantd_notify": "the notification templates (the notifier sends)",
        "toml::": "TOML (quarantd_config reads the configuration)",
        "serde::Deserialize": "raw configuration types (quarantd_config)",
    }
    for dirpath, _, names in os.walk(src):
        for n in names:
            if not n.endswith(".rs"):
                continue
            path = os.path.join(dirpath, n)
            for no, line in enumerate(open(path, encoding="utf-8"), 1):
                code = line.split("//")[0]
                for needle, what in banned.items():
                    if needle in code:
                        rel = os.path.relpath(path, ROOT)
                        problems.append(f"{rel}:{no}: the binary uses {what}")


check_graph()
check_modules()
check_binary()
if problems:
    print("\n".join(problems))
    sys.exit(1)
print("layers ok: crate graph as documented, no module cycles, the binary is a front end")
