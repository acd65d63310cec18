"""PostgreSQL sink: psycopg 3, rows COPYed into a temp staging table, then one guarded upsert.

``INSERT .. SELECT .. FROM stage ON CONFLICT (id) DO UPDATE .. WHERE stored.version <
excluded.version RETURNING id`` writes a whole batch in one statement and returns exactly
the ids it wrote, which is what the order-lines replacement needs even when two writers
overlap during a rebalance (the conflicting row stays locked until commit). Migrations
take a transaction-scoped advisory lock so concurrent writers migrate one at a time.
"""

from __future__ import annotations

from typing import Any

import psycopg

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

MIGRATION_LOCK_KEY = 0x5B6A_CE01  # pg_advisory_xact_lock key of spacegrid migrations

_BOOK = """state JSONB NOT NULL,
    version BIGINT NOT NULL CHECK (version > 0),
    deleted BOOLEAN NOT NULL DEFAULT false,
    changed_at TIMESTAMPTZ NOT NULL, persisted_at TIMESTAMPTZ NOT NULL"""

_V1 = (
    f"""CREATE TABLE users (
    id VARCHAR(64) PRIMARY KEY,
    email VARCHAR(320), name VARCHAR(200), is_admin BOOLEAN, password_hash VARCHAR(512),
    {_BOOK},
    CHECK (deleted OR email IS NOT NULL)
)""",
    "CREATE INDEX users_email ON users (email)",
    f"""CREATE TABLE products (
    id VARCHAR(64) PRIMARY KEY,
    sku VARCHAR(64), name VARCHAR(200), category VARCHAR(100),
    price_cents BIGINT CHECK (price_cents >= 0),
    stock BIGINT CHECK (stock >= 0),
    {_BOOK},
    CHECK (deleted OR (name IS NOT NULL AND price_cents IS NOT NULL))
)""",
    "CREATE INDEX products_category ON products (category, id)",
    "CREATE INDEX products_sku ON products (sku)",
    f"""CREATE TABLE orders (
    id VARCHAR(64) PRIMARY KEY,
    user_id VARCHAR(64) REFERENCES users (id),
    status VARCHAR(16) CHECK (status IN ('placed', 'paid', 'shipped', 'cancelled')),
    total_cents BIGINT CHECK (total_cents >= 0),
    {_BOOK},
    CHECK (deleted OR (user_id IS NOT NULL AND status IS NOT NULL))
)""",
    "CREATE INDEX orders_user ON orders (user_id, id)",
    """CREATE TABLE order_lines (
    order_id VARCHAR(64) NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    line_no INTEGER NOT NULL,
    product_id VARCHAR(64) NOT NULL REFERENCES products (id),
    quantity INTEGER NOT NULL CHECK (quantity > 0),
    price_cents BIGINT NOT NULL CHECK (price_cents >= 0),
    PRIMARY KEY (order_id, line_no)
)""",
    "CREATE INDEX order_lines_product ON order_lines (product_id)",
    """CREATE TABLE deferred_orders (
    id VARCHAR(64) PRIMARY KEY, version BIGINT NOT NULL, event TEXT NOT NULL,
    changed_at TIMESTAMPTZ NOT NULL, deferred_at TIMESTAMPTZ NOT NULL
)""",
    "CREATE INDEX deferred_orders_age ON deferred_orders (deferred_at)",
    """CREATE TABLE dead_letters (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind VARCHAR(16), entity_id VARCHAR(64), version BIGINT,
    error TEXT NOT NULL, payload TEXT NOT NULL, recorded_at TIMESTAMPTZ NOT NULL
)""",
)


class PostgresDialect(Dialect):
    name = "postgresql"
    driver = psycopg
    ph = "%s"

    def __init__(self, dsn: str, connect_timeout_s: int = 5, statement_timeout_ms: int = 30_000) -> None:
        self.dsn = dsn
        self.connect_timeout_s = connect_timeout_s
        self.statement_timeout_ms = statement_timeout_ms
        self._staged: set[str] = set()

    def connect(self) -> Any:
        self._staged = set()
        return psycopg.connect(
            self.dsn,
            connect_timeout=self.connect_timeout_s,
            options=f"-c statement_timeout={self.statement_timeout_ms}",
            application_name="spacegrid-writer",
        )

    def after_rollback(self) -> None:
        self._staged = set()  # a temp table created in the rolled-back transaction is gone

    def migrations(self) -> list[Migration]:
        return [Migration(1, "entity tables, order lines, deferred orders, dead letters", _V1)]

    def lock_for_migration(self, cur: Cursor) -> None:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
        cur.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            "version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
        )

    def _stage(self, cur: Cursor, kind: str) -> str:
        name = f"stage_{kind}"
        if name not in self._staged:
            # columns copied from the target; rows vanish at commit (and with a rollback)
            cur.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {name} (LIKE {kind} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
            )
            self._staged.add(name)
        return name

    def upsert(self, cur: Cursor, kind: str, rows: list[tuple[Any, ...]], current: dict[str, int]) -> set[str]:
        stage = self._stage(cur, kind)
        cols = ", ".join(schema.columns(kind))
        with cur.copy(f"COPY {stage} ({cols}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cur.execute(on_conflict_upsert_sql(kind, self.ph, returning=True, source=stage))
        written = {r[0] for r in cur.fetchall()}
        cur.execute(f"DELETE FROM {stage}")  # a second upsert in this transaction starts clean
        return written

    def defer(self, cur: Cursor, rows: list[tuple[Any, ...]]) -> None:
        cur.executemany(on_conflict_defer_sql(self.ph), rows)


def postgres_sink(dsn: str, policy: DeferralPolicy | None = None, retry_budget_s: float = 30.0) -> ThreadedSink:
    """A sink on the PostgreSQL database at ``dsn`` (``postgresql://user:pass@host:port/db``)."""
    return ThreadedSink(SqlEngine(PostgresDialect(dsn), policy), retry_budget_s=retry_budget_s)
