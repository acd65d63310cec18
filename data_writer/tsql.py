"""Every T-SQL statement the SQL Server sink sends, emitted from this one module.

Kept apart from :mod:`data_writer.mssql` (which needs pymssql and a server) so the
dialect can be checked where no SQL Server runs: tests compare :func:`statements` with
golden files under ``tests/golden/mssql/`` and parse each with sqlglot's ``tsql`` reader.
Placeholders are pymssql's ``%s``.
"""

from __future__ import annotations

from data_writer import schema

APPLOCK = "spacegrid-migrations"

_BOOK = """state NVARCHAR(MAX) NOT NULL,
    version BIGINT NOT NULL CHECK (version > 0),
    deleted BIT NOT NULL DEFAULT 0,
    changed_at DATETIME2(3) NOT NULL,
    persisted_at DATETIME2(3) NOT NULL"""

#: column types of the staging tables (same columns as the targets, no constraints)
_STAGE_TYPES: dict[str, str] = {
    "id": "NVARCHAR(64) NOT NULL PRIMARY KEY",
    "email": "NVARCHAR(320)",
    "name": "NVARCHAR(200)",
    "is_admin": "BIT",
    "password_hash": "NVARCHAR(512)",
    "sku": "NVARCHAR(64)",
    "category": "NVARCHAR(100)",
    "price_cents": "BIGINT",
    "stock": "BIGINT",
    "user_id": "NVARCHAR(64)",
    "status": "NVARCHAR(16)",
    "total_cents": "BIGINT",
    "state": "NVARCHAR(MAX) NOT NULL",
    "version": "BIGINT NOT NULL",
    "deleted": "BIT NOT NULL",
    "changed_at": "DATETIME2(3) NOT NULL",
    "persisted_at": "DATETIME2(3) NOT NULL",
}

MIGRATION_1: tuple[str, ...] = (
    f"""CREATE TABLE dbo.users (
    id NVARCHAR(64) NOT NULL PRIMARY KEY,
    email NVARCHAR(320) NULL, name NVARCHAR(200) NULL, is_admin BIT NULL, password_hash NVARCHAR(512) NULL,
    {_BOOK},
    CONSTRAINT users_live_has_email CHECK (deleted = 1 OR email IS NOT NULL)
)""",
    "CREATE INDEX users_email ON dbo.users (email)",
    f"""CREATE TABLE dbo.products (
    id NVARCHAR(64) NOT NULL PRIMARY KEY,
    sku NVARCHAR(64) NULL, name NVARCHAR(200) NULL, category NVARCHAR(100) NULL,
    price_cents BIGINT NULL CHECK (price_cents >= 0),
    stock BIGINT NULL CHECK (stock >= 0),
    {_BOOK},
    CONSTRAINT products_live_complete CHECK (deleted = 1 OR (name IS NOT NULL AND price_cents IS NOT NULL))
)""",
    "CREATE INDEX products_category ON dbo.products (category, id)",
    "CREATE INDEX products_sku ON dbo.products (sku)",
    f"""CREATE TABLE dbo.orders (
    id NVARCHAR(64) NOT NULL PRIMARY KEY,
    user_id NVARCHAR(64) NULL REFERENCES dbo.users (id),
    status NVARCHAR(16) NULL CHECK (status IN ('placed', 'paid', 'shipped', 'cancelled')),
    total_cents BIGINT NULL CHECK (total_cents >= 0),
    {_BOOK},
    CONSTRAINT orders_live_complete CHECK (deleted = 1 OR (user_id IS NOT NULL AND status IS NOT NULL))
)""",
    "CREATE INDEX orders_user ON dbo.orders (user_id, id)",
    """CREATE TABLE dbo.order_lines (
    order_id NVARCHAR(64) NOT NULL REFERENCES dbo.orders (id) ON DELETE CASCADE,
    line_no INT NOT NULL,
    product_id NVARCHAR(64) NOT NULL REFERENCES dbo.products (id),
    quantity INT NOT NULL CHECK (quantity > 0),
    price_cents BIGINT NOT NULL CHECK (price_cents >= 0),
    CONSTRAINT order_lines_pk PRIMARY KEY (order_id, line_no)
)""",
    "CREATE INDEX order_lines_product ON dbo.order_lines (product_id)",
    """CREATE TABLE dbo.deferred_orders (
    id NVARCHAR(64) NOT NULL PRIMARY KEY, version BIGINT NOT NULL, event NVARCHAR(MAX) NOT NULL,
    changed_at DATETIME2(3) NOT NULL, deferred_at DATETIME2(3) NOT NULL
)""",
    "CREATE INDEX deferred_orders_age ON dbo.deferred_orders (deferred_at)",
    """CREATE TABLE dbo.dead_letters (
    seq BIGINT IDENTITY(1, 1) NOT NULL PRIMARY KEY,
    kind NVARCHAR(16) NULL, entity_id NVARCHAR(64) NULL, version BIGINT NULL,
    error NVARCHAR(4000) NOT NULL, payload NVARCHAR(MAX) NOT NULL, recorded_at DATETIME2(3) NOT NULL
)""",
)


