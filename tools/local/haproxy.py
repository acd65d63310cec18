"""HAProxy in front of local units: a config in deploy/haproxy.cfg's shape, on loopback.

The deployed config (compose) is the template: its global/defaults/frontend/backend
sections are kept as they are (readiness-driven health checks, retries, redispatch);
only the frontend's ``bind`` and the backend's ``server`` lines are replaced by loopback
addresses. The result is validated with ``haproxy -c`` before it is started, in the
foreground (``-db``), as our child; it is stopped by that PID only.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tools.local.processes import EngineError, wait_port

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = REPO_ROOT / "deploy" / "haproxy.cfg"


class HAProxyUnavailable(EngineError):
    """The haproxy binary is missing (apt-get install haproxy)."""


def find_haproxy() -> str | None:
    return shutil.which("haproxy") or next((p for p in ("/usr/sbin/haproxy",) if Path(p).exists()), None)


def render_config(port: int, servers: list[tuple[str, int]], template: Path = TEMPLATE) -> str:
    """The template with ``bind 127.0.0.1:<port>`` and one loopback ``server`` per unit."""
    out: list[str] = []
    in_units = False
    for line in template.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith(("frontend", "backend", "defaults", "global", "listen")):
            in_units = stripped.startswith("backend")
        if stripped.startswith("bind "):
            out.append(f"    bind 127.0.0.1:{port}")
            continue
        if in_units and stripped.startswith("server "):
            continue
        out.append(line)
        if in_units and stripped.startswith("default-server"):
            out.extend(f"    server unit{i + 1} {host}:{p} check" for i, (host, p) in enumerate(servers))
    text = "\n".join(out) + "\n"
    if "server unit1 " not in text:
        raise EngineError(f"{template} has no 'default-server' line in its backend to place servers after")
    return text


@dataclass
class HAProxy:
    config: Path
    port: int
    proc: subprocess.Popen

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self, timeout: float = 10.0) -> None:
        """Stop our HAProxy by PID (SIGUSR1 = soft stop, SIGKILL after ``timeout``)."""
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def check_config(config: Path) -> None:
    """``haproxy -c``: refuse to start a config HAProxy itself rejects."""
    binary = find_haproxy()
    if binary is None:
        raise HAProxyUnavailable("haproxy not found (apt-get install haproxy)")
    result = subprocess.run([binary, "-c", "-f", str(config)], capture_output=True, text=True)
    if result.returncode != 0:
        raise EngineError(f"haproxy -c rejected {config}:\n{result.stdout}{result.stderr}")


def start_haproxy(workdir: Path, port: int, servers: list[tuple[str, int]], timeout: float = 15.0) -> HAProxy:
    """Write, validate and start a loopback HAProxy over ``servers``; return when it listens."""
    binary = find_haproxy()
    if binary is None:
        raise HAProxyUnavailable("haproxy not found (apt-get install haproxy)")
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "haproxy.cfg"
    config.write_text(render_config(port, servers))
    check_config(config)
    log = open(workdir / "haproxy.log", "ab")
    proc = subprocess.Popen(
        [binary, "-db", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    log.close()
    lb = HAProxy(config, port, proc)
    try:
        wait_port(port, timeout, proc)
    except EngineError:
        lb.stop()
        raise
    return lb


def wait_servers_up(lb: HAProxy, count: int, timeout: float = 20.0) -> None:
    """Block until HAProxy routes requests: ``count`` health checks have had time to pass.

    HAProxy exposes no state without a stats socket; the template's ``rise 2`` at
    ``inter 1s`` means a healthy server is in the pool about 2 s after start. We wait
    until a request through the balancer succeeds, then the rise interval once more.
    """
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{lb.url}/health/ready", timeout=2) as r:
                if r.status == 200:
                    time.sleep(2.5 if count > 1 else 0)
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise EngineError(f"HAProxy on {lb.port} routed no request to a ready unit in {timeout:.0f}s")
