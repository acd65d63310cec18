"""``spacegrid bench compare``: the space-based stack vs a direct-to-database service (docs/benchmarks.md §1).

Both sides run the same processing unit code, the same HTTP API and the same Locust mix:

* **space**: ``spacegrid unit`` processes on a local Hazelcast cluster (JVM heaps capped);
* **database**: the same units over :class:`~tools.bench.postgres_grid.PostgresGrid`, which
  reads and writes PostgreSQL (fsync on, synchronous commit) on every request.

The benchmark starts its own engines on free loopback ports (Hazelcast members through
``tools.local``, a private PostgreSQL), runs a stepped load (e.g. 10/25/50 users),
alternating the two sides at every step so machine noise hits both alike, with Locust
in its own process, and prints requests/s and p50/p95/p99 per step side by side with
the ratio. Everything it started is stopped by PID at the end. JSON goes to
``bench-results/compare-<time>.json``.

The space side also runs one data pump (``spacegrid pump``) and a Kafka broker: a write
takes a journal credit (G7) that only the pump gives back, so the space side pays for
shipping its change record, as in production. The writer is not run (the database side
already is the database; write-behind lag is ``bench writer``'s).
"""

from __future__ import annotations

import argparse
import csv
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

ADMIN = "bench-admin@bench.invalid:bench-admin-password"
CLASSES = ("Browser", "Shopper", "Admin")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--steps", default="10,25,50", help="Locust users per step (comma-separated)")
    parser.add_argument("--step-seconds", type=int, default=30, help="duration of each step and side")
    parser.add_argument("--members", type=int, default=2, help="Hazelcast members (space side)")
    parser.add_argument("--units", type=int, default=1, help="units per side (behind HAProxy when > 1)")
    parser.add_argument("--products", type=int, default=50, help="products seeded per side")
    parser.add_argument("--wait-ms", default="20,80", help="Locust think time min,max per task (ms)")
    parser.add_argument("--warmup-seconds", type=int, default=20,
                        help="unrecorded load on each side first (JIT, caches, connection pools)")
    parser.add_argument("--results", type=Path, default=Path("bench-results"))


@dataclass
class StepResult:
    side: str
    users: int
    requests: int
    failures: int
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    #: per route name: requests, failures, p50/p99 ms (where the difference comes from)
    routes: dict | None = None


@dataclass
class Side:
    name: str
    url: str
    stop: Callable[[], None]


def _git_head() -> str:
    from tools.local.units import REPO_ROOT

    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True)
        return out.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def _cache_dir() -> Path:
    return Path(os.environ.get("SPACEGRID_CACHE_DIR", os.path.expanduser("~/.cache/spacegrid")))


def run_locust(url: str, users: int, seconds: int, workdir: Path, wait_ms: str) -> StepResult | None:
    """One headless Locust run in its own process; the aggregated row of its CSV stats."""
    from tools.local.units import REPO_ROOT

    workdir.mkdir(parents=True, exist_ok=True)
    prefix = workdir / "locust"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p),
        "LOADTEST_ADMIN": ADMIN,
        "LOADTEST_WAIT_MS": wait_ms,
        "LOADTEST_MAX_FAILURE_RATIO": "1",
        "LOADTEST_P99_MS": "1000000",
    }
    cmd = [
        sys.executable, "-m", "locust", "-f", str(REPO_ROOT / "loadtests" / "locustfile.py"), "--headless",
        "--host", url, "-u", str(users), "-r", str(users), "-t", f"{seconds}s", "--stop-timeout", "5",
        "--only-summary", "--csv", str(prefix), "--loglevel", "WARNING", *CLASSES,
    ]
    with open(workdir / "locust.log", "wb") as out:
        subprocess.run(cmd, env=env, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT, timeout=seconds + 120)
    stats = Path(f"{prefix}_stats.csv")
    if not stats.exists():
        return None
    with open(stats) as f:
        rows = list(csv.DictReader(f))
    row = next((r for r in rows if r["Name"] == "Aggregated"), None)
    routes = {
        f"{r['Type']} {r['Name']}": {"requests": int(r["Request Count"]), "failures": int(r["Failure Count"]),
                                     "p50_ms": float(r["50%"]), "p99_ms": float(r["99%"])}
        for r in rows if r["Name"] != "Aggregated"
    }
    if row is None:
        return None
    failures = Path(f"{prefix}_failures.csv")
    if failures.exists():
        with open(failures) as f:
            for r in list(csv.DictReader(f))[:5]:
                print(f"    failure x{r['Occurrences']}: {r['Method']} {r['Name']}: {r['Error'][:160]}", flush=True)
    return StepResult(
        side="", users=users, requests=int(row["Request Count"]), failures=int(row["Failure Count"]),
        rps=float(row["Requests/s"]), p50_ms=float(row["50%"]), p95_ms=float(row["95%"]), p99_ms=float(row["99%"]),
        routes=routes,
    )


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

    return Side(name, url, stop)


