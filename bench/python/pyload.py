"""pyload: the insert and select workloads of cmd/cassload, run through the
Python library async-cassandra, for a side-by-side comparison.

It uses the same table shape (id int PRIMARY KEY, v blob), the same row size,
the same keys in the same order, the same operation counts and the same
report (table, or JSON with -json) as cassload, so that the two can be run in
turn against the same node:

    bench/python/run.sh -w insert,select -c 1,64,512 -n 30000

Each level keeps that many requests in flight: as many asyncio tasks, each
awaiting one session.execute() at a time, as cassload keeps goroutines.
Latencies go into an HDR histogram of the same shape (1 us to 1 min, three
significant digits); CPU time is this process's getrusage, every thread's.
"""

import argparse
import asyncio
import gc
import json
import os
import platform
import resource
import sys
import time
from datetime import datetime, timezone
from importlib.metadata import version

import cassandra
import cassandra.cluster
from async_cassandra import AsyncCluster
from cassandra import ConsistencyLevel
from hdrh.histogram import HdrHistogram

HIST_LOWEST, HIST_HIGHEST, HIST_DIGITS = 1, 60_000_000, 3


class NotFound(Exception):
    """A select found no row."""


def error_kind(exc):
    """Names an exception with the words of cassandra.ErrorKind where one fits."""
    if isinstance(exc, NotFound):
        return "not_found"
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return "deadline"
    kinds = {
        "WriteTimeout": "write_timeout",
        "ReadTimeout": "read_timeout",
        "Unavailable": "unavailable",
        "OperationTimedOut": "timeout",
        "NoHostAvailable": "no_connections",
        "ConnectionException": "connection",
        "ConnectionShutdown": "connection",
        "OverloadedErrorMessage": "server_overloaded",
        "ConnectionError": "closed",
    }
    return kinds.get(type(exc).__name__, "other:" + type(exc).__name__)


def cpu_seconds():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def parse_args(argv):
    p = argparse.ArgumentParser(prog="pyload", description=__doc__.split("\n\n")[0])
    p.add_argument("-hosts", default=os.environ.get("CASSANDRA_HOSTS") or "127.0.0.1")
    p.add_argument("-keyspace", default="cassload")
    p.add_argument("-table", default="kv")
    p.add_argument("-w", default="insert,select", help="workloads: insert, select, mixed (90%% select)")
    p.add_argument("-c", default="1,64,512", help="requests in flight, comma-separated")
    p.add_argument("-n", type=int, default=0, help="operations per workload and level (0: run for -d)")
    p.add_argument("-d", type=float, default=10.0, help="seconds per level, unless -n is set")
    p.add_argument("-warmup", type=float, default=1.0, help="seconds of unmeasured load before each level")
    p.add_argument("-timeout", type=float, default=10.0, help="seconds each operation may take")
    p.add_argument("-size", type=int, default=100, help="bytes in each row's value")
    p.add_argument("-rows", type=int, default=10000, help="keys written and read, in turn")
    p.add_argument("-consistency", default="LOCAL_ONE")
    p.add_argument("-executor-threads", type=int, default=None,
                   help="AsyncCluster's executor_threads (default: the library's)")
    p.add_argument("-fill", default="true", choices=["true", "false"], help="write the rows before select and mixed")
    p.add_argument("-json", action="store_true", help="print the report as JSON instead of a table")
    a = p.parse_args(argv)
    a.workloads = [w.strip() for w in a.w.split(",")]
    for w in a.workloads:
        if w not in ("insert", "select", "mixed"):
            p.error(f"-w: unknown workload {w!r} (insert, select, mixed)")
    try:
        a.levels = [int(x) for x in a.c.split(",")]
    except ValueError:
        p.error("-c: levels are positive numbers")
    if any(x < 1 for x in a.levels):
        p.error("-c: levels are positive numbers")
    a.hosts = [h.strip() for h in a.hosts.split(",") if h.strip()]
    a.cl = getattr(ConsistencyLevel, a.consistency.upper())
    return a