def migration_lock() -> tuple[str, str]:
    """Take the applock for this transaction, then make sure the ledger table exists."""
    return (
        f"EXEC sp_getapplock @Resource = N'{APPLOCK}', @LockMode = 'Exclusive', "
        "@LockOwner = 'Transaction', @LockTimeout = 60000",
        "IF OBJECT_ID(N'dbo.schema_migrations', N'U') IS NULL "
        "CREATE TABLE dbo.schema_migrations (version INT NOT NULL PRIMARY KEY, "
        "description NVARCHAR(200) NOT NULL, applied_at DATETIME2(3) NOT NULL)",
    )


def stage_name(kind: str) -> str:
    return f"#stage_{kind}"


def create_stage(kind: str) -> str:
    """A session-scoped temp table with the target's columns, emptied before every load."""
    cols = ",\n    ".join(f"{c} {_STAGE_TYPES[c]}" for c in schema.columns(kind))
    return f"IF OBJECT_ID(N'tempdb..{stage_name(kind)}') IS NULL CREATE TABLE {stage_name(kind)} (\n    {cols}\n)"


def clear_stage(kind: str) -> str:
    return f"TRUNCATE TABLE {stage_name(kind)}"


def insert_stage(kind: str) -> str:
    """Fallback when ``Connection.bulk_copy`` is unavailable: parameterised inserts."""
    cols = schema.columns(kind)
    return f"INSERT INTO {stage_name(kind)} ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))})"


def merge_from_stage(kind: str) -> str:
    """The version guard: update only when the staged version is newer; report written ids."""
    cols = schema.columns(kind)
    sets = ", ".join(f"t.{c} = s.{c}" for c in cols if c != "id")
    return (
        f"MERGE INTO dbo.{kind} WITH (HOLDLOCK) AS t\n"
        f"USING {stage_name(kind)} AS s ON t.id = s.id\n"
        f"WHEN MATCHED AND t.version < s.version THEN UPDATE SET {sets}\n"
        f"WHEN NOT MATCHED BY TARGET THEN INSERT ({', '.join(cols)}) VALUES ({', '.join('s.' + c for c in cols)})\n"
        "OUTPUT inserted.id;"
    )


def merge_deferred() -> str:
    cols = schema.DEFERRED_COLUMNS
    return (
        f"MERGE INTO dbo.{schema.DEFERRED_TABLE} WITH (HOLDLOCK) AS t\n"
        f"USING (VALUES ({', '.join(['%s'] * len(cols))})) AS s ({', '.join(cols)}) ON t.id = s.id\n"
        "WHEN MATCHED AND t.version < s.version THEN "
        "UPDATE SET t.version = s.version, t.event = s.event, t.changed_at = s.changed_at\n"
        f"WHEN NOT MATCHED BY TARGET THEN INSERT ({', '.join(cols)}) VALUES ({', '.join('s.' + c for c in cols)});"
    )


def limit(select_body: str, n: int) -> str:
    return f"SELECT TOP ({int(n)}) {select_body}"


def statements() -> dict[str, str]:
    """Everything above by a stable name: the golden files' contents."""
    out: dict[str, str] = {f"migration_1_{i:02d}": s for i, s in enumerate(MIGRATION_1)}
    lock, ledger = migration_lock()
    out["migration_lock"] = lock
    out["migration_ledger"] = ledger
    for kind in schema.ENTITY_TABLES:
        out[f"stage_create_{kind}"] = create_stage(kind)
        out[f"stage_clear_{kind}"] = clear_stage(kind)
        out[f"stage_insert_{kind}"] = insert_stage(kind)
        out[f"merge_{kind}"] = merge_from_stage(kind)
    out["merge_deferred_orders"] = merge_deferred()
    out["read_page_orders"] = limit(
        "id, version, deleted, state, changed_at, persisted_at FROM orders WHERE id > %s ORDER BY id", 1000
    )
    return out
