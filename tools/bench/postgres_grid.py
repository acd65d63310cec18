"""The grid port directly on PostgreSQL: a conventional service that writes the database on every request.

This adapter exists for ``spacegrid bench compare`` (docs/benchmarks.md §1): the same units, the
same business logic and the same HTTP API, but every read and write is a round trip to
PostgreSQL (fsync on, synchronous commit) instead of to the space. It is not a mode of
the product; nothing in ``spacegrid up`` or ``spacegrid unit`` selects it.

Storage: one table, ``grid_entries(map_name, key, value jsonb, expires_at)``; a map is a
key range of it (map names already carry the namespace). Lists order by
``(length(key), key)`` like every adapter (decimal-string ids), with an index on it, and
filter with ``value @> {...}`` (GIN index). Ids come from a sequence.

Single-key writes: ``update`` and ``execute`` (an entry processor's in-process twin) are
one ``SELECT ... FOR UPDATE`` + write transaction each. Work over several keys that the
space does as a saga (order placement) the database side does the conventional way, in
one SQL transaction (:mod:`tools.bench.pg_orders`, through :meth:`PostgresGrid.in_transaction`).
Deadlocks and lock timeouts become :class:`WriteConflict`.

Change records: none, and no change log (:attr:`change_log` is None). Here the database
*is* the system of record: once the transaction commits the change is durable, so there
is nothing to ship and no pump or writer behind this adapter. Writing a change table as
well would charge this side for a write-behind it does not need; the space side's journals
are exactly the price it pays for not waiting on the database, and the benchmark is
meant to show that trade.

Threads: blocking psycopg calls never run on the event loop; each worker thread of a
small pool holds one connection (opened on first use, reopened after a failure), so at
most ``connections`` queries run at once and the rest wait their turn.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable, Mapping, Sequence, TypeVar

import orjson

from grid_config.errors import GridError, GridUnavailable, WriteConflict
from grid_config.names import Names
from grid_config.events import unstamped
from grid_config.ports import A, Change, Grid, Page, Value

T = TypeVar("T")

if TYPE_CHECKING:
    from grid_config.entry_processors import MemberStep

LIVE = "(expires_at IS NULL OR expires_at > now())"

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS grid_entries (
           map_name text NOT NULL,
           key text NOT NULL,
           value jsonb NOT NULL,
           expires_at timestamptz,
           PRIMARY KEY (map_name, key))""",
    "CREATE INDEX IF NOT EXISTS grid_entries_order ON grid_entries (map_name, length(key), key)",
    "CREATE INDEX IF NOT EXISTS grid_entries_fields ON grid_entries USING gin (value jsonb_path_ops)",
    "CREATE SEQUENCE IF NOT EXISTS grid_ids",
]
#: advisory lock key that serialises schema creation by several units starting at once
SCHEMA_LOCK = 0x5ACE6121D


def _dump(value: Value) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _translate(e: Exception) -> GridError:
    """psycopg errors -> grid errors, in this one place."""
    import psycopg
    from psycopg import errors as pg

    if isinstance(e, (pg.DeadlockDetected, pg.LockNotAvailable, pg.SerializationFailure, pg.QueryCanceled)):
        return WriteConflict(f"PostgreSQL: {type(e).__name__}: {e}")
    if isinstance(e, (psycopg.OperationalError, psycopg.InterfaceError)):
        return GridUnavailable(f"PostgreSQL unavailable: {e}")
    return GridError(f"PostgreSQL: {type(e).__name__}: {e}")