class Shard:
    """What a level's tasks measured (one event loop, so no locks)."""

    def __init__(self):
        self.hist = HdrHistogram(HIST_LOWEST, HIST_HIGHEST, HIST_DIGITS)
        self.rows = 0
        self.errs = {}
        self.samples = {}

    def record(self, us, rows, exc):
        if exc is not None:
            kind = error_kind(exc)
            self.errs[kind] = self.errs.get(kind, 0) + 1
            self.samples.setdefault(kind, f"{type(exc).__name__}: {exc}")
            return
        self.rows += rows
        self.hist.record_value(min(max(us, HIST_LOWEST), HIST_HIGHEST))


class Runner:
    def __init__(self, session, ins, sel, a):
        self.session, self.ins, self.sel = session, ins, sel
        self.rows, self.timeout = a.rows, a.timeout
        self.value = bytes(a.size)

    async def insert(self, i):
        await self.session.execute(self.ins, (i % self.rows, self.value), timeout=self.timeout)
        return 0

    async def select(self, i):
        rs = await self.session.execute(self.sel, (i % self.rows,), timeout=self.timeout)
        if rs.one() is None:
            raise NotFound(f"no row with id {i % self.rows}")
        return 1

    async def mixed(self, i):
        if i % 10 == 0:
            return await self.insert(i)
        return await self.select(i)


async def run_phase(op, in_flight, ops, duration):
    """Keeps in_flight operations going until ops are claimed, or for
    duration seconds; returns (elapsed, operations done, shard)."""
    shard = Shard()
    state = {"next": 0, "done": 0, "stop": False}

    async def loop():
        while not state["stop"]:
            i = state["next"]
            if ops and i >= ops:
                return
            state["next"] = i + 1
            t0 = time.perf_counter_ns()
            try:
                rows = await op(i)
                exc = None
            except Exception as e:  # noqa: BLE001 - every failure is counted by kind
                rows, exc = 0, e
            shard.record((time.perf_counter_ns() - t0) // 1000, rows, exc)
            state["done"] += 1

    loop_ = asyncio.get_running_loop()
    timer = loop_.call_later(duration, lambda: state.update(stop=True)) if not ops else None
    start = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(in_flight)))
    if timer:
        timer.cancel()
    return time.perf_counter() - start, state["done"], shard


async def measure(runner, a, name, in_flight):
    op = getattr(runner, name)
    if a.warmup > 0:
        await run_phase(op, in_flight, 0, a.warmup)
    gc.collect()
    cpu0 = cpu_seconds()
    elapsed, done, shard = await run_phase(op, in_flight, a.n, a.d)
    cpu = cpu_seconds() - cpu0
    h = shard.hist
    n = h.get_total_count()
    errors = sum(shard.errs.values())
    res = {
        "workload": name, "in_flight": in_flight, "ops": n, "seconds": elapsed,
        "ops_per_sec": n / elapsed if elapsed > 0 else 0,
        "latency_us": {"p50": 0, "p95": 0, "p99": 0, "p999": 0, "max": 0, "mean": 0},
        "rows": shard.rows, "errors": errors, "errors_by_kind": shard.errs,
        "cpu_us_per_op": cpu * 1e6 / done if done else 0,
    }
    if shard.samples:
        res["error_samples"] = shard.samples
    if n:
        res["latency_us"] = {
            "p50": h.get_value_at_percentile(50), "p95": h.get_value_at_percentile(95),
            "p99": h.get_value_at_percentile(99), "p999": h.get_value_at_percentile(99.9),
            "max": h.get_max_value(), "mean": h.get_mean_value(),
        }
    return res


async def fill(session, ins, a):
    value = bytes(a.size)
    keys = iter(range(a.rows))

    async def worker():
        for k in keys:
            # A write that fails is tried again, twice: the rows must be
            # there before select runs, and writing one twice is harmless.
            for attempt in range(3):
                try:
                    await session.execute(ins, (k, value), timeout=a.timeout)
                    break
                except Exception:
                    if attempt == 2:
                        raise

    await asyncio.gather(*(worker() for _ in range(64)))


