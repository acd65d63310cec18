"""``spacegrid bench compare``: capacity at an SLO, space-based stack vs a direct-to-database service.

docs/benchmarks.md §1. Both sides run the same processing unit code and the same HTTP API:

* **space**: ``spacegrid unit`` processes on a local Hazelcast cluster (JVM heaps capped);
* **database**: the same units over :class:`~tools.bench.postgres_grid.PostgresGrid`, which
  reads and writes PostgreSQL (fsync on, synchronous commit) on every request.

The benchmark starts its own engines on free loopback ports (Hazelcast members through
``tools.local``, a private PostgreSQL), seeds both sides alike, warms them up unrecorded,
then offers open-loop load (:func:`tools.bench.loadgen.run_open_loop`: arrivals at a fixed
rate, independent of the answers, generator in its own process) step by step, e.g.
100/200/400/... requests/s, per route (``GET /products/[id]``, ``POST /orders``, the
locustfile's mix). At every step the two sides run back to back, the first side
alternating from step to step, so machine noise and after-effects hit both alike. Each
side's capacity on a route is the highest offered rate it served within the SLO
(:mod:`tools.bench.slo`: p99 under ``--slo-ms``, no errors or drops, >= 95 % of the offered
rate answered). Both sides are offered the same rates: a route stops rising once both
sides missed the SLO at ``--max-misses`` rates in a row (higher rates would only queue).

Output: a side-by-side table on stdout, JSON with every step in
``bench-results/compare-<time>.json`` and the latency-vs-offered-load PNG next to it
(:mod:`tools.bench.slo_plot`). Under every step's line, the cores each group of processes
it started kept busy and kept waiting for a core meanwhile (:mod:`tools.bench.process_cpu`;
the other side idles during a step). Everything the benchmark started is stopped by PID.

The space side also runs one data pump (``spacegrid pump``) and a Kafka broker: a write
takes a journal credit (G7) that only the pump gives back, so the space side pays for
shipping its change record, as in production. The writer is not run (the database side
already is the database; write-behind lag is ``bench writer``'s).
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from tools.bench.process_cpu import CpuMeter, Usage, fixed, with_children

ADMIN = "bench-admin@bench.invalid:bench-admin-password"
SHOPPER_PASSWORD = "bench-shopper-password"
#: per product: half the API's bound of 1,000,000, so restocks stay valid and orders never run out
SEED_STOCK = 500_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from tools.bench.arrivals import KINDS
    from tools.bench.shop_requests import ROUTES

    parser.add_argument("--rates", default="100,200,400,800,1200,1600",
                        help="offered load per step, requests/s (comma-separated, ascending)")
    parser.add_argument("--step-seconds", type=float, default=15, help="duration of each step, side and route")
    parser.add_argument("--routes", default=",".join(ROUTES),
                        help=f"comma list of {', '.join(f'{k} ({v})' for k, v in ROUTES.items())}")
    parser.add_argument("--slo-ms", type=float, default=50.0, help="p99 latency a served step stays under")
    parser.add_argument("--arrivals", choices=KINDS, default="poisson", help="arrival process of the open loop")
    parser.add_argument("--max-in-flight", type=int, default=512,
                        help="bound on requests in flight; arrivals over it are dropped (and fail the step)")
    parser.add_argument("--timeout-s", type=float, default=5.0, help="per-request timeout (an error)")
    parser.add_argument("--max-misses", type=int, default=2,
                        help="stop raising the rate on a route once both sides missed the SLO at this many rates "
                             "in a row (0: offer every rate)")
    parser.add_argument("--members", type=int, default=2, help="Hazelcast members (space side)")
    parser.add_argument("--units", type=int, default=1, help="units per side (behind HAProxy when > 1)")
    parser.add_argument("--products", type=int, default=50, help="products seeded per side")
    parser.add_argument("--shoppers", type=int, default=20, help="signed-in shoppers per side placing the orders")
    # 120 s: after 60 s of the mix at 100/s the broker's JIT compiler still used half of its
    # CPU, after 240 s a tenth (docs/benchmarks.md §1); the database side has no JIT to warm
    parser.add_argument("--warmup-seconds", type=float, default=120,
                        help="unrecorded mix at the first rate on each side first (JIT, caches, connection pools)")
    parser.add_argument("--results", type=Path, default=Path("bench-results"))
    parser.add_argument("--png", type=Path, default=None,
                        help="where to draw the plot (default: next to the JSON, same name .png)")


@dataclass
class Side:
    name: str
    url: str
    stop: Callable[[], None]
    product_ids: list[str] | None = None
    shopper_tokens: list[str] | None = None
    admin_token: str = ""
    pids: list[int] = field(default_factory=list)  # its units (CPU per step)


def _git_head() -> str:
    from tools.local.units import REPO_ROOT

    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True)
        return out.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def _cache_dir() -> Path:
    return Path(os.environ.get("SPACEGRID_CACHE_DIR", os.path.expanduser("~/.cache/spacegrid")))


def parse_rates(text: str) -> list[float]:
    """``"100,200,400"`` -> [100.0, 200.0, 400.0]; positive and ascending, or ValueError."""
    rates = [float(r) for r in text.split(",") if r.strip()]
    if not rates or any(r <= 0 for r in rates) or rates != sorted(set(rates)):
        raise ValueError(f"--rates must be positive, ascending and distinct: {text!r}")
    return rates


def _start_side(name: str, env: dict[str, str], command: list[str] | None, units: int, workdir: Path) -> Side:
    from tools.local.haproxy import start_haproxy, wait_servers_up
    from tools.local.processes import free_ports
    from tools.local.units import start_units, stop_units

    ports = free_ports(units + 1)
    procs = start_units(env, ports[:units], workdir / "logs", command)
    lb = None
    try:
        if units > 1:
            lb = start_haproxy(workdir / "haproxy", ports[-1], [("127.0.0.1", p) for p in ports[:units]])
            wait_servers_up(lb, units)
        url = lb.url if lb else procs[0].url
    except BaseException:
        stop_units(procs, timeout=10)
        raise

    def stop() -> None:
        if lb is not None:
            lb.stop()
        stop_units(procs, timeout=20)

    return Side(name, url, stop, pids=[p.pid for p in procs])


def _seed(side: Side, products: int, shoppers: int) -> None:
    """Products with ample stock, and signed-in shoppers (sign-ups are not what is measured)."""
    from loadtests.seed import seed_products, sign_in, sign_up

    seeded = seed_products(side.url, count=products, stock=SEED_STOCK, admin=ADMIN)
    side.product_ids = seeded.product_ids
    side.admin_token = seeded.admin_token
    side.shopper_tokens = []
    for _ in range(shoppers):
        email = f"shopper-{uuid.uuid4().hex[:12]}@bench.invalid"
        sign_up(side.url, email, SHOPPER_PASSWORD)
        side.shopper_tokens.append(sign_in(side.url, email, SHOPPER_PASSWORD))


def _offer(side: Side, route: str, rate: float, seconds: float, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    from tools.bench.loadgen import run_open_loop

    return run_open_loop(side.url, route, rate, seconds, product_ids=side.product_ids or [],
                         shopper_tokens=side.shopper_tokens or [], admin_token=side.admin_token,
                         arrivals=args.arrivals, seed=seed, max_in_flight=args.max_in_flight,
                         timeout_s=args.timeout_s)


def _step_line(step: dict[str, Any], served: bool) -> str:
    return (f"  {step['route']:>4} {step['offered_rps']:>6g}/s {step['side']:>8}: "
            f"{step['achieved_rps']:7.1f} req/s  p50 {step['p50_ms']:6.1f}  p95 {step['p95_ms']:6.1f}  "
            f"p99 {step['p99_ms']:7.1f} ms  errors {step['errors']}  dropped {step['dropped']}  "
            f"(generator lag p99 {step['send_lag_p99_ms']:.1f} ms)  {'served' if served else 'MISSED'}")


def _cpu_line(cpu: dict[str, Usage]) -> str:
    busy = "  ".join(f"{name} {u.cores:.2f}/{u.waiting:.2f}" for name, u in cpu.items() if u.cores >= 0.005)
    return f"      cores busy/waiting: {busy}  (total {sum(u.cores for u in cpu.values()):.2f} busy)"


def table(steps: list[dict[str, Any]], capacity: dict[str, dict[str, Any]], routes: dict[str, str],
          slo_ms: float) -> str:
    """Side by side per route and offered rate, then each route's capacities and their ratio."""
    from tools.bench.slo import meets_slo

    head = (f"{'route':<18} {'offered':>7} | {'space':>7} {'p50':>6} {'p95':>6} {'p99':>7} {'err':>4} {'drop':>4} "
            f"{'ok':>2} | {'db':>7} {'p50':>6} {'p95':>6} {'p99':>7} {'err':>4} {'drop':>4} {'ok':>2}")
    lines = [head, "-" * len(head)]

    def cells(s: dict[str, Any] | None) -> str:
        if s is None:
            return f"{'-':>7} {'':>6} {'':>6} {'':>7} {'':>4} {'':>4} {'':>2}"
        return (f"{s['achieved_rps']:>7.1f} {s['p50_ms']:>6.1f} {s['p95_ms']:>6.1f} {s['p99_ms']:>7.1f} "
                f"{s['errors']:>4} {s['dropped']:>4} {'y' if meets_slo(s, slo_ms) else 'n':>2}")

    for route, label in routes.items():
        rates = sorted({s["offered_rps"] for s in steps if s["route"] == route})
        for rate in rates:
            pick = {side: next((s for s in steps if s["route"] == route and s["side"] == side
                                and s["offered_rps"] == rate), None) for side in ("space", "database")}
            lines.append(f"{label:<18} {rate:>7g} | {cells(pick['space'])} | {cells(pick['database'])}")
    lines.append(f"achieved req/s and latencies in ms from each request's due time; ok = p99 < {slo_ms:g} ms, "
                 f"no errors or drops, >= 95 % of offered answered ('-': not offered)")
    lines.append("")
    lines.append(f"capacity at p99 < {slo_ms:g} ms (highest offered rate served), requests/s:")
    for route, label in routes.items():
        cap = capacity.get(route)
        if cap is None:
            continue
        r = f"{cap['ratio']:.2f}" if cap["ratio"] is not None else "n/a (database served no step)"
        lines.append(f"  {label:<18} space {cap['space']:>7g}  database {cap['database']:>7g}  space/database {r}")
    return "\n".join(lines)