class PostgresGrid(Grid):
    """Every grid call is a PostgreSQL statement or transaction (fsync on)."""

    def __init__(self, dsn: str, names: Names, connections: int = 8, lock_timeout_ms: int = 5000) -> None:
        self.dsn = dsn
        self.names = names
        self.change_log = None  # type: ignore[assignment]  # the database is the record
        self._connections = connections
        self._lock_timeout_ms = lock_timeout_ms
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._open: list[Any] = []
        self._open_lock = threading.Lock()

    # ---- threads and connections --------------------------------------------------
    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            import psycopg

            conn = psycopg.connect(self.dsn, autocommit=True, connect_timeout=5)
            conn.execute(f"SET lock_timeout = {int(self._lock_timeout_ms)}")
            self._local.conn = conn
            with self._open_lock:
                self._open.append(conn)
        return conn

    def _drop_conn(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - already broken
                pass

    async def _run(self, fn: Callable[[Any], T]) -> T:
        """Run ``fn(connection)`` on a worker thread; translate driver errors."""
        if self._pool is None:
            raise GridUnavailable("PostgresGrid is not started")
        import psycopg

        def call() -> T:
            conn = self._conn()
            try:
                return fn(conn)
            except (psycopg.OperationalError, psycopg.InterfaceError):
                if conn.closed or conn.broken:
                    self._drop_conn()
                raise

        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, call)
        except psycopg.Error as e:
            raise _translate(e) from e

    # ---- lifecycle ------------------------------------------------------------------
    async def start(self) -> None:
        self._pool = concurrent.futures.ThreadPoolExecutor(self._connections, thread_name_prefix="pg-grid")

        def create(conn: Any) -> None:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
                for statement in SCHEMA:
                    conn.execute(statement)

        await self._run(create)

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        with self._open_lock:
            conns, self._open = self._open, []
        for conn in conns:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - closing anyway
                pass

    # ---- reads -------------------------------------------------------------------------
    async def get(self, map_name: str, key: str) -> Value | None:
        def q(conn: Any) -> Value | None:
            row = conn.execute(
                f"SELECT value::text FROM grid_entries WHERE map_name = %s AND key = %s AND {LIVE}", (map_name, key)
            ).fetchone()
            return None if row is None else orjson.loads(row[0])

        return await self._run(q)

    async def get_many(self, map_name: str, keys: Sequence[str]) -> dict[str, Value]:
        if not keys:
            return {}

        def q(conn: Any) -> dict[str, Value]:
            rows = conn.execute(
                f"SELECT key, value::text FROM grid_entries WHERE map_name = %s AND key = ANY(%s) AND {LIVE}",
                (map_name, list(keys)),
            ).fetchall()
            return {k: orjson.loads(v) for k, v in rows}

        return await self._run(q)

    async def _page(
        self, map_name: str, equals: Mapping[str, Any] | None, after: str | None, limit: int,
        below: Mapping[str, int] | None = None,
    ) -> tuple[list[tuple[str, str]], bool]:
        """Up to ``limit`` (key, value-json) rows after ``after`` in id order, and whether more exist."""
        if limit < 1:
            raise ValueError("limit must be >= 1")
        where = ["map_name = %s", LIVE]
        params: list[Any] = [map_name]
        if equals:
            where.append("value @> %s::jsonb")
            params.append(_dump(dict(equals)))
        for field, bound in (below or {}).items():
            where.append("jsonb_typeof(value -> %s) = 'number' AND (value ->> %s)::numeric < %s")
            params += [field, field, bound]
        if after is not None:
            where.append("(length(key), key) > (%s, %s)")
            params += [len(after), after]
        sql = (
            f"SELECT key, value::text FROM grid_entries WHERE {' AND '.join(where)} "
            "ORDER BY length(key), key LIMIT %s"
        )
        params.append(limit + 1)

        def q(conn: Any) -> tuple[list[tuple[str, str]], bool]:
            rows = conn.execute(sql, params).fetchall()
            return rows[:limit], len(rows) > limit

        return await self._run(q)

    async def query(
        self,
        map_name: str,
        equals: Mapping[str, Any] | None = None,
        after: str | None = None,
        limit: int = 50,
        *,
        below: Mapping[str, int] | None = None,
    ) -> Page:
        rows, more = await self._page(map_name, equals, after, limit, below)
        return Page([orjson.loads(v) for _, v in rows], rows[-1][0] if more else None)

    async def entries(self, map_name: str, batch: int = 1000) -> AsyncIterator[tuple[str, Value]]:
        after: str | None = None
        while True:
            rows, more = await self._page(map_name, None, after, batch)
            for key, value in rows:
                yield key, orjson.loads(value)
            if not more:
                return
            after = rows[-1][0]

    async def size(self, map_name: str) -> int:
        return await self._run(
            lambda conn: conn.execute(
                f"SELECT count(*) FROM grid_entries WHERE map_name = %s AND {LIVE}", (map_name,)
            ).fetchone()[0]
        )

    # ---- single-key writes -------------------------------------------------------------
    async def put(
        self, map_name: str, key: str, value: Value, ttl_s: float | None = None, *, request_id: str = ""
    ) -> None:
        await self._run(
            lambda conn: conn.execute(
                "INSERT INTO grid_entries (map_name, key, value, expires_at) "
                "VALUES (%s, %s, %s::jsonb, now() + make_interval(secs => %s)) "
                "ON CONFLICT (map_name, key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at",
                (map_name, key, _dump(value), ttl_s),
            )
        )

    async def put_if_absent(
        self, map_name: str, key: str, value: Value, ttl_s: float | None = None, *, request_id: str = ""
    ) -> Value | None:
        def q(conn: Any) -> Value | None:
            inserted = conn.execute(
                "INSERT INTO grid_entries AS e (map_name, key, value, expires_at) "
                "VALUES (%s, %s, %s::jsonb, now() + make_interval(secs => %s)) "
                "ON CONFLICT (map_name, key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at "
                "WHERE e.expires_at IS NOT NULL AND e.expires_at <= now() RETURNING 1",
                (map_name, key, _dump(value), ttl_s),
            ).fetchone()
            if inserted is not None:
                return None
            row = conn.execute(
                "SELECT value::text FROM grid_entries WHERE map_name = %s AND key = %s", (map_name, key)
            ).fetchone()
            return None if row is None else orjson.loads(row[0])

        return await self._run(q)

    async def replace_if_same(self, map_name: str, key: str, expected: Value, new: Value) -> bool:
        def q(conn: Any) -> bool:
            cur = conn.execute(
                f"UPDATE grid_entries SET value = %s::jsonb WHERE map_name = %s AND key = %s "
                f"AND value = %s::jsonb AND {LIVE}",
                (_dump(new), map_name, key, _dump(expected)),
            )
            return cur.rowcount == 1

        return await self._run(q)

    @staticmethod
    def _locked(cur: Any, map_name: str, key: str) -> Value | None:
        """The live value, locked until the transaction ends (a missing key: its name is locked)."""
        def select() -> Value | None:
            cur.execute(f"SELECT value::text FROM grid_entries WHERE map_name = %s AND key = %s AND {LIVE} "
                        "FOR UPDATE", (map_name, key))
            row = cur.fetchone()
            return None if row is None else orjson.loads(row[0])

        found = select()
        if found is None:
            cur.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"{map_name}\x1f{key}",))
            found = select()
        return found

    @staticmethod
    def _write(cur: Any, map_name: str, key: str, value: Value) -> None:
        cur.execute(
            "INSERT INTO grid_entries (map_name, key, value, expires_at) VALUES (%s, %s, %s::jsonb, NULL) "
            "ON CONFLICT (map_name, key) DO UPDATE SET value = EXCLUDED.value",
            (map_name, key, _dump(value)),
        )

    async def update(self, map_name: str, key: str, change: Change, *, request_id: str = "") -> Value | None:
        def work(cur: Any) -> Value | None:
            current = self._locked(cur, map_name, key)
            new = change(current)
            if new is None:
                return current
            self._write(cur, map_name, key, new)
            return new

        return await self.in_transaction(work)

    async def execute(self, map_name: str, key: str, step: "MemberStep[A]") -> A:
        def work(cur: Any) -> A:
            new, answer = step.apply(self._locked(cur, map_name, key))
            if new is not None:
                self._write(cur, map_name, key, unstamped(new))
            return answer

        return await self.in_transaction(work)

    async def delete(self, map_name: str, key: str) -> None:
        await self._run(
            lambda conn: conn.execute("DELETE FROM grid_entries WHERE map_name = %s AND key = %s", (map_name, key))
        )

    async def put_all(self, map_name: str, entries: Mapping[str, Value]) -> None:
        rows = [(map_name, k, _dump(v)) for k, v in entries.items()]

        def q(conn: Any) -> None:
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO grid_entries (map_name, key, value) VALUES (%s, %s, %s::jsonb) "
                    "ON CONFLICT (map_name, key) DO UPDATE SET value = EXCLUDED.value, expires_at = NULL",
                    rows,
                )

        await self._run(q)

    # ---- ids and the database side's transactions ----------------------------------------------------------
    async def new_id(self) -> str:
        return str(await self._run(lambda conn: conn.execute("SELECT nextval('grid_ids')").fetchone()[0]))

    async def in_transaction(self, work: Callable[[Any], T]) -> T:
        """``work(cursor)`` inside BEGIN ... COMMIT on a worker thread; any exception rolls back
        (domain errors pass through). Not part of the grid port: the database side's own
        multi-key writes (:mod:`tools.bench.pg_orders`)."""

        def q(conn: Any) -> T:
            with conn.transaction(), conn.cursor() as cur:
                return work(cur)

        return await self._run(q)
