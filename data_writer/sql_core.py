"""The one upsert algorithm every SQL dialect shares, and its off-loop async wrapper.

:class:`SqlEngine` is synchronous and owns one DB-API connection; it runs in a single
dedicated worker thread (sqlite3 connections are thread-bound, and a blocking driver must
never run on the event loop). :class:`ThreadedSink` is the async :class:`Sink` over it,
adding tenacity retries of transient failures. A :class:`Dialect` contributes only what
differs: connecting, placeholders, the version-guarded upsert, the migration lock and
the DDL.
"""

from __future__ import annotations

import abc
import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from types import ModuleType
from typing import Any, AsyncIterator, Callable, Iterable, Sequence, TypeVar

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential, wait_random

from data_writer import schema
from data_writer.batching import DeferralPolicy, Poison, fresh_and_stale, parents_of, split_ready
from data_writer.errors import SinkConstraintError, SinkUnavailable
from data_writer.ports import ApplyResult, EntityRow, Sink
from grid_config.events import ChangeEvent

log = logging.getLogger(__name__)
T = TypeVar("T")
Cursor = Any


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def chunks(items: Sequence[T], size: int) -> Iterable[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class Dialect(abc.ABC):
    """What one database family does differently. Methods get a cursor inside a transaction."""

    name: str = "?"
    #: the DB-API module: its exception classes drive :meth:`translate`
    driver: ModuleType
    ph: str = "%s"
    #: ids per ``IN (...)`` list
    in_chunk: int = 500

    @abc.abstractmethod
    def connect(self) -> Any: ...

    def begin(self, conn: Any, cur: Cursor) -> None:
        """Start a transaction (DB-API drivers start one implicitly; SQLite overrides)."""

    def after_rollback(self) -> None:
        """Forget per-transaction caches (e.g. temp tables created by the rolled-back work)."""

    @abc.abstractmethod
    def migrations(self) -> list[Migration]: ...

    @abc.abstractmethod
    def lock_for_migration(self, cur: Cursor) -> None:
        """Serialise concurrent migrators until this transaction ends."""

    @abc.abstractmethod
    def upsert(self, cur: Cursor, kind: str, rows: list[tuple[Any, ...]], current: dict[str, int]) -> set[str]:
        """Version-guarded insert-or-update; returns the ids actually written."""

    @abc.abstractmethod
    def defer(self, cur: Cursor, rows: list[tuple[Any, ...]]) -> None:
        """Insert-or-update ``deferred_orders`` keeping the newest version and the first deferral time."""

    def limit(self, select_body: str, n: int) -> str:
        """``select_body`` starts after ``SELECT``; dialects place the row limit."""
        return f"SELECT {select_body} LIMIT {int(n)}"

    def ts(self, d: datetime) -> Any:
        return d

    def from_ts(self, v: Any) -> datetime:
        if isinstance(v, str):
            v = datetime.fromisoformat(v.replace("Z", "+00:00"))
        return v if v.tzinfo else v.replace(tzinfo=timezone.utc)

    def translate(self, e: BaseException) -> BaseException | None:
        """Driver error -> our error, in one place; None leaves it alone (a bug: surface it)."""
        d = self.driver
        if isinstance(e, (d.IntegrityError, d.DataError, OverflowError)) or type(e).__name__ == "JSONEncodeError":
            return SinkConstraintError(f"{type(e).__name__}: {e}".strip())
        if isinstance(e, (d.OperationalError, d.InterfaceError, d.InternalError, OSError, TimeoutError)):
            return SinkUnavailable(f"{self.name}: {type(e).__name__}: {e}".strip())
        return None


class SqlEngine:
    """Synchronous core: one connection, one thread, the shared apply algorithm."""

    def __init__(self, dialect: Dialect, policy: DeferralPolicy | None = None) -> None:
        self.d = dialect
        self.policy = policy or DeferralPolicy()
        self._conn: Any = None

    # ---- connection and transactions -------------------------------------------------
    def _connection(self) -> Any:
        if self._conn is None:
            try:
                self._conn = self.d.connect()
            except Exception as e:  # noqa: BLE001 - translated below
                raise (self.d.translate(e) or SinkUnavailable(f"{self.d.name}: {e}")) from e
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # noqa: BLE001 - closing a broken connection
                pass
            self._conn = None

    def tx(self, work: Callable[[Cursor], T]) -> T:
        """Run ``work`` in one transaction; translate driver errors; reconnect after transient ones."""
        conn = self._connection()
        try:
            cur = conn.cursor()
            self.d.begin(conn, cur)
            result = work(cur)
            conn.commit()
            return result
        except Exception as e:
            try:
                conn.rollback()
            except Exception:  # noqa: BLE001 - the connection may be gone
                pass
            self.d.after_rollback()
            ours = self.d.translate(e) if not isinstance(e, (SinkUnavailable, SinkConstraintError)) else e
            if isinstance(ours, SinkUnavailable):
                self.close()
            if ours is None or ours is e:
                raise
            raise ours from e

    # ---- schema ------------------------------------------------------------------------
    def migrate(self) -> int:
        def work(cur: Cursor) -> int:
            self.d.lock_for_migration(cur)
            cur.execute("SELECT version FROM schema_migrations")
            done = {int(r[0]) for r in cur.fetchall()}
            newest = max(done, default=0)
            for m in sorted(self.d.migrations(), key=lambda m: m.version):
                if m.version in done:
                    continue
                log.info("applying migration %s (%s) on %s", m.version, m.description, self.d.name)
                for stmt in m.statements:
                    cur.execute(stmt)
                cur.execute(
                    f"INSERT INTO schema_migrations (version, description, applied_at) VALUES ({self.d.ph}, {self.d.ph}, {self.d.ph})",
                    (m.version, m.description, self.d.ts(utc_now())),
                )
                newest = max(newest, m.version)
            return newest

        return self.tx(work)

    # ---- reads -------------------------------------------------------------------------
    def versions(self, cur: Cursor, table: str, ids: Iterable[str]) -> dict[str, int]:
        ids = list(dict.fromkeys(ids))
        found: dict[str, int] = {}
        for part in chunks(ids, self.d.in_chunk):
            marks = ", ".join([self.d.ph] * len(part))
            cur.execute(f"SELECT id, version FROM {table} WHERE id IN ({marks})", tuple(part))
            found.update({r[0]: int(r[1]) for r in cur.fetchall()})
        return found

    def fetch_versions(self, kind: str, ids: Sequence[str]) -> dict[str, int]:
        return self.tx(lambda cur: self.versions(cur, kind, ids))

    def read_page(self, kind: str, after: str, n: int) -> list[EntityRow]:
        """Rows after ``after``; a user's password hash comes from its column (schema.COLUMN_ONLY)."""
        hash_col = ", password_hash" if kind == "users" else ""
        sql = self.d.limit(
            f"id, version, deleted, state, changed_at, persisted_at{hash_col} FROM {kind} "
            f"WHERE id > {self.d.ph} ORDER BY id",
            n,
        )

        def work(cur: Cursor) -> list[EntityRow]:
            import orjson

            cur.execute(sql, (after,))
            return [
                EntityRow(
                    r[0],
                    int(r[1]),
                    bool(r[2]),
                    schema.loaded_state(
                        kind, r[3] if isinstance(r[3], dict) else orjson.loads(r[3]), r[6] if hash_col else None
                    ),
                    self.d.from_ts(r[4]),
                    self.d.from_ts(r[5]),
                )
                for r in cur.fetchall()
            ]

        return self.tx(work)

    def deferred_count(self) -> int:
        def work(cur: Cursor) -> int:
            cur.execute(f"SELECT COUNT(*) FROM {schema.DEFERRED_TABLE}")
            return int(cur.fetchone()[0])

        return self.tx(work)

    # ---- writes ------------------------------------------------------------------------
    def apply(self, events: Sequence[ChangeEvent], now: datetime | None = None) -> ApplyResult:
        """One transaction for the batch; on a refused row, isolate it event by event."""
        if not events:
            return ApplyResult()
        now = now or utc_now()
        try:
            return self.tx(lambda cur: self._apply(cur, events, now))
        except SinkConstraintError as e:
            if len(events) == 1:
                return ApplyResult(poison=[Poison(str(e), event=events[0])])
            log.warning("batch of %d refused (%s); applying event by event to isolate it", len(events), e)
        result = ApplyResult()
        for ev in events:  # parents-first order is kept, so in-batch parents land first
            try:
                result = result.merge(self.tx(lambda cur, ev=ev: self._apply(cur, [ev], now)))
            except SinkConstraintError as err:
                result.poison.append(Poison(str(err), event=ev))
        return result

    def _apply(self, cur: Cursor, events: Sequence[ChangeEvent], now: datetime) -> ApplyResult:
        res = ApplyResult()
        by_kind: dict[str, list[ChangeEvent]] = {}
        for e in events:
            by_kind.setdefault(e.kind, []).append(e)
        for kind in schema.ENTITY_TABLES:
            evs = by_kind.get(kind)
            if not evs:
                continue
            current = self.versions(cur, kind, [e.id for e in evs])
            fresh, stale = fresh_and_stale(evs, current)
            res.stale += len(stale)
            if kind == "orders":
                if stale:
                    self._undefer(cur, [e.id for e in stale])
                users: set[str] = set()
                products: set[str] = set()
                for e in fresh:
                    u, p = parents_of(e)
                    users |= u
                    products |= p
                fresh, deferred = split_ready(
                    fresh, set(self.versions(cur, "users", users)), set(self.versions(cur, "products", products))
                )
                if deferred:
                    self.d.defer(cur, [schema.deferred_row(e, now, self.d.ts) for e in deferred])
                    res.deferred += len(deferred)
            if not fresh:
                continue
            persisted_at = self.d.ts(now)
            rows = [schema.entity_row(e, persisted_at, self.d.ts) for e in fresh]
            written = self.d.upsert(cur, kind, rows, current)
            res.written += len(written)
            res.stale += len(fresh) - len(written)
            if kind == "orders" and written:
                done = [e for e in fresh if e.id in written]
                ids = [e.id for e in done]
                for part in chunks(ids, self.d.in_chunk):
                    marks = ", ".join([self.d.ph] * len(part))
                    cur.execute(f"DELETE FROM {schema.LINES_TABLE} WHERE order_id IN ({marks})", tuple(part))
                lines = [row for e in done for row in schema.line_rows(e)]
                if lines:
                    marks = ", ".join([self.d.ph] * len(schema.LINE_COLUMNS))
                    cur.executemany(
                        f"INSERT INTO {schema.LINES_TABLE} ({', '.join(schema.LINE_COLUMNS)}) VALUES ({marks})", lines
                    )
                self._undefer(cur, ids)
        return res

    def _undefer(self, cur: Cursor, ids: list[str]) -> None:
        """Forget deferred versions the database has caught up with (the stored order's
        version or older): one statement per chunk of ids, not one per order."""
        t = schema.DEFERRED_TABLE
        for part in chunks(ids, self.d.in_chunk):
            marks = ", ".join([self.d.ph] * len(part))
            cur.execute(
                f"DELETE FROM {t} WHERE id IN ({marks}) AND version <= "
                f"(SELECT o.version FROM orders o WHERE o.id = {t}.id)",
                tuple(part),
            )

    def retry_deferred(self, now: datetime | None = None) -> ApplyResult:
        """Re-apply one page of deferred orders, oldest first; report those past max age."""
        import orjson

        now = now or utc_now()
        sql = self.d.limit(f"event, deferred_at FROM {schema.DEFERRED_TABLE} ORDER BY deferred_at, id", self.policy.page)

        def load(cur: Cursor) -> list[tuple[ChangeEvent, datetime]]:
            cur.execute(sql)
            return [(ChangeEvent.from_dict(orjson.loads(r[0])), self.d.from_ts(r[1])) for r in cur.fetchall()]

        loaded = self.tx(load)
        if not loaded:
            return ApplyResult()
        result = self.apply([e for e, _ in loaded], now)
        left = self.tx(lambda cur: self.versions(cur, schema.DEFERRED_TABLE, [e.id for e, _ in loaded]))
        result.deferred = len(left)
        result.expired = [e for e, at in loaded if left.get(e.id) == e.version and self.policy.expired(at, now)]
        return result

    def drop_deferred(self, events: Sequence[ChangeEvent]) -> None:
        self.tx(
            lambda cur: cur.executemany(
                f"DELETE FROM {schema.DEFERRED_TABLE} WHERE id = {self.d.ph} AND version = {self.d.ph}",
                [(e.id, e.version) for e in events],
            )
        )

    def record_dead_letters(self, poison: Sequence[Poison]) -> None:
        rows = [
            (
                p.event.kind if p.event else None,
                p.event.id if p.event else None,
                p.event.version if p.event else None,
                p.error[:4000],
                p.payload().decode("utf-8", "replace"),
                self.d.ts(utc_now()),
            )
            for p in poison
        ]
        marks = ", ".join([self.d.ph] * 6)
        self.tx(
            lambda cur: cur.executemany(
                f"INSERT INTO dead_letters (kind, entity_id, version, error, payload, recorded_at) VALUES ({marks})",
                rows,
            )
        )


class ThreadedSink(Sink):
    """The async sink: an :class:`SqlEngine` in its own thread, transient errors retried.

    Each call is retried with exponential backoff and jitter for at most
    ``retry_budget_s``; past that :class:`SinkUnavailable` reaches the caller, whose loop
    keeps trying (an outage stops progress, loses nothing).
    """

    def __init__(self, engine: SqlEngine, retry_budget_s: float = 30.0, max_backoff_s: float = 5.0) -> None:
        self.engine = engine
        self.retry_budget_s = retry_budget_s
        self.max_backoff_s = max_backoff_s
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"sink-{engine.d.name}")
        self._closed = False

    @property
    def dialect(self) -> str:
        return self.engine.d.name

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(SinkUnavailable),
            wait=wait_exponential(multiplier=0.05, max=self.max_backoff_s) + wait_random(0, 0.1),
            stop=stop_after_delay(self.retry_budget_s),
            reraise=True,
            before_sleep=lambda rs: log.warning(
                "database unavailable (%s), retry %d", rs.outcome.exception() if rs.outcome else "?", rs.attempt_number
            ),
        ):
            with attempt:
                return await loop.run_in_executor(self._executor, fn, *args)
        raise AssertionError("unreachable")  # pragma: no cover

    async def migrate(self) -> int:
        return await self._call(self.engine.migrate)

    async def apply(self, events: Sequence[ChangeEvent]) -> ApplyResult:
        return await self._call(self.engine.apply, list(events))

    async def retry_deferred(self, now: datetime | None = None) -> ApplyResult:
        return await self._call(self.engine.retry_deferred, now)

    async def drop_deferred(self, events: Sequence[ChangeEvent]) -> None:
        await self._call(self.engine.drop_deferred, list(events))

    async def deferred_count(self) -> int:
        return await self._call(self.engine.deferred_count)

    async def fetch_versions(self, kind: str, ids: Sequence[str]) -> dict[str, int]:
        return await self._call(self.engine.fetch_versions, kind, list(ids))

    async def read_entities(self, kind: str, page: int = 1000) -> AsyncIterator[EntityRow]:  # type: ignore[override]
        after = ""
        while True:
            rows = await self._call(self.engine.read_page, kind, after, page)
            for r in rows:
                yield r
            if len(rows) < page:
                return
            after = rows[-1].id

    async def record_dead_letters(self, poison: Sequence[Poison]) -> None:
        if poison:
            await self._call(self.engine.record_dead_letters, list(poison))

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self.engine.close)
        self._executor.shutdown(wait=True)


