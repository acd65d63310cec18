"""Run processing units (or any unit-shaped command) as local subprocesses, for e2e tests and benchmarks.

Each unit is ``python -m spacegrid.cli unit`` with its settings in the environment,
started as our child in its own session, and stopped by its PID: SIGTERM (the unit
drains: readiness 503, in-flight requests finish, exit) or SIGKILL.
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tools.local.processes import EngineError

REPO_ROOT = Path(__file__).resolve().parents[2]
UNIT_COMMAND = [sys.executable, "-m", "spacegrid.cli", "unit"]

#: argon2 costs low enough for load tests on 2 cores (sign-ups are not what we measure)
FAST_HASH_ENV = {
    "SPACEGRID_ARGON2_TIME_COST": "1",
    "SPACEGRID_ARGON2_MEMORY_KIB": "1024",
    "SPACEGRID_ARGON2_PARALLELISM": "1",
}
#: load tests send every simulated shopper from 127.0.0.1, so the per-client abuse limits
#: (defaults tested in tests/e2e/test_security.py) would refuse them as one rude client
ONE_ADDRESS_LIMITS_ENV = {
    "SPACEGRID_AUTH_CLIENT_BURST": "100000",
    "SPACEGRID_AUTH_CLIENT_PER_MIN": "1000000",
    "SPACEGRID_AUTH_GLOBAL_PER_S": "100000",
    "SPACEGRID_HASH_PER_CLIENT": "1000",
    "SPACEGRID_HASH_QUEUE": "1000",
    "SPACEGRID_LOGIN_MAX_FAILURES": "1000",
}
#: for load generators and benchmarks: cheap hashing, no cap on a user's open orders (they
#: place orders from a few accounts as fast as they can, never paying most of them; the cap
#: is a guard against one account holding the stock, tested on its own), and every client
#: from one address
LOAD_ENV = {**FAST_HASH_ENV, "SPACEGRID_MAX_OPEN_ORDERS": "0", **ONE_ADDRESS_LIMITS_ENV}


def ready_status(port: int, timeout: float = 2.0) -> int | None:
    """HTTP status of the unit's ``/health/ready`` (None: nothing answers)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except (OSError, http.client.HTTPException):  # not listening yet, or not HTTP (a self-connection)
        return None


@dataclass
class UnitProcess:
    port: int
    proc: subprocess.Popen
    log: Path
    env: dict[str, str] = field(repr=False, default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise EngineError(f"unit on {self.port} exited with {self.proc.returncode}:\n{self.tail()}")
            if ready_status(self.port) == 200:
                return
            time.sleep(0.2)
        raise EngineError(f"unit on {self.port} not ready after {timeout:.0f}s:\n{self.tail()}")

    def terminate(self) -> None:
        """SIGTERM: start the drain and return at once."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 45.0, sig: int = signal.SIGTERM) -> int | None:
        """Signal by PID and wait for exit (SIGKILL after ``timeout``); returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


def unit_env(base: dict[str, str], port: int) -> dict[str, str]:
    """The process environment of one unit: ours + ``base`` + its port; the repo importable."""
    env = {**os.environ, **base, "SPACEGRID_HTTP_HOST": "127.0.0.1", "SPACEGRID_HTTP_PORT": str(port)}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def start_unit(
    env: dict[str, str], port: int, logdir: Path, command: list[str] | None = None, name: str | None = None
) -> UnitProcess:
    """Start one unit (``command`` defaults to ``spacegrid unit``); does not wait for readiness."""
    logdir.mkdir(parents=True, exist_ok=True)
    log = logdir / f"{name or 'unit'}-{port}.log"
    full_env = unit_env(env, port)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            command or UNIT_COMMAND, env=full_env, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, cwd=REPO_ROOT, start_new_session=True,
        )
    return UnitProcess(port, proc, log, full_env)


def start_units(
    env: dict[str, str], ports: list[int], logdir: Path, command: list[str] | None = None, timeout: float = 90.0
) -> list[UnitProcess]:
    """Start one unit per port side by side and wait until every one is ready."""
    units = [start_unit(env, p, logdir, command) for p in ports]
    try:
        with ThreadPoolExecutor(len(units)) as pool:
            list(pool.map(lambda u: u.wait_ready(timeout), units))
    except BaseException:
        stop_units(units, timeout=10)
        raise
    return units


def stop_units(units: list[UnitProcess], timeout: float = 45.0) -> None:
    """SIGTERM every unit at once, then wait for each (SIGKILL past ``timeout``)."""
    for u in units:
        u.terminate()
    for u in units:
        u.stop(timeout)