def client_version(cluster):
    compiled = cassandra.cluster.__file__.endswith(".so")
    conn = getattr(getattr(cluster, "_cluster", None), "connection_class", None)
    return (f"async-cassandra {version('async-cassandra')}, cassandra-driver {cassandra.__version__} "
            f"({'compiled extensions' if compiled else 'pure Python'}, "
            f"{conn.__name__ if conn else 'unknown'}), Python {platform.python_version()}")


async def main(a):
    kwargs = {} if a.executor_threads is None else {"executor_threads": a.executor_threads}
    cluster = AsyncCluster(contact_points=a.hosts, **kwargs)
    session = await cluster.connect()
    started = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    rep = {
        "tool": "pyload", "client": client_version(cluster), "started": started, "hosts": a.hosts,
        "keyspace": a.keyspace, "table": a.table,
        "settings": {
            "executor_threads": a.executor_threads if a.executor_threads is not None else "default",
            "consistency": a.consistency.upper(), "row_size": a.size, "rows": a.rows,
            "warmup": f"{a.warmup:g}s", "timeout": f"{a.timeout:g}s",
        },
        "results": [],
    }
    if a.n:
        rep["settings"]["ops_per_level"] = a.n
    else:
        rep["settings"]["duration_per_level"] = f"{a.d:g}s"
    try:
        await session.execute(f"CREATE KEYSPACE IF NOT EXISTS {a.keyspace} WITH replication = "
                              "{'class': 'SimpleStrategy', 'replication_factor': 1}")
        await session.execute(f"CREATE TABLE IF NOT EXISTS {a.keyspace}.{a.table} (id int PRIMARY KEY, v blob)")
        ins = await session.prepare(f"INSERT INTO {a.keyspace}.{a.table} (id, v) VALUES (?, ?)")
        sel = await session.prepare(f"SELECT v FROM {a.keyspace}.{a.table} WHERE id = ?")
        ins.consistency_level = sel.consistency_level = a.cl
        runner = Runner(session, ins, sel, a)
        if a.fill == "true" and any(w != "insert" for w in a.workloads):
            await fill(session, ins, a)
        for name in a.workloads:
            for level in a.levels:
                rep["results"].append(await measure(runner, a, name, level))
    finally:
        await session.close()
        await cluster.shutdown()
    return rep


def write_table(rep, out):
    s = rep["settings"]
    per = f"{s['ops_per_level']} operations" if "ops_per_level" in s else s["duration_per_level"]
    print(f"{rep['tool']}: {rep['client']}", file=out)
    print(f"{rep['started']}, hosts {','.join(rep['hosts'])}, table {rep['keyspace']}.{rep['table']}", file=out)
    print(f"session: executor threads {s['executor_threads']}, {s['consistency']}", file=out)
    print(f"load: {s['row_size']}-byte values, {s['rows']} keys; {per} per level after a {s['warmup']} warm-up, "
          f"{s['timeout']} deadline per operation\n", file=out)
    head = ["workload", "in flight", "ops", "ops/s", "p50 ms", "p95 ms", "p99 ms", "p99.9 ms", "max ms",
            "CPU µs/op", "queued µs", "peak queue", "peak busy", "errors"]
    rows = [head]
    for r in rep["results"]:
        lat = r["latency_us"]
        errs = ", ".join(f"{k} {v}" for k, v in sorted(r["errors_by_kind"].items())) or "0"
        rows.append([r["workload"], str(r["in_flight"]), str(r["ops"]), f"{r['ops_per_sec']:.0f}"]
                    + [f"{lat[k] / 1000:.2f}" for k in ("p50", "p95", "p99", "p999", "max")]
                    + [f"{r['cpu_us_per_op']:.0f}", "-", "-", "-", errs])
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    for row in rows:
        print("  ".join(cell.rjust(w) for cell, w in zip(row, widths)), file=out)
    for r in rep["results"]:
        for k, m in sorted(r.get("error_samples", {}).items()):
            print(f"{r['workload']}, {r['in_flight']} in flight, first {k} error: {m}", file=out)


if __name__ == "__main__":
    args = parse_args(sys.argv[1:])
    report = asyncio.run(main(args))
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
    else:
        write_table(report, sys.stdout)