def _table(results: list[StepResult], steps: list[int]) -> str:
    head = (
        f"{'users':>5} | {'space rps':>9} {'p50':>6} {'p95':>6} {'p99':>6} {'fail':>5} | "
        f"{'db rps':>8} {'p50':>6} {'p95':>6} {'p99':>6} {'fail':>5} | {'rps x':>6} {'p99 x':>6}"
    )
    lines = [head, "-" * len(head)]
    for users in steps:
        s = next((r for r in results if r.side == "space" and r.users == users), None)
        d = next((r for r in results if r.side == "database" and r.users == users), None)
        if s is None or d is None:
            lines.append(f"{users:>5} | (missing: a Locust run produced no stats)")
            continue
        rps_x = s.rps / d.rps if d.rps else float("inf")
        p99_x = d.p99_ms / s.p99_ms if s.p99_ms else float("inf")
        lines.append(
            f"{users:>5} | {s.rps:>9.1f} {s.p50_ms:>6.0f} {s.p95_ms:>6.0f} {s.p99_ms:>6.0f} {s.failures:>5} | "
            f"{d.rps:>8.1f} {d.p50_ms:>6.0f} {d.p95_ms:>6.0f} {d.p99_ms:>6.0f} {d.failures:>5} | "
            f"{rps_x:>6.2f} {p99_x:>6.2f}"
        )
    lines.append("latencies in ms; rps x = space/database throughput; p99 x = database p99 / space p99")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from tools.bench import results as bench_results
    from tools.local import jars
    from tools.local.postgres import ensure_postgres_installed, start_postgres
    from tools.local.processes import free_ports
    from tools.local.stack import LocalStack
    from tools.local.units import FAST_HASH_ENV, UNIT_COMMAND

    steps = [int(s) for s in args.steps.split(",") if s.strip()]
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
    results: list[StepResult] = []
    try:
        print(f"starting {args.members} Hazelcast members, a Kafka broker, a pump and PostgreSQL (fsync on) ...",
              flush=True)
        stack.up(args.members, kafka=True)
        pg = start_postgres(cache / "postgres" / f"bench-{tag}")
        common = {
            **FAST_HASH_ENV,
            "SPACEGRID_TOKEN_SECRET": secrets.token_urlsafe(32),
            "SPACEGRID_BOOTSTRAP_ADMIN": ADMIN,
            "SPACEGRID_NAMESPACE": f"bench{tag}-",
            "SPACEGRID_LOGIN_MAX_FAILURES": "1000",
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
        from tools.local.units import start_unit

        pump = start_unit(space_env, ports[-3], workdir / "space" / "logs", [sys.executable, "-m", "spacegrid.cli",
                                                                             "pump", "--loglevel", "warning"], "pump")
        pump.wait_ready(120)
        sides.append(_start_side("space", space_env, UNIT_COMMAND, args.units, workdir / "space"))
        sides.append(_start_side("database", db_env, db_command, args.units, workdir / "database"))

        from loadtests.seed import seed_products

        for side in sides:
            seed_products(side.url, count=args.products, stock=100_000, admin=ADMIN)
        if args.warmup_seconds > 0:
            # fresh JVMs spend their first minute compiling (C2) on the same 2 cores, and
            # PostgreSQL's caches start cold: warm both sides alike, unrecorded
            print(f"warm-up: {args.warmup_seconds} s at {steps[0]} users per side (not recorded)", flush=True)
            for side in sides:
                run_locust(side.url, steps[0], args.warmup_seconds, workdir / f"{side.name}-warmup", args.wait_ms)
        print(f"steps {steps} users, {args.step_seconds} s each, sides alternating; "
              f"Locust in its own process; logs in {workdir}", flush=True)
        for users in steps:
            for side in sides:
                r = run_locust(side.url, users, args.step_seconds, workdir / f"{side.name}-{users}", args.wait_ms)
                if r is None:
                    print(f"  {side.name:>8} {users:>3} users: no stats (see {workdir})", flush=True)
                    continue
                r.side = side.name
                results.append(r)
                print(f"  {side.name:>8} {users:>3} users: {r.rps:7.1f} req/s  p50 {r.p50_ms:.0f}  "
                      f"p95 {r.p95_ms:.0f}  p99 {r.p99_ms:.0f} ms  failures {r.failures}", flush=True)
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

    table = _table(results, steps)
    print()
    print(table)
    print("load average (1/5/15 min) before %.2f/%.2f/%.2f, after %.2f/%.2f/%.2f" % (*load_before, *os.getloadavg()))
    setup = {
        "steps": steps, "step_seconds": args.step_seconds, "members": args.members, "units": args.units,
        "products": args.products, "wait_ms": args.wait_ms, "locust_classes": list(CLASSES),
        "warmup_seconds": args.warmup_seconds,
        "loadavg_1_5_15_before": load_before, "loadavg_1_5_15_after": os.getloadavg(),
        "jvm_heap": "-Xmx384m per member", "commit": _git_head(), "postgres": "fsync=on, synchronous_commit=on, shared_buffers=64MB",
    }
    path = bench_results.save("compare", {"setup": setup, "steps": [asdict(r) for r in results], "table": table},
                              args.results)
    print(f"\nresults: {path}")
    shutil.rmtree(workdir, ignore_errors=True)
    return 0 if len(results) == 2 * len(steps) else 1
