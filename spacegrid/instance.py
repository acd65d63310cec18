"""What makes one ``spacegrid up`` *the* one for its files: a kept token secret and a lock.

- The token signing secret of the embedded mode (when ``SPACEGRID_TOKEN_SECRET`` is unset)
  is generated once into ``SPACEGRID_CACHE_DIR/token-secret`` (mode 0600) and reused, so a
  restart keeps every session (decision 0021).
- ``up`` holds an exclusive ``flock`` on ``SPACEGRID_CACHE_DIR/up.lock`` and on
  ``<database>.up.lock`` beside a SQLite file for its whole life; the files say who holds
  them (PID, port). A second ``up`` on either exits with one line before it touches
  anything of the first (its operator token, its database, its port). The kernel drops
  the lock when the holder dies, even by SIGKILL: no stale lock to clean up.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
from pathlib import Path

TOKEN_SECRET_FILE = "token-secret"
UP_LOCK_FILE = "up.lock"


class AlreadyRunning(Exception):
    """Another ``spacegrid up`` holds the lock; ``str()`` is the one line to print."""


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` created 0600 (never readable by others, not even briefly)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode())
    finally:
        os.close(fd)
    os.replace(tmp, path)


def kept_token_secret(cache_dir: Path) -> str:
    """The embedded mode's signing secret: read from the cache dir, or generated there once."""
    path = cache_dir / TOKEN_SECRET_FILE
    try:
        secret = path.read_text().strip()
    except FileNotFoundError:
        secret = ""
    if not secret:
        secret = secrets.token_urlsafe(32)
        write_private(path, secret)
    return secret


class UpLock:
    """Exclusive locks on the cache dir and the database of one ``spacegrid up``."""

    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths
        self._fds: list[int] = []

    @classmethod
    def for_instance(cls, cache_dir: Path, database_url: str) -> "UpLock":
        paths = [cache_dir / UP_LOCK_FILE]
        if database_url.startswith("sqlite:///"):
            db = Path(database_url.removeprefix("sqlite:///")).expanduser().resolve()
            paths.append(db.with_name(db.name + ".up.lock"))
        return cls(paths)

    def acquire(self) -> None:
        """Take every lock or none; :class:`AlreadyRunning` names the holder."""
        for path in self.paths:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                holder = _holder(path)
                self.release()
                if path.name == UP_LOCK_FILE:
                    what = f"cache dir {path.parent}"
                else:
                    what = f"database {path.with_name(path.name.removesuffix('.up.lock'))}"
                raise AlreadyRunning(
                    f"another `spacegrid up` (PID {holder.get('pid', '?')}, port {holder.get('port', '?')}) "
                    f"already uses the {what}: stop it first, or set another "
                    "SPACEGRID_CACHE_DIR and SPACEGRID_DATABASE_URL"
                ) from None
            self._fds.append(fd)
        self.note(port=None)

    def note(self, port: int | None) -> None:
        """Record who holds the locks (read by a second ``up`` for its error line)."""
        body = json.dumps({"pid": os.getpid(), "port": port}).encode()
        for fd in self._fds:
            os.ftruncate(fd, 0)
            os.pwrite(fd, body, 0)

    def release(self) -> None:
        for fd in self._fds:
            os.close(fd)  # closing the descriptor drops the flock
        self._fds.clear()


def _holder(path: Path) -> dict:
    try:
        return json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}