def capacities(steps: list[dict[str, Any]], routes: list[str], slo_ms: float) -> dict[str, dict[str, Any]]:
    """Per route: each side's capacity (:func:`tools.bench.slo.capacity`) and space/database."""
    from tools.bench.slo import capacity, ratio

    out: dict[str, dict[str, Any]] = {}
    for route in routes:
        cap = {side: capacity([s for s in steps if s["route"] == route and s["side"] == side], slo_ms)
               for side in ("space", "database")}
        out[route] = {**cap, "ratio": ratio(cap["space"], cap["database"])}
    return out


def _measure(sides: list[Side], routes: list[str], rates: list[float], args: argparse.Namespace,
             steps: list[dict[str, Any]], meter: CpuMeter) -> int:
    """Every route and rate on both sides, first side alternating; appends to ``steps``; failed runs.

    Both sides get the same rates (a side's noisy miss must not end its curve while the
    other keeps climbing); a route stops once both missed ``--max-misses`` rates in a row.
    """
    from tools.bench.slo import meets_slo

    failed_runs = 0
    for r_index, route in enumerate(routes):
        misses = {side.name: 0 for side in sides}
        for index, rate in enumerate(rates):
            if args.max_misses and min(misses.values()) >= args.max_misses:
                print(f"  {route:>4}: both sides missed {args.max_misses} rates in a row, no higher rates", flush=True)
                break
            for side in (sides if index % 2 == 0 else sides[::-1]):
                before = meter.reading()
                try:
                    # the same seed on both sides: the same arrival schedule and request picks
                    result = _offer(side, route, rate, args.step_seconds, 1000 * r_index + index, args)
                except (RuntimeError, subprocess.TimeoutExpired, ValueError) as exc:
                    failed_runs += 1
                    print(f"  {route:>4} {rate:>6g}/s {side.name:>8}: generator failed: {exc}", flush=True)
                    continue
                cpu = CpuMeter.usage(before, meter.reading())
                step = {"side": side.name, "route": route, **result,
                        "cpu": {name: {"cores": round(u.cores, 3), "waiting": round(u.waiting, 3)}
                                for name, u in cpu.items()}}
                served = meets_slo(step, args.slo_ms)
                misses[side.name] = 0 if served else misses[side.name] + 1
                steps.append(step)
                print(_step_line(step, served), flush=True)
                print(_cpu_line(cpu), flush=True)
                for kind, count in list(step.get("error_kinds", {}).items())[:3]:
                    print(f"      error x{count}: {kind}", flush=True)
    return failed_runs


