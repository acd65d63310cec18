"""Start, find and stop engine processes, recording them in a state file per profile.

A *profile* is one set of local engines (``default`` for people, ``test-…`` for a test
session), with its own ports, cluster name and folder under ``<cache>/local/<profile>``.
Every Java process we start carries ``-Dspacegrid.profile=<profile>`` so a PID found in
the state file is only trusted (and only ever signalled) if its command line still
carries that marker: a recycled PID of someone else's process is never touched.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path


class EngineError(RuntimeError):
    """An engine could not be started or did not become ready."""


class PortInUse(EngineError):
    """A port the profile needs is taken by another process."""


@dataclass
class EngineProcess:
    kind: str  # "hazelcast" | "kafka"
    name: str  # "member-1", "broker"
    pid: int
    host: str
    port: int
    log: str

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def require_free(port: int, what: str) -> None:
    if not port_is_free(port):
        raise PortInUse(f"port 127.0.0.1:{port} needed by {what} is already in use by another process")


def ephemeral_ports() -> range:
    """The kernel's range for the source ports of outgoing connections.

    A server port inside it can be taken by any client's connection before the server
    binds it, and a client that polls it before the server listens can connect to itself
    (TCP simultaneous open: it reads its own request back as the answer; seen in CI as a
    readiness probe failing with ``BadStatusLine: GET /health/ready HTTP/1.1``).
    """
    try:
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        low, high = 32768, 60999  # Linux's default
    return range(low, high + 1)


def free_ports(count: int, start: int = 20000, end: int = 40000) -> list[int]:
    """``count`` currently free ports, contiguous when possible (test sessions), outside
    :func:`ephemeral_ports` unless that range leaves none between ``start`` and ``end``."""
    import random

    ephemeral = ephemeral_ports()
    bases = [b for b in range(start, end - count) if b + count <= ephemeral.start or b >= ephemeral.stop]
    for _ in range(200):
        base = random.choice(bases) if bases else random.randrange(start, end - count)
        ports = list(range(base, base + count))
        if all(port_is_free(p) for p in ports):
            return ports
    raise EngineError(f"could not find {count} free ports")


def wait_port(port: int, timeout: float, proc: subprocess.Popen | None = None, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise EngineError(f"process {proc.pid} exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise EngineError(f"nothing listens on {host}:{port} after {timeout:.0f}s")


#: C1 only: every hot method compiled at once and cheaply. C2's faster code pays its compile
#: time back only after minutes of load: in a test session's first minute the compiler
#: threads of 3 members and a broker took ~1 of this machine's 2 cores (docs/decisions/0037)
QUICK_JIT = "-XX:TieredStopAtLevel=1"


class Profile:
    """The folder and state file of one set of local engines, and how their JVMs run."""

    def __init__(self, cache_dir: Path, name: str = "default", *, quick_jit: bool = False) -> None:
        self.cache_dir = cache_dir
        self.name = name
        self.quick_jit = quick_jit
        self.root = cache_dir / "local" / name
        self.state_file = self.root / "engines.json"

    @property
    def marker(self) -> str:
        return f"-Dspacegrid.profile={self.name}"

    def jvm_options(self, heap: str) -> list[str]:
        """Every engine JVM's options: its heap cap, the serial collector (one core's worth
        of work per JVM on a small machine) and, for short-lived engines, :data:`QUICK_JIT`;
        the profile's marker last (how its processes are found again)."""
        return [heap, "-XX:+UseSerialGC", *([QUICK_JIT] if self.quick_jit else []), self.marker]

    # ---- state -------------------------------------------------------------------
    def load(self) -> list[EngineProcess]:
        if not self.state_file.exists():
            return []
        return [EngineProcess(**e) for e in json.loads(self.state_file.read_text())]

    def save(self, engines: list[EngineProcess]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps([asdict(e) for e in engines], indent=2))
        tmp.replace(self.state_file)

    def add(self, engine: EngineProcess) -> None:
        self.save([e for e in self.load() if e.name != engine.name] + [engine])

    def forget(self, name: str) -> None:
        self.save([e for e in self.load() if e.name != name])

    def running(self) -> list[EngineProcess]:
        """Recorded engines whose process is alive and still ours; prunes the rest."""
        engines = self.load()
        alive = [e for e in engines if self.is_ours(e.pid)]
        if len(alive) != len(engines):
            self.save(alive)
        return alive

    def is_ours(self, pid: int) -> bool:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split(") ", 1)[1].startswith("Z"):
                    return False  # a zombie: exited, only waiting to be reaped
        except OSError:
            return False
        return self.marker.encode() in cmdline

    # ---- processes -----------------------------------------------------------------
    def spawn(self, cmd: list[str], log: Path, cwd: Path | None = None) -> subprocess.Popen:
        """Start a process detached from our terminal's signals, output into ``log``."""
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as out:
            return subprocess.Popen(
                cmd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=cwd or self.root,
                start_new_session=True,
            )

    def send(self, engine: EngineProcess, sig: int) -> None:
        if self.is_ours(engine.pid):
            os.kill(engine.pid, sig)

    def stop(self, engine: EngineProcess, timeout: float = 60.0, sig: int = signal.SIGTERM) -> None:
        """Signal one engine and wait until it is gone (SIGKILL after ``timeout``)."""
        self.send(engine, sig)
        deadline = time.monotonic() + timeout
        while self.is_ours(engine.pid):
            _reap(engine.pid)
            if time.monotonic() > deadline:
                self.send(engine, signal.SIGKILL)
                deadline = time.monotonic() + 10
            time.sleep(0.1)
        _reap(engine.pid)
        self.forget(engine.name)


def _reap(pid: int) -> None:
    """Collect an exited child of ours, so it does not linger as a zombie."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
