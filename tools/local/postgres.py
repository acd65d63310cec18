"""A private PostgreSQL cluster on loopback, for tests and benchmarks (Debian's packages).

PostgreSQL refuses to run as root, so when we are root the server runs as the
``postgres`` user, with a data directory it owns. ``fsync`` stays on: benchmarks must
compare against a database that really makes commits durable. The server listens on
127.0.0.1 only, on a port the caller chooses, with password authentication; it is
stopped by PID (the postmaster is our direct child).
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

SERVER_USER = "postgres"
APT_PACKAGES = ("postgresql",)


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL binaries are missing or the server did not start."""


def find_pg_bin() -> Path | None:
    """The newest ``/usr/lib/postgresql/<major>/bin`` with ``postgres`` and ``initdb``, if any."""
    override = os.environ.get("SPACEGRID_PG_BIN")
    candidates = [override] if override else []
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]), reverse=True)
    for c in candidates:
        if c and (Path(c) / "postgres").exists() and (Path(c) / "initdb").exists():
            return Path(c)
    return None


def ensure_postgres_installed() -> Path:
    """Install Debian's ``postgresql`` with apt-get when the binaries are missing (needs root).

    The test command calls this on a fresh machine; returns the bin directory.
    """
    found = find_pg_bin()
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise PostgresUnavailable("PostgreSQL binaries not found and cannot apt-get install them (not root?)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", *APT_PACKAGES], check=True, env=env)
    found = find_pg_bin()
    if not found:
        raise PostgresUnavailable("apt-get install postgresql did not provide /usr/lib/postgresql/*/bin")
    return found


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _traversable(path: Path, uid: int, gids: set[int]) -> bool:
    """Can ``uid`` reach ``path`` (execute bit on every ancestor directory)?"""
    for p in [path, *path.parents]:
        if not p.exists():
            continue
        st = p.stat()
        if st.st_uid == uid:
            ok = st.st_mode & stat.S_IXUSR
        elif st.st_gid in gids:
            ok = st.st_mode & stat.S_IXGRP
        else:
            ok = st.st_mode & stat.S_IXOTH
        if not ok:
            return False
    return True


@dataclass
class PostgresServer:
    """One running private cluster."""

    bin_dir: Path
    data_dir: Path
    port: int
    password: str
    pid: int
    log: Path
    user: str = SERVER_USER
    host: str = "127.0.0.1"

    def dsn(self, dbname: str = "postgres") -> str:
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{dbname}"

    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        try:
            os.waitpid(self.pid, os.WNOHANG)  # reap if it was our child and exited
        except ChildProcessError:
            pass
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                return not f.read().split(") ", 1)[1].startswith("Z")
        except OSError:
            return False

    def stop(self, timeout: float = 30.0, sig: int = signal.SIGINT) -> None:
        """Fast shutdown (SIGINT) by PID; SIGKILL after ``timeout``. ``sig=SIGKILL`` simulates a crash."""
        if not self.alive():
            return
        os.kill(self.pid, sig)
        deadline = time.monotonic() + timeout
        while self.alive():
            if time.monotonic() > deadline:
                os.kill(self.pid, signal.SIGKILL)
                deadline = time.monotonic() + 10
            time.sleep(0.1)

    def restart(self, timeout: float = 30.0) -> "PostgresServer":
        """Start again on the same data directory and port (after :meth:`stop`)."""
        fresh = start_postgres(self.data_dir.parent, port=self.port, bin_dir=self.bin_dir, timeout=timeout)
        self.pid, self.password = fresh.pid, fresh.password
        return self


def start_postgres(
    root: Path,
    port: int | None = None,
    bin_dir: Path | None = None,
    timeout: float = 30.0,
) -> PostgresServer:
    """Start (initialising on first use) a cluster in ``root/data``; return when it accepts logins.

    ``root`` should live under ``SPACEGRID_CACHE_DIR``; when the ``postgres`` user cannot
    reach it (a cache under ``/root``), a private folder under the system temp dir is
    used instead, because PostgreSQL must read its own data directory.
    """
    bin_dir = bin_dir or find_pg_bin()
    if bin_dir is None:
        raise PostgresUnavailable("PostgreSQL binaries not found (apt-get install postgresql)")
    port = port or free_port()
    as_root = os.geteuid() == 0
    if as_root:
        pw = pwd.getpwnam(SERVER_USER)
        uid, gid = pw.pw_uid, pw.pw_gid
        gids = {gid, *os.getgrouplist(SERVER_USER, gid)}
    else:
        uid, gid, gids = os.getuid(), os.getgid(), set(os.getgroups())
    root = Path(root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    if as_root and not _traversable(root, uid, gids):
        root = Path(tempfile.gettempdir()) / f"spacegrid-pg-{zlib.crc32(str(root).encode()):08x}"
        root.mkdir(parents=True, exist_ok=True)
    data = root / "data"
    pwfile = root / "password"
    log = root / "postgres.log"
    if as_root:
        os.chown(root, uid, gid)
    run_as: dict[str, object] = {"user": uid, "group": gid, "extra_groups": []} if as_root else {}

    if not (data / "PG_VERSION").exists():
        if data.exists():
            shutil.rmtree(data)
        data.mkdir(mode=0o700)
        pwfile.write_text(secrets.token_urlsafe(18))
        pwfile.chmod(0o600)
        if as_root:
            os.chown(data, uid, gid)
            os.chown(pwfile, uid, gid)
        subprocess.run(
            [
                str(bin_dir / "initdb"), "-D", str(data), "-U", SERVER_USER, "--encoding=UTF8",
                "--auth-local=scram-sha-256", "--auth-host=scram-sha-256", f"--pwfile={pwfile}",
                "--no-instructions",
            ],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=root, **run_as,  # type: ignore[arg-type]
        )
    password = pwfile.read_text().strip()
    with open(log, "ab") as out:
        if as_root:
            os.chown(log, uid, gid)
        proc = subprocess.Popen(
            [
                str(bin_dir / "postgres"), "-D", str(data), "-p", str(port),
                "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
                "-c", "fsync=on", "-c", "synchronous_commit=on", "-c", "max_connections=100",
                "-c", "shared_buffers=64MB",
            ],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=root,
            start_new_session=True, **run_as,  # type: ignore[arg-type]
        )
    server = PostgresServer(bin_dir, data, port, password, proc.pid, log)
    _wait_ready(server, proc, timeout)
    return server


def _wait_ready(server: PostgresServer, proc: subprocess.Popen, timeout: float) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = server.log.read_text(errors="replace")[-2000:] if server.log.exists() else ""
            raise PostgresUnavailable(f"postgres exited with {proc.returncode}:\n{tail}")
        try:
            with psycopg.connect(server.dsn(), connect_timeout=2):
                return
        except psycopg.OperationalError as e:
            last = e
            time.sleep(0.2)
    server.stop()
    raise PostgresUnavailable(f"postgres on port {server.port} not ready after {timeout:.0f}s: {last}")
