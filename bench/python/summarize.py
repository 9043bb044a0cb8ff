"""Prints the reports of compare.sh side by side, as a Markdown table.

    python summarize.py DIR

DIR holds roundN-go.json (cassload) and roundN-py.json (pyload). Each cell
is the median over the rounds with the lowest and highest in brackets.
"""

import glob
import json
import os
import statistics
import sys


def load(pattern):
    reports = []
    for path in sorted(glob.glob(pattern)):
        with open(path) as f:
            reports.append(json.load(f))
    return reports


def cell(values, fmt):
    if not values:
        return "-"
    med = statistics.median(values)
    if len(values) == 1:
        return fmt(med)
    return f"{fmt(med)} [{fmt(min(values))}–{fmt(max(values))}]"


def by_level(reports):
    """Maps (workload, in_flight) to the list of that level's results."""
    out = {}
    for rep in reports:
        for r in rep["results"]:
            out.setdefault((r["workload"], r["in_flight"]), []).append(r)
    return out


def main(d):
    go, py = load(os.path.join(d, "round*-go.json")), load(os.path.join(d, "round*-py.json"))
    if not go or not py:
        sys.exit(f"summarize: no reports of both tools in {d}")
    print(f"Go:     {go[0]['client']}")
    print(f"Python: {py[0]['client']}")
    print(f"{len(go)} and {len(py)} rounds, {go[0]['started']} to {go[-1]['started']}, "
          f"{go[0]['settings'].get('ops_per_level', '?')} operations per level\n")
    g, p = by_level(go), by_level(py)
    ops = lambda v: f"{v:,.0f}"
    ms = lambda v: f"{v / 1000:.2f}"
    cpu = lambda v: f"{v:.0f}"
    print("| workload | in flight | ops/s Python | ops/s Go | p50 ms Python | p50 ms Go | p99 ms Python | p99 ms Go "
          "| CPU µs/op Python | CPU µs/op Go | errors Python / Go |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for key in g:
        gr, pr = g[key], p.get(key, [])
        errs = f"{sum(r['errors'] for r in pr)} / {sum(r['errors'] for r in gr)}"
        print(f"| {key[0]} | {key[1]} "
              f"| {cell([r['ops_per_sec'] for r in pr], ops)} | {cell([r['ops_per_sec'] for r in gr], ops)} "
              f"| {cell([r['latency_us']['p50'] for r in pr], ms)} | {cell([r['latency_us']['p50'] for r in gr], ms)} "
              f"| {cell([r['latency_us']['p99'] for r in pr], ms)} | {cell([r['latency_us']['p99'] for r in gr], ms)} "
              f"| {cell([r['cpu_us_per_op'] for r in pr], cpu)} | {cell([r['cpu_us_per_op'] for r in gr], cpu)} "
              f"| {errs} |")
    print("\nRatios per round (Go / Python), median [range]:")
    for key in g:
        pairs = list(zip(g[key], p.get(key, [])))
        if not pairs:
            continue
        thr = [a["ops_per_sec"] / b["ops_per_sec"] for a, b in pairs if b["ops_per_sec"]]
        p50 = [a["latency_us"]["p50"] / b["latency_us"]["p50"] for a, b in pairs if b["latency_us"]["p50"]]
        c = [a["cpu_us_per_op"] / b["cpu_us_per_op"] for a, b in pairs if b["cpu_us_per_op"]]
        f2 = lambda v: f"{v:.2f}"
        print(f"  {key[0]} {key[1]}: throughput {cell(thr, f2)}, p50 {cell(p50, f2)}, CPU per op {cell(c, f2)}")
    for rep in go + py:
        for r in rep["results"]:
            for k, m in sorted(r.get("error_samples", {}).items()):
                print(f"  {rep['tool']} {rep['started']} {r['workload']} {r['in_flight']}: {k}: {m}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