def on_conflict_upsert_sql(kind: str, ph: str, returning: bool = False, source: str | None = None) -> str:
    """``INSERT .. ON CONFLICT (id) DO UPDATE .. WHERE stored.version < new.version`` (SQLite, PostgreSQL).

    With ``source`` the rows come from a staging table (``INSERT .. SELECT``) instead of
    ``VALUES``; with ``returning`` the statement returns the ids it actually wrote.
    """
    cols = schema.columns(kind)
    col_list = ", ".join(cols)
    sets = ", ".join(f"{c} = excluded.{c}" for c in cols if c != "id")
    if source:
        head = f"INSERT INTO {kind} ({col_list}) SELECT {col_list} FROM {source} WHERE true"
    else:
        head = f"INSERT INTO {kind} ({col_list}) VALUES ({', '.join([ph] * len(cols))})"
    sql = f"{head} ON CONFLICT (id) DO UPDATE SET {sets} WHERE {kind}.version < excluded.version"
    return sql + (" RETURNING id" if returning else "")


def on_conflict_defer_sql(ph: str) -> str:
    """Keep the newest deferred version of an order, and the time it was first deferred."""
    t = schema.DEFERRED_TABLE
    cols = ", ".join(schema.DEFERRED_COLUMNS)
    return (
        f"INSERT INTO {t} ({cols}) VALUES ({', '.join([ph] * len(schema.DEFERRED_COLUMNS))}) "
        f"ON CONFLICT (id) DO UPDATE SET version = excluded.version, event = excluded.event, "
        f"changed_at = excluded.changed_at WHERE {t}.version < excluded.version"
    )
