"""``spacegrid bench unit``: the unit's overhead over a bare handler, and our grid layer's over the raw client.

docs/benchmarks.md §2 and §3, side by side in one run:

1. For each adapter (LocalGrid in the server process; HazelcastGrid on a cluster this
   command starts on free loopback ports and stops), two server processes in turn: the
   real unit app and a bare aiohttp app doing the same grid calls
   (:mod:`tools.bench.unit_server`). A load generator in its own process (wrk, else
   aiohttp) drives ``GET /products/{id}`` then ``POST /orders`` at a fixed concurrency for
   a fixed duration each, after a warm-up. Reported: requests/s, p50, p99, and the ratio
   unit / bare (target for GET: >= 60 %).
2. Hazelcast only: ``HazelcastGrid.get`` vs raw ``map.get`` of both hazelcast-python-client
   APIs at the same concurrency: the classic client (callbacks on its reactor thread) and
   the asyncio client (what the adapter reads through), on the products map (whole product
   entries, no near cache: a network round trip; decision 0017). ours/raw is against the
   faster raw client.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

from tools.bench import loadgen
from tools.bench.results import percentile, save


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--adapters", default="local,hazelcast", help="comma list of local,hazelcast")
    parser.add_argument("--members", type=int, default=2, choices=(1, 2, 3), help="Hazelcast members to start")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of unrecorded load first")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--products", type=int, default=100)
    parser.add_argument("--loadgen", choices=("auto", "wrk", "aiohttp"), default="auto")
    parser.add_argument("--skip-grid-layer", action="store_true", help="skip the HazelcastGrid vs raw client part")


# ---- servers --------------------------------------------------------------------------
def _server(env: dict[str, str], app: str, products: int, workdir: Path,
            extra: tuple[str, ...] = ()) -> tuple[Any, dict]:
    from tools.local.processes import free_ports
    from tools.local.units import start_unit

    port = free_ports(1)[0]
    seed_file = workdir / f"seed-{app}-{port}.json"
    cmd = [sys.executable, "-m", "tools.bench.unit_server", "--app", app, "--port", str(port),
           "--products", str(products), "--seed-file", str(seed_file), *extra]
    proc = start_unit(env, port, workdir, command=cmd, name=f"bench-{app}")
    deadline = time.monotonic() + 120
    while not seed_file.exists():
        if proc.proc.poll() is not None or time.monotonic() > deadline:
            proc.stop(5)
            raise RuntimeError(f"bench server {app} did not start:\n{proc.tail()}")
        time.sleep(0.2)
    return proc, orjson.loads(seed_file.read_bytes())


def _measure_app(env: dict[str, str], app: str, args: argparse.Namespace, workdir: Path) -> dict[str, dict]:
    proc, seeded = _server(env, app, args.products, workdir)
    try:
        out = {}
        for route in ("get", "post"):
            if args.warmup > 0:
                loadgen.run_load(proc.url, route, seeded["product_ids"], seeded["token"], args.connections,
                                 args.warmup, args.loadgen)
            r = loadgen.run_load(proc.url, route, seeded["product_ids"], seeded["token"], args.connections,
                                 args.duration, args.loadgen)
            r["rps"] = r["requests"] / r["seconds"] if r["seconds"] else 0.0
            out[route] = r
            print(f"  {app:<5} {route:<4} {r['rps']:8.0f} req/s  p50 {r['p50_ms']:7.2f} ms  p99 {r['p99_ms']:7.2f} ms"
                  f"  (errors {r['errors']}, non-2xx {r['non2xx']}, {r['tool']})", flush=True)
        return out
    finally:
        proc.stop(20)


# ---- grid layer -----------------------------------------------------------------------------
async def _ours(grid: Any, map_name: str, keys: list[str], concurrency: int, seconds: float) -> dict:
    return await _async_gets(lambda key: grid.get(map_name, key), keys, concurrency, seconds)


async def _async_gets(get: Any, keys: list[str], concurrency: int, seconds: float) -> dict:
    """``concurrency`` coroutines calling ``get(key)`` back to back on this event loop."""
    latencies: list[float] = []
    deadline = time.monotonic() + seconds
    rng = random.Random(1)

    async def worker() -> None:
        while time.monotonic() < deadline:
            t0 = time.perf_counter()
            await get(rng.choice(keys))
            latencies.append((time.perf_counter() - t0) * 1000)

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return _summary(latencies, time.monotonic() - started)


def _raw(client: Any, map_name: str, keys: list[str], concurrency: int, seconds: float) -> dict:
    """``concurrency`` outstanding raw ``map.get`` futures, each completion issuing the next."""
    m = client.get_map(map_name)
    latencies: list[float] = []
    lock = threading.Lock()
    done = threading.Event()
    active = [concurrency]
    deadline = time.monotonic() + seconds
    rng = random.Random(1)

    def issue() -> None:
        while time.monotonic() < deadline:
            t0 = time.perf_counter()
            f = m.get(rng.choice(keys))
            if f.done():  # answered already: loop instead of recursing through callbacks
                f.result()
                latencies.append((time.perf_counter() - t0) * 1000)
                continue

            def on_done(f: Any, t0: float = t0) -> None:
                f.result()
                latencies.append((time.perf_counter() - t0) * 1000)
                issue()

            f.add_done_callback(on_done)
            return
        with lock:
            active[0] -= 1
            if active[0] == 0:
                done.set()

    started = time.monotonic()
    for _ in range(concurrency):
        issue()
    done.wait(seconds + 30)
    return _summary(latencies, time.monotonic() - started)


def _summary(latencies: list[float], seconds: float) -> dict:
    return {"requests": len(latencies), "seconds": seconds, "rps": len(latencies) / seconds if seconds else 0.0,
            "p50_ms": percentile(latencies, 50), "p99_ms": percentile(latencies, 99)}


async def _grid_layer(env: dict[str, str], args: argparse.Namespace) -> dict[str, dict]:
    import hazelcast

    from grid_config.names import Names
    from spacegrid.bootstrap import open_grid
    from grid_config.settings import CommonSettings, load

    names = Names(namespace=f"benchgl{uuid.uuid4().hex[:6]}-")
    settings = load(CommonSettings, grid="hazelcast", hazelcast_members=env["SPACEGRID_HAZELCAST_MEMBERS"],
                    hazelcast_cluster=env["SPACEGRID_HAZELCAST_CLUSTER"], namespace=names.namespace)
    grid = open_grid(settings, names)
    await grid.start()
    raw = await asyncio.get_running_loop().run_in_executor(None, lambda: hazelcast.HazelcastClient(
        cluster_name=settings.hazelcast_cluster, cluster_members=settings.member_addresses,
    ))
    from hazelcast.asyncio import HazelcastClient as AsyncioClient

    raw_aio = await AsyncioClient.create_and_start(
        cluster_name=settings.hazelcast_cluster, cluster_members=settings.member_addresses)
    try:
        keys = [str(10**17 + i) for i in range(1000)]
        await grid.put_all(names.products, {k: {"id": k, "sku": k, "name": "n", "category": "c", "price_cents": 1,
                                                "stock": 5, "version": 1} for k in keys})
        out = {}
        loop = asyncio.get_running_loop()
        for label, map_name in (("products", names.products),):
            aio_map = await raw_aio.get_map(map_name)
            await _ours(grid, map_name, keys, args.connections, 1.0)  # warm
            await loop.run_in_executor(None, _raw, raw, map_name, keys, args.connections, 1.0)
            await _async_gets(aio_map.get, keys, args.connections, 1.0)
            ours = await _ours(grid, map_name, keys, args.connections, args.duration / 2)
            bare = await loop.run_in_executor(None, _raw, raw, map_name, keys, args.connections, args.duration / 2)
            bare_aio = await _async_gets(aio_map.get, keys, args.connections, args.duration / 2)
            out[label] = {"ours": ours, "raw": bare, "raw_asyncio": bare_aio}
            for who, r in (("HazelcastGrid.get", ours), ("raw classic map.get", bare), ("raw asyncio map.get", bare_aio)):
                print(f"  {label:<22} {who:<20} {r['rps']:8.0f} ops/s  p50 {r['p50_ms']:6.2f} ms"
                      f"  p99 {r['p99_ms']:6.2f} ms", flush=True)
        return out
    finally:
        await loop.run_in_executor(None, raw.shutdown)
        await raw_aio.shutdown()
        await grid.close()


# ---- orchestration ------------------------------------------------------------------------
def run(args: argparse.Namespace) -> int:
    from tools.local import jars
    from tools.local.processes import free_ports
    from tools.local.stack import LocalStack
    from tools.local.units import LOAD_ENV

    adapters = [a.strip() for a in args.adapters.split(",") if a.strip()]
    workdir = Path(tempfile.mkdtemp(prefix="spacegrid-bench-unit-"))
    cache = Path(os.environ.get("SPACEGRID_CACHE_DIR", os.path.expanduser("~/.cache/spacegrid")))
    results: dict[str, Any] = {"config": {k: v for k, v in vars(args).items() if k not in ("func",)}, "adapters": {},
                               "loadavg_1_5_15_before": os.getloadavg()}
    print(f"spacegrid bench unit: {args.connections} connections, {args.duration:g}s per figure, "
          f"{args.warmup:g}s warm-up, load generator: {'wrk' if args.loadgen != 'aiohttp' and loadgen.have_wrk() else 'aiohttp'}")
    for adapter in adapters:
        stack = None
        env = {**LOAD_ENV, "SPACEGRID_CACHE_DIR": str(cache)}
        try:
            if adapter == "hazelcast":
                jars.ensure_jars(cache, "hazelcast")
                ports = free_ports(args.members + 2)
                tag = uuid.uuid4().hex[:8]
                stack = LocalStack.create(cache, profile=f"bench-{tag}", cluster_name=f"spacegrid-bench-{tag}",
                                          member_base_port=ports[0], kafka_port=ports[-2], controller_port=ports[-1],
                                          member_slots=args.members)
                stack.cluster.start(args.members)
                env.update({"SPACEGRID_GRID": "hazelcast", "SPACEGRID_HAZELCAST_MEMBERS": stack.cluster.member_list,
                            "SPACEGRID_HAZELCAST_CLUSTER": stack.cluster.cluster_name})
                print(f"HazelcastGrid on {args.members} member(s) {stack.cluster.member_list}:", flush=True)
            elif adapter == "local":
                env["SPACEGRID_GRID"] = "embedded"
                print("LocalGrid (in the server process):", flush=True)
            else:
                raise SystemExit(f"unknown adapter {adapter!r}")
            per_app = {app: _measure_app(env, app, args, workdir) for app in ("bare", "unit")}
            entry: dict[str, Any] = {"apps": per_app, "ratio": {
                route: per_app["unit"][route]["rps"] / per_app["bare"][route]["rps"]
                if per_app["bare"][route]["rps"] else 0.0
                for route in ("get", "post")
            }}
            if adapter == "hazelcast" and not args.skip_grid_layer:
                entry["grid_layer"] = asyncio.run(_grid_layer(env, args))
            results["adapters"][adapter] = entry
        finally:
            if stack is not None:
                stack.down()
    results["loadavg_1_5_15_after"] = os.getloadavg()
    print()
    print(table(results))
    print("load average (1/5/15 min) before %.2f/%.2f/%.2f, after %.2f/%.2f/%.2f"
          % (*results["loadavg_1_5_15_before"], *results["loadavg_1_5_15_after"]))
    path = save("unit", results)
    print(f"\nresults: {path}")
    shutil.rmtree(workdir, ignore_errors=True)  # server logs (tens of MB of access lines); kept on failure
    ok = all(e["ratio"]["get"] >= 0.6 for e in results["adapters"].values())
    print("target (unit GET >= 60% of bare):", "met" if ok else "NOT met")
    return 0


def table(results: dict[str, Any]) -> str:
    """The Markdown table for docs/benchmarks.md."""
    rows = ["| adapter | route | bare req/s | unit req/s | unit/bare | bare p50/p99 ms | unit p50/p99 ms |",
            "|---|---|---:|---:|---:|---:|---:|"]
    for adapter, e in results["adapters"].items():
        for route, label in (("get", "GET /products/{id}"), ("post", "POST /orders")):
            b, u = e["apps"]["bare"][route], e["apps"]["unit"][route]
            rows.append(f"| {adapter} | {label} | {b['rps']:.0f} | {u['rps']:.0f} | {e['ratio'][route]:.0%} | "
                        f"{b['p50_ms']:.1f} / {b['p99_ms']:.1f} | {u['p50_ms']:.1f} / {u['p99_ms']:.1f} |")
    layer = [(a, e["grid_layer"]) for a, e in results["adapters"].items() if "grid_layer" in e]
    if layer:
        rows += ["", "| map | HazelcastGrid.get ops/s | raw classic map.get ops/s | raw asyncio map.get ops/s "
                     "| ours/best raw | ours p50/p99 ms | classic p50/p99 ms | asyncio p50/p99 ms |",
                 "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for _, gl in layer:
            for label, r in gl.items():
                o, w, a = r["ours"], r["raw"], r.get("raw_asyncio", r["raw"])
                best = max(w["rps"], a["rps"])
                rows.append(f"| {label} | {o['rps']:.0f} | {w['rps']:.0f} | {a['rps']:.0f} | {o['rps'] / best:.0%} | "
                            f"{o['p50_ms']:.2f} / {o['p99_ms']:.2f} | {w['p50_ms']:.2f} / {w['p99_ms']:.2f} | "
                            f"{a['p50_ms']:.2f} / {a['p99_ms']:.2f} |")
    return "\n".join(rows)
