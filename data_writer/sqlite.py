"""SQLite sink (embedded mode): stdlib sqlite3 in one worker thread, WAL, fsync on commit.

``BEGIN IMMEDIATE`` takes the write lock at the start of every transaction, which
serialises writers (several processes on one file, concurrent migrators) and makes the
read-then-upsert of :class:`~data_writer.sql_core.SqlEngine` exact.
"""

from __future__ import annotations

import os
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from data_writer import schema
from data_writer.batching import DeferralPolicy
from data_writer.sql_core import (
    Cursor,
    Dialect,
    Migration,
    SqlEngine,
    ThreadedSink,
    on_conflict_defer_sql,
    on_conflict_upsert_sql,
)

_V1 = (
    """CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT, name TEXT, is_admin INTEGER, password_hash TEXT,
    state TEXT NOT NULL,
    version INTEGER NOT NULL CHECK (version > 0),
    deleted INTEGER NOT NULL DEFAULT 0,
    changed_at TEXT NOT NULL, persisted_at TEXT NOT NULL,
    CHECK (deleted = 1 OR email IS NOT NULL)
)""",
    "CREATE INDEX users_email ON users (email)",
    """CREATE TABLE products (
    id TEXT PRIMARY KEY,
    sku TEXT, name TEXT, category TEXT,
    price_cents INTEGER CHECK (price_cents >= 0),
    stock INTEGER CHECK (stock >= 0),
    state TEXT NOT NULL,
    version INTEGER NOT NULL CHECK (version > 0),
    deleted INTEGER NOT NULL DEFAULT 0,
    changed_at TEXT NOT NULL, persisted_at TEXT NOT NULL,
    CHECK (deleted = 1 OR (name IS NOT NULL AND price_cents IS NOT NULL))
)""",
    "CREATE INDEX products_category ON products (category, id)",
    "CREATE INDEX products_sku ON products (sku)",
    """CREATE TABLE orders (
    id TEXT PRIMARY KEY,
    user_id TEXT REFERENCES users (id),
    status TEXT CHECK (status IN ('placed', 'paid', 'shipped', 'cancelled')),
    total_cents INTEGER CHECK (total_cents >= 0),
    state TEXT NOT NULL,
    version INTEGER NOT NULL CHECK (version > 0),
    deleted INTEGER NOT NULL DEFAULT 0,
    changed_at TEXT NOT NULL, persisted_at TEXT NOT NULL,
    CHECK (deleted = 1 OR (user_id IS NOT NULL AND status IS NOT NULL))
)""",
    "CREATE INDEX orders_user ON orders (user_id, id)",
    """CREATE TABLE order_lines (
    order_id TEXT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    line_no INTEGER NOT NULL,
    product_id TEXT NOT NULL REFERENCES products (id),
    quantity INTEGER NOT NULL CHECK (quantity > 0),
    price_cents INTEGER NOT NULL CHECK (price_cents >= 0),
    PRIMARY KEY (order_id, line_no)
)""",
    "CREATE INDEX order_lines_product ON order_lines (product_id)",
    """CREATE TABLE deferred_orders (
    id TEXT PRIMARY KEY, version INTEGER NOT NULL, event TEXT NOT NULL,
    changed_at TEXT NOT NULL, deferred_at TEXT NOT NULL
)""",
    "CREATE INDEX deferred_orders_age ON deferred_orders (deferred_at)",
    """CREATE TABLE dead_letters (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT, entity_id TEXT, version INTEGER,
    error TEXT NOT NULL, payload TEXT NOT NULL, recorded_at TEXT NOT NULL
)""",
)


def path_from_url(url: str) -> Path:
    """``sqlite:///relative.db`` or ``sqlite:////abs/path.db`` -> a path."""
    if not url.startswith("sqlite:///"):
        raise ValueError(f"not a sqlite URL: {url!r}")
    return Path(url[len("sqlite:///") :])


#: the database file and its companions: SQLite creates these with the database file's mode
COMPANIONS = ("", "-wal", "-shm", "-journal")


def private_files(path: Path) -> None:
    """Create the database file 0600 before SQLite opens it (never readable by others, not
    even for a moment), and take back group/other access from files an older version left.

    SQLite creates ``-wal`` and ``-shm`` with the mode of the database file, so they follow.
    The file holds password hashes and every order: only the owner of the process reads it.
    """
    if str(path) == ":memory:":
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    for suffix in COMPANIONS:
        companion = path.with_name(path.name + suffix)
        try:
            if companion.stat().st_mode & 0o077:
                companion.chmod(0o600)
        except FileNotFoundError:
            pass


class SqliteDialect(Dialect):
    name = "sqlite"
    driver = sqlite3
    ph = "?"

    def __init__(self, path: str | Path, busy_timeout_s: float = 5.0) -> None:
        self.path = Path(path)
        self.busy_timeout_s = busy_timeout_s

    def connect(self) -> Any:
        if self.path.parent and not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        private_files(self.path)
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")  # a commit is on disk before offsets move
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    def begin(self, conn: Any, cur: Cursor) -> None:
        cur.execute("BEGIN IMMEDIATE")

    def migrations(self) -> list[Migration]:
        return [Migration(1, "entity tables, order lines, deferred orders, dead letters", _V1)]

    def lock_for_migration(self, cur: Cursor) -> None:
        # BEGIN IMMEDIATE already holds the database's write lock
        cur.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            "version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )

    def upsert(self, cur: Cursor, kind: str, rows: list[tuple[Any, ...]], current: dict[str, int]) -> set[str]:
        # the write lock is held since BEGIN IMMEDIATE, so ``current`` is exact
        cur.executemany(on_conflict_upsert_sql(kind, self.ph), rows)
        vpos = schema.columns(kind).index("version")
        return {r[0] for r in rows if r[vpos] > current.get(r[0], 0)}

    def defer(self, cur: Cursor, rows: list[tuple[Any, ...]]) -> None:
        cur.executemany(on_conflict_defer_sql(self.ph), rows)

    def ts(self, d: datetime) -> Any:
        return d.astimezone(timezone.utc).isoformat(timespec="milliseconds")


def sqlite_sink(path: str | Path, policy: DeferralPolicy | None = None, retry_budget_s: float = 30.0) -> ThreadedSink:
    """The embedded-mode sink on the SQLite file at ``path`` (created on first use)."""
    return ThreadedSink(SqlEngine(SqliteDialect(path), policy), retry_budget_s=retry_budget_s)
