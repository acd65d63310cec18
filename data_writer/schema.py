"""The relational shape of the entities, shared by every dialect (tables are fixed names).

Each entity table has typed columns for what queries and foreign keys need, plus
``state``: the full entity as JSON, so a cold start and the drift check's state checksum
are lossless whatever fields the units add later. ``deleted`` is the tombstone flag:
a delete keeps the row with its version, so a replayed older upsert cannot resurrect it.
Rows are built here once; adapters only choose placeholders and timestamp types.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

import orjson

from grid_config.events import ChangeEvent, parse_iso

ENTITY_TABLES = ("users", "products", "orders")
LINES_TABLE = "order_lines"
DEFERRED_TABLE = "deferred_orders"

#: data columns per table, after ``id`` and before the bookkeeping columns
DATA_COLUMNS: dict[str, tuple[str, ...]] = {
    "users": ("email", "name", "is_admin", "password_hash"),
    "products": ("sku", "name", "category", "price_cents", "stock"),
    "orders": ("user_id", "status", "total_cents"),
}
BOOK_COLUMNS = ("state", "version", "deleted", "changed_at", "persisted_at")
LINE_COLUMNS = ("order_id", "line_no", "product_id", "quantity", "price_cents")
DEFERRED_COLUMNS = ("id", "version", "event", "changed_at", "deferred_at")


def columns(kind: str) -> tuple[str, ...]:
    return ("id", *DATA_COLUMNS[kind], *BOOK_COLUMNS)


#: fields kept in their own column only, never in ``state``: a copy of a password hash in
#: the JSON doubles where it must be protected (issue 12); the reader puts it back
COLUMN_ONLY: dict[str, tuple[str, ...]] = {"users": ("password_hash", "password")}


def stored_state(kind: str, state: dict[str, Any]) -> dict[str, Any]:
    """``state`` as the ``state`` column holds it: without the column-only fields."""
    hidden = COLUMN_ONLY.get(kind, ())
    return {k: v for k, v in state.items() if k not in hidden} if hidden else state


def loaded_state(kind: str, state: dict[str, Any], password_hash: Any) -> dict[str, Any]:
    """The entity as the grid holds it: the ``state`` column plus the column-only fields."""
    if kind == "users" and password_hash is not None:
        return {**state, "password_hash": password_hash}
    return state


def state_json(state: dict[str, Any]) -> str:
    """Canonical JSON (sorted keys): equal states give equal text and equal checksums."""
    return orjson.dumps(state, option=orjson.OPT_SORT_KEYS).decode()


def _password_hash(state: dict[str, Any]) -> Any:
    return state.get("password_hash", state.get("password"))


def entity_row(event: ChangeEvent, persisted_at: Any, ts: Callable[[datetime], Any] = lambda d: d) -> tuple[Any, ...]:
    """One row of ``event.kind``'s table; a delete keeps the last state it carried.

    ``persisted_at`` is already in the dialect's timestamp form (one value per batch:
    converting it per row was a measurable share of the sink's per-event cost).
    """
    s = event.state if event.op == "upsert" else {}
    if event.kind == "users":
        data: tuple[Any, ...] = (s.get("email"), s.get("name"), s.get("is_admin"), _password_hash(s))
    elif event.kind == "products":
        data = (s.get("sku"), s.get("name"), s.get("category"), s.get("price_cents"), s.get("stock"))
    else:
        data = (s.get("user_id"), s.get("status"), s.get("total_cents"))
    return (
        event.id,
        *data,
        state_json(stored_state(event.kind, event.state)),
        event.version,
        event.op == "delete",
        ts(parse_iso(event.changed_at)),
        persisted_at,
    )


def line_rows(event: ChangeEvent) -> list[tuple[Any, ...]]:
    """The order's lines, numbered from 0; none for a delete (its lines go with it)."""
    if event.kind != "orders" or event.op != "upsert":
        return []
    return [
        (event.id, i, ln["product_id"], ln["quantity"], ln.get("price_cents", 0))
        for i, ln in enumerate(event.state.get("lines", []))
    ]


def deferred_row(
    event: ChangeEvent, deferred_at: datetime, ts: Callable[[datetime], Any] = lambda d: d
) -> tuple[Any, ...]:
    return (event.id, event.version, event.to_bytes().decode(), ts(parse_iso(event.changed_at)), ts(deferred_at))