def run(args: argparse.Namespace) -> int:
    from tools.bench import results as bench_results
    from tools.bench.shop_requests import ROUTES
    from tools.bench.slo_plot import write_png
    from tools.local import jars
    from tools.local.postgres import ensure_postgres_installed, start_postgres
    from tools.local.processes import free_ports
    from tools.local.stack import LocalStack
    from tools.local.units import LOAD_ENV, UNIT_COMMAND, start_unit

    try:
        rates = parse_rates(args.rates)
    except ValueError as exc:
        print(f"bench compare: {exc}", file=sys.stderr)
        return 2
    routes = [r.strip() for r in args.routes.split(",") if r.strip()]
    unknown = [r for r in routes if r not in ROUTES]
    if unknown or not routes:
        print(f"bench compare: unknown route(s) {unknown}; choose from {', '.join(ROUTES)}", file=sys.stderr)
        return 2
    if args.max_in_flight < 1 or args.step_seconds <= 0:
        print("bench compare: --max-in-flight must be >= 1 and --step-seconds > 0", file=sys.stderr)
        return 2
    load_before = os.getloadavg()
    tag = uuid.uuid4().hex[:8]
    cache = _cache_dir()
    workdir = Path(tempfile.mkdtemp(prefix=f"spacegrid-bench-{tag}-"))
    jars.require_tools()
    jars.ensure_jars(cache, "hazelcast")
    jars.ensure_jars(cache, "kafka")
    ensure_postgres_installed()

    ports = free_ports(args.members + 4)
    stack = LocalStack.create(
        cache, profile=f"bench-{tag}", cluster_name=f"spacegrid-bench-{tag}", member_base_port=ports[0],
        kafka_port=ports[-2], controller_port=ports[-1], member_slots=args.members,
    )
    pg = None
    pump = None
    sides: list[Side] = []
    steps: list[dict[str, Any]] = []
    failed_runs = 0
    try:
        print(f"starting {args.members} Hazelcast members, a Kafka broker, a pump and PostgreSQL (fsync on) ...",
              flush=True)
        stack.up(args.members, kafka=True)
        pg = start_postgres(cache / "postgres" / f"bench-{tag}")
        common = {
            **LOAD_ENV,
            "SPACEGRID_TOKEN_SECRET": secrets.token_urlsafe(32),
            "SPACEGRID_BOOTSTRAP_ADMIN": ADMIN,
            "SPACEGRID_NAMESPACE": f"bench{tag}-",
        }
        space_env = {
            **common,
            "SPACEGRID_GRID": "hazelcast",
            "SPACEGRID_HAZELCAST_MEMBERS": stack.cluster.member_list,
            "SPACEGRID_HAZELCAST_CLUSTER": stack.cluster.cluster_name,
            "SPACEGRID_KAFKA_BOOTSTRAP": stack.broker.bootstrap,
        }
        db_env = {**common, "SPACEGRID_DATABASE_URL": pg.dsn()}
        db_command = [sys.executable, "-m", "tools.bench.pg_unit"]
        pump = start_unit(space_env, ports[-3], workdir / "space" / "logs", [sys.executable, "-m", "spacegrid.cli",
                                                                             "pump", "--loglevel", "warning"], "pump")
        pump.wait_ready(120)
        sides.append(_start_side("space", space_env, UNIT_COMMAND, args.units, workdir / "space"))
        sides.append(_start_side("database", db_env, db_command, args.units, workdir / "database"))
        for side in sides:
            _seed(side, args.products, args.shoppers)
        if args.warmup_seconds > 0:
            # fresh JVMs spend their first minute compiling (C2) on the same 2 cores, and
            # PostgreSQL's caches start cold: warm both sides alike, unrecorded
            print(f"warm-up: {args.warmup_seconds:g} s of the mix at {rates[0]:g} req/s per side (not recorded)",
                  flush=True)
            for side in sides:
                _offer(side, "mix", rates[0], args.warmup_seconds, 999_999, args)
        print(f"routes {routes}, offered {rates} req/s, {args.step_seconds:g} s per step and side, "
              f"{args.arrivals} arrivals, at most {args.max_in_flight} in flight, SLO p99 < {args.slo_ms:g} ms; "
              f"generator in its own process; logs in {workdir}", flush=True)
        space, database = sides
        meter = CpuMeter({
            "members": fixed(*(m.pid for m in stack.cluster.members())),
            "kafka": fixed(*([broker.pid] if (broker := stack.broker.running()) else [])),
            "pump": fixed(pump.pid),
            "space units": fixed(*space.pids),
            "database units": fixed(*database.pids),
            "postgres": with_children(pg.pid),
        })
        failed_runs = _measure(sides, routes, rates, args, steps, meter)
    finally:
        for side in sides:
            side.stop()
        if pump is not None:
            pump.stop()
        if pg is not None:
            pg.stop()
            shutil.rmtree(pg.data_dir.parent, ignore_errors=True)
        stack.down()
        shutil.rmtree(stack.profile.root, ignore_errors=True)

    caps = capacities(steps, routes, args.slo_ms)
    labels = {r: ROUTES[r] for r in routes}
    text = table(steps, caps, labels, args.slo_ms)
    print()
    print(text)
    load_after = os.getloadavg()
    print("load average (1/5/15 min) before %.2f/%.2f/%.2f, after %.2f/%.2f/%.2f" % (*load_before, *load_after))
    setup = {
        "rates": rates, "step_seconds": args.step_seconds, "routes": routes, "slo_ms": args.slo_ms,
        "arrivals": args.arrivals, "max_in_flight": args.max_in_flight, "timeout_s": args.timeout_s,
        "max_misses": args.max_misses, "members": args.members, "units": args.units, "products": args.products,
        "shoppers": args.shoppers, "warmup_seconds": args.warmup_seconds,
        "loadavg_1_5_15_before": load_before, "loadavg_1_5_15_after": load_after,
        "jvm_heap": "-Xmx384m per member", "commit": _git_head(),
        "postgres": "fsync=on, synchronous_commit=on, shared_buffers=64MB",
    }
    doc = {"setup": setup, "routes": labels, "steps": steps, "capacity": caps, "table": text}
    path = bench_results.save("compare", doc, args.results)
    png = write_png(doc, args.png or path.with_suffix(".png"))
    print(f"\nresults: {path}\nplot: {png}")
    shutil.rmtree(workdir, ignore_errors=True)
    return 0 if failed_runs == 0 and steps else 1
