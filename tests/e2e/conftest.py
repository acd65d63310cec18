"""e2e fixtures: `spacegrid unit` subprocesses on a real cluster, behind a real HAProxy.

Each test gets its own namespace (maps, topics), a shared token secret for its units,
free loopback ports, lowered argon2 costs, an HAProxy rendered from deploy/haproxy.cfg,
and a `spacegrid pump` shipping the namespace's journals to the session's Kafka broker
(as deployed: without a pump the journals fill to their G7 bound and writes turn 503).
Everything is stopped by PID when the test ends.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import pytest

from loadtests.seed import all_pages, sign_in
from tools.local.haproxy import HAProxy, find_haproxy, start_haproxy, wait_servers_up
from tools.local.processes import free_ports
from tools.local.units import LOAD_ENV, REPO_ROOT, UnitProcess, start_units, stop_units
from tests.support.engines import BrokerHandle, engines_unavailable
from tests.support.workers import WorkerProcess

ADMIN_EMAIL = "admin@e2e.invalid"
ADMIN_PASSWORD = "e2e-admin-password"
LOCUSTFILE = REPO_ROOT / "loadtests" / "locustfile.py"


@dataclass
class Shop:
    """A running shop: units behind HAProxy on one cluster, in one namespace."""

    units: list[UnitProcess]
    lb: HAProxy
    env: dict[str, str]
    pump: WorkerProcess | None = None

    @property
    def url(self) -> str:
        return self.lb.url

    def admin_token(self) -> str:
        return sign_in(self.url, ADMIN_EMAIL, ADMIN_PASSWORD)

    def orders(self, token: str) -> list[dict]:
        return all_pages(self.url, "/orders", token)

    def products(self) -> list[dict]:
        return all_pages(self.url, "/products")


@pytest.fixture
def haproxy_binary() -> str:
    binary = find_haproxy()
    if binary is None:
        engines_unavailable("haproxy not installed (apt-get install haproxy)")
    return binary  # type: ignore[return-value]


def start_pump(cluster_env: dict[str, str], bootstrap: str, namespace: str, log_dir: Path) -> WorkerProcess:
    """A `spacegrid pump` for one namespace (ended by PID)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPACEGRID_")}
    env.update({**cluster_env, "SPACEGRID_KAFKA_BOOTSTRAP": bootstrap, "SPACEGRID_NAMESPACE": namespace,
                "SPACEGRID_PUMP_SESSION_TIMEOUT_S": "6", "PYTHONPATH": str(REPO_ROOT)})
    log_dir.mkdir(parents=True, exist_ok=True)
    return WorkerProcess(env, log_dir).start()


@pytest.fixture
def shop_factory(
    haproxy_binary: str, kafka_broker: BrokerHandle, namespace: str, tmp_path: Path
) -> Iterator[Callable[[dict[str, str], int], Shop]]:
    """Build shops over a cluster's ``settings_env`` (with a pump unless ``pump=False``);
    stops every unit, balancer and pump after the test."""
    made: list[Shop] = []

    def make(cluster_env: dict[str, str], units: int = 2, pump: bool = True) -> Shop:
        env = {
            **cluster_env,
            **LOAD_ENV,
            "SPACEGRID_NAMESPACE": namespace,
            "SPACEGRID_TOKEN_SECRET": secrets.token_urlsafe(32),
            "SPACEGRID_BOOTSTRAP_ADMIN": f"{ADMIN_EMAIL}:{ADMIN_PASSWORD}",
        }
        ports = free_ports(units + 1)
        procs = start_units(env, ports[:units], tmp_path / "logs")
        try:
            lb = start_haproxy(tmp_path / "haproxy", ports[-1], [("127.0.0.1", p) for p in ports[:units]])
        except BaseException:
            stop_units(procs, timeout=10)
            raise
        shop = Shop(procs, lb, env)
        made.append(shop)
        if pump:
            shop.pump = start_pump(cluster_env, kafka_broker.bootstrap, namespace, tmp_path / "logs")
        wait_servers_up(lb, units)
        return shop

    yield make
    for shop in made:
        shop.lb.stop()
        stop_units(shop.units, timeout=20)
        if shop.pump is not None:
            shop.pump.kill()


@dataclass
class LocustRun:
    returncode: int
    acknowledged_orders: list[str]
    statuses: dict[str, int]
    stats: list[dict]
    output: str

    def count(self, predicate: Callable[[str], bool]) -> int:
        return sum(n for code, n in self.statuses.items() if predicate(code))

    @property
    def server_errors(self) -> int:
        return self.count(lambda c: c.startswith("5"))

    @property
    def connection_errors(self) -> int:
        return self.count(lambda c: c in ("error", "0"))


def start_locust(
    url: str, workdir: Path, users: int, run_time_s: int, classes: tuple[str, ...] = ("Browser", "Shopper"),
    extra_env: dict[str, str] | None = None,
) -> tuple[subprocess.Popen, Path, Path]:
    """Locust headless in its own process (loopback only); returns (process, record file, stats file)."""
    workdir.mkdir(parents=True, exist_ok=True)
    record, stats = workdir / "record.json", workdir / "stats.json"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p),
        "LOADTEST_ADMIN": f"{ADMIN_EMAIL}:{ADMIN_PASSWORD}",
        "LOADTEST_RECORD": str(record),
        "LOADTEST_WAIT_MS": "50,200",
        "LOADTEST_MAX_FAILURE_RATIO": "0",
        "LOADTEST_P99_MS": "60000",
        **(extra_env or {}),
    }
    cmd = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--host", url,
        "-u", str(users), "-r", str(users), "-t", f"{run_time_s}s", "--stop-timeout", "5",
        "--only-summary", "--json-file", str(stats.with_suffix("")), "--loglevel", "WARNING", *classes,
    ]
    out = open(workdir / "locust.log", "wb")
    proc = subprocess.Popen(cmd, env=env, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    out.close()
    return proc, record, stats


def finish_locust(proc: subprocess.Popen, record: Path, stats: Path, timeout: float = 90.0) -> LocustRun:
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
        raise
    output = (record.parent / "locust.log").read_text(errors="replace")
    doc = json.loads(record.read_text()) if record.exists() else {"acknowledged_orders": [], "statuses": {}}
    stats_doc = json.loads(stats.read_text()) if stats.exists() else []
    return LocustRun(proc.returncode, doc["acknowledged_orders"], doc["statuses"], stats_doc, output)
