"""``spacegrid bench orders``: ``POST /orders`` on the space against the same unit over PostgreSQL.

docs/benchmarks.md §8, side by side in one run (issue targets: 16 callers space >= 2x the
database's orders/s; sequential p50 space <= 0.8x the database's):

* **space**: the unit app (``tools.bench.unit_server --app unit``) on ``--members`` Hazelcast
  members (backup-count 1); its journals are shipped by a process of their own (``--app
  shipper``: the pump's reading, position and credit work, into a discarding publisher; the
  Kafka part is ``bench pump``'s), so the unit pays its G7 credits and shares the 2 cores
  with the shipping, as in production;
* **database**: the same unit app over PostgreSQL (fsync on, synchronous commit), an order in
  one SQL transaction (``--app unit-pg``, :mod:`tools.bench.pg_orders`).

Each side: a warm-up, then ``POST /orders`` (one line, a random product of ``--products``)
from 1 connection (sequential: p50 is the latency a client sees) and from
``--connections`` (throughput), alternating the sides. Then, on the space side only, the
no-degradation check: sequential p50 at the start (before the warm-up) against sequential
p50 after ``--orders`` orders went through the same unit process (target: within 1.5x).
The load generator (wrk, else aiohttp) runs in its own process.

Each measurement also says where the CPU went: milliseconds of CPU per order answered, per
process group (:mod:`tools.bench.process_cpu`): on the space side the unit, the shipper and
the members; on the database side the unit and PostgreSQL (its backends included). The
issue asks for that split whenever a target is not met.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

from tools.bench import loadgen
from tools.bench.process_cpu import CpuMeter, Usage, fixed, with_children
from tools.bench.results import save


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--members", type=int, default=2, help="Hazelcast members (space side)")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds of unrecorded load per side")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--products", type=int, default=50)
    parser.add_argument("--orders", type=int, default=10_000,
                        help="orders through the space unit before the second sequential measurement")
    parser.add_argument("--loadgen", choices=("auto", "wrk", "aiohttp"), default="auto")


def _post(url: str, seeded: dict, connections: int, seconds: float, tool: str) -> dict[str, Any]:
    r = loadgen.run_load(url, "post", seeded["product_ids"], seeded["token"], connections, seconds, tool)
    r["rps"] = r["requests"] / r["seconds"] if r["seconds"] else 0.0
    return r


def cpu_per_order(cpu: dict[str, Usage], seconds: float, orders: int) -> dict[str, float]:
    """Each group's CPU over a measurement of ``seconds`` (the meter's, load generator's
    start and end included), in ms per order answered."""
    return {name: round(u.cores * seconds * 1000 / orders, 3) if orders else 0.0 for name, u in cpu.items()}


def run(args: argparse.Namespace) -> int:
    from tools.bench.unit import _server
    from tools.local import jars
    from tools.local.postgres import ensure_postgres_installed, start_postgres
    from tools.local.processes import free_ports
    from tools.local.stack import LocalStack
    from tools.local.units import LOAD_ENV

    cache = Path(os.environ.get("SPACEGRID_CACHE_DIR", os.path.expanduser("~/.cache/spacegrid")))
    workdir = Path(tempfile.mkdtemp(prefix="spacegrid-bench-orders-"))
    jars.ensure_jars(cache, "hazelcast")
    ensure_postgres_installed()
    tag = uuid.uuid4().hex[:8]
    ports = free_ports(args.members + 2)
    stack = LocalStack.create(cache, profile=f"bench-{tag}", cluster_name=f"spacegrid-bench-{tag}",
                              member_base_port=ports[0], kafka_port=ports[-2], controller_port=ports[-1],
                              member_slots=args.members)
    results: dict[str, Any] = {"config": vars(args), "loadavg_before": os.getloadavg()}
    pg = servers = None
    try:
        stack.cluster.start(args.members)
        pg = start_postgres(cache / "postgres" / f"bench-{tag}")
        base = {**LOAD_ENV, "SPACEGRID_CACHE_DIR": str(cache)}
        envs = {
            "space": {**base, "SPACEGRID_GRID": "hazelcast", "SPACEGRID_HAZELCAST_MEMBERS": stack.cluster.member_list,
                      "SPACEGRID_HAZELCAST_CLUSTER": stack.cluster.cluster_name},
            "database": {**base, "SPACEGRID_DATABASE_URL": pg.dsn()},
        }
        apps = {"space": "unit", "database": "unit-pg"}
        namespace = f"bench{tag}-"
        # the space side's change record ships from a process of its own, as a pump does
        shipper = _server(envs["space"], "shipper", 0, workdir, ("--namespace", namespace))
        servers = {side: _server(envs[side], apps[side], args.products, workdir,
                                 ("--namespace", namespace, "--ship", "none")) for side in envs}
        servers["shipper"] = shipper
        url = {side: servers[side][0].url for side in envs}
        meters = {
            "space": CpuMeter({"unit": fixed(servers["space"][0].pid), "shipper": fixed(shipper[0].pid),
                               "members": fixed(*(m.pid for m in stack.cluster.members()))}),
            "database": CpuMeter({"unit": fixed(servers["database"][0].pid), "postgres": with_children(pg.pid)}),
        }
        seeded = {side: servers[side][1] for side in envs}
        print(f"bench orders: space on {args.members} member(s), database PostgreSQL (fsync on); "
              f"{args.seconds:g} s per figure", flush=True)
        first = _post(url["space"], seeded["space"], 1, min(args.seconds, 2.0), args.loadgen)
        warm = {side: _post(url[side], seeded[side], args.connections, args.warmup, args.loadgen) for side in envs}
        per_side: dict[str, dict[str, Any]] = {side: {} for side in envs}
        for side in ("space", "database", "database", "space"):  # alternate: noise hits both
            key = "sequential" if "sequential" not in per_side[side] else "concurrent"
            conns = 1 if key == "sequential" else args.connections
            before = meters[side].reading()
            per_side[side][key] = r = _post(url[side], seeded[side], conns, args.seconds, args.loadgen)
            after = meters[side].reading()
            r["cpu_ms_per_order"] = cpu_per_order(CpuMeter.usage(before, after), (after[0] - before[0]) / 1e9,
                                                  r["requests"])
            print(f"  {side:8s} {key:10s} {r['rps']:7.0f} orders/s  p50 {r['p50_ms']:.2f} ms  p99 {r['p99_ms']:.2f} ms"
                  f"  ({r['non2xx']} non-2xx, {r['errors']} errors)  CPU ms/order: {_cpu_cells(r)}", flush=True)
        placed = first["requests"] + warm["space"]["requests"] + sum(r["requests"] for r in per_side["space"].values())
        # the remaining orders, with a margin: the load generator stops by time, not by count
        remaining_s = max(0.0, (args.orders * 1.05 - placed) / max(per_side["space"]["concurrent"]["rps"], 1.0))
        if remaining_s > 0:
            print(f"  space: {remaining_s:.0f} s more of {args.connections} callers to pass {args.orders} orders",
                  flush=True)
            more = _post(url["space"], seeded["space"], args.connections, remaining_s, args.loadgen)
            placed += more["requests"]
        later = _post(url["space"], seeded["space"], 1, min(args.seconds, 2.0), args.loadgen)
        results.update(sides=per_side, degradation={"first": first, "later": later, "orders_between": placed})
        failed = sum(r["non2xx"] + r["errors"] for v in per_side.values() for r in v.values())
        failed += later["non2xx"] + later["errors"] + first["non2xx"] + first["errors"]
        results["failed_requests"] = failed
    finally:
        for proc, _ in (servers or {}).values():
            proc.stop(10)
        if pg is not None:
            pg.stop()
            shutil.rmtree(pg.data_dir.parent, ignore_errors=True)
        stack.down()
        shutil.rmtree(stack.profile.root, ignore_errors=True)
    results["loadavg_after"] = os.getloadavg()
    print()
    print(table(results))
    if results.get("failed_requests"):
        print(f"WARNING: {results['failed_requests']} requests did not answer 2xx: the figures are not valid")
    print(f"\nresults: {save('orders', results)}")
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


def _cpu_cells(r: dict[str, Any]) -> str:
    cpu = r.get("cpu_ms_per_order", {})
    return " + ".join(f"{name} {ms:.2f}" for name, ms in cpu.items()) + f" = {sum(cpu.values()):.2f}"


def table(results: dict[str, Any]) -> str:
    """The Markdown table for docs/benchmarks.md, with the targets' verdicts."""
    s, d = results["sides"]["space"], results["sides"]["database"]
    conc = s["concurrent"]["rps"] / d["concurrent"]["rps"] if d["concurrent"]["rps"] else 0.0
    seq = s["sequential"]["p50_ms"] / d["sequential"]["p50_ms"] if d["sequential"]["p50_ms"] else 0.0
    deg = results["degradation"]
    drift = deg["later"]["p50_ms"] / deg["first"]["p50_ms"] if deg["first"]["p50_ms"] else 0.0
    rows = [
        "| POST /orders | space | database | space/database | target |",
        "|---|---:|---:|---:|---|",
        f"| {results['config']['connections']} callers, orders/s | {s['concurrent']['rps']:.0f} | "
        f"{d['concurrent']['rps']:.0f} | {conc:.2f}x | >= 2x: {'met' if conc >= 2 else 'NOT met'} |",
        f"| {results['config']['connections']} callers, p50 / p99 ms | {s['concurrent']['p50_ms']:.2f} / "
        f"{s['concurrent']['p99_ms']:.2f} | {d['concurrent']['p50_ms']:.2f} / {d['concurrent']['p99_ms']:.2f} | | |",
        f"| sequential p50 / p99 ms | {s['sequential']['p50_ms']:.2f} / {s['sequential']['p99_ms']:.2f} | "
        f"{d['sequential']['p50_ms']:.2f} / {d['sequential']['p99_ms']:.2f} | {seq:.2f}x | "
        f"<= 0.8x: {'met' if seq <= 0.8 else 'NOT met'} |",
        f"| {results['config']['connections']} callers, CPU ms per order | {_cpu_cells(s['concurrent'])} | "
        f"{_cpu_cells(d['concurrent'])} | | |",
        "",
        f"No degradation (space, sequential): p50 {deg['first']['p50_ms']:.2f} ms over the first "
        f"{deg['first']['requests']} orders, {deg['later']['p50_ms']:.2f} ms after about "
        f"{deg['orders_between']:,} orders ({drift:.2f}x; target <= 1.5x: {'met' if drift <= 1.5 else 'NOT met'})",
    ]
    return "\n".join(rows)
