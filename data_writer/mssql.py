"""SQL Server sink: pymssql, rows bulk-copied into a session temp table, then one guarded MERGE.

All T-SQL comes from :mod:`data_writer.tsql`. ``Connection.bulk_copy`` (pymssql >= 2.3)
fills ``#stage_<kind>``; where it is unavailable, parameterised inserts do. The MERGE
takes ``HOLDLOCK`` (no duplicate-insert race between two writers) and its ``OUTPUT``
names exactly the rows it wrote. Migrations serialise on ``sp_getapplock``.

Not run here (no SQL Server on this machine): see the README; the integration test runs
when ``SPACEGRID_MSSQL_URL`` is set.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import unquote, urlsplit

import pymssql

from data_writer import schema, tsql
from data_writer.batching import DeferralPolicy
from data_writer.errors import SinkConstraintError
from data_writer.sql_core import Cursor, Dialect, Migration, SqlEngine, ThreadedSink

#: SQL Server error numbers that mean "this row is bad", not "try again"
_DATA_ERRORS = frozenset({245, 515, 547, 2601, 2627, 2628, 8114, 8115, 8152})


@dataclass(frozen=True)
class MssqlParams:
    server: str
    port: int
    user: str
    password: str
    database: str


def parse_mssql_url(url: str) -> MssqlParams:
    """``mssql://user:pass@host:port/db`` (user and password may be percent-encoded)."""
    parts = urlsplit(url)
    if parts.scheme != "mssql" or not parts.hostname or not parts.path.strip("/"):
        raise ValueError("SPACEGRID_DATABASE_URL: expected mssql://user:pass@host:port/db")
    return MssqlParams(
        server=parts.hostname,
        port=parts.port or 1433,
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        database=parts.path.strip("/"),
    )


class MssqlDialect(Dialect):
    name = "mssql"
    driver = pymssql
    ph = "%s"
    in_chunk = 500  # SQL Server allows 2100 parameters per statement

    def __init__(self, params: MssqlParams, use_bulk_copy: bool = True, login_timeout_s: int = 5,
                 query_timeout_s: int = 30) -> None:
        self.params = params
        self.use_bulk_copy = use_bulk_copy
        self.login_timeout_s = login_timeout_s
        self.query_timeout_s = query_timeout_s
        self._staged: set[str] = set()

    def connect(self) -> Any:
        self._staged = set()
        p = self.params
        return pymssql.connect(
            server=p.server, port=str(p.port), user=p.user, password=p.password, database=p.database,
            login_timeout=self.login_timeout_s, timeout=self.query_timeout_s, autocommit=False,
            appname="spacegrid-writer",
        )

    def after_rollback(self) -> None:
        self._staged = set()

    def migrations(self) -> list[Migration]:
        return [Migration(1, "entity tables, order lines, deferred orders, dead letters", tsql.MIGRATION_1)]

    def lock_for_migration(self, cur: Cursor) -> None:
        for stmt in tsql.migration_lock():
            cur.execute(stmt)

    def upsert(self, cur: Cursor, kind: str, rows: list[tuple[Any, ...]], current: dict[str, int]) -> set[str]:
        if kind not in self._staged:
            cur.execute(tsql.create_stage(kind))
            self._staged.add(kind)
        cur.execute(tsql.clear_stage(kind))
        bulk = getattr(cur.connection, "bulk_copy", None) if self.use_bulk_copy else None
        if bulk is not None:
            bulk(tsql.stage_name(kind), rows)
        else:
            cur.executemany(tsql.insert_stage(kind), rows)
        cur.execute(tsql.merge_from_stage(kind))
        return {r[0] for r in cur.fetchall()}

    def defer(self, cur: Cursor, rows: list[tuple[Any, ...]]) -> None:
        cur.executemany(tsql.merge_deferred(), rows)

    def limit(self, select_body: str, n: int) -> str:
        return tsql.limit(select_body, n)

    def ts(self, d: datetime) -> Any:
        return d.astimezone(timezone.utc).replace(tzinfo=None)  # DATETIME2 holds UTC, naive

    def translate(self, e: BaseException) -> BaseException | None:
        number = e.args[0] if e.args and isinstance(e.args[0], int) else None
        if isinstance(e, pymssql.DatabaseError) and number in _DATA_ERRORS:
            return SinkConstraintError(f"SQL Server error {number}: {e}")
        return super().translate(e)


def mssql_sink(params: MssqlParams, policy: DeferralPolicy | None = None, retry_budget_s: float = 30.0) -> ThreadedSink:
    return ThreadedSink(SqlEngine(MssqlDialect(params), policy), retry_budget_s=retry_budget_s)


__all__ = ["MssqlDialect", "MssqlParams", "mssql_sink", "parse_mssql_url", "schema"]
