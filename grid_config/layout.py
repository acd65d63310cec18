"""How one entity's full state is laid out in the grid's maps.

Shared by every component that turns grid entries into entities or back: the unit's
domain functions (:mod:`processing_unit.domain`), the cold-start reader (database ->
grid) and the drift check (grid -> entities). A test checks that entities created over
HTTP round-trip through it.

Every entity is one entry of its kind's map, holding its full state (a product's stock
and version included, decision 0017); the index maps point at it.
"""

from __future__ import annotations

from typing import Any, Mapping

from grid_config.names import Names

Entries = dict[str, dict[str, dict[str, Any]]]


def grid_entries(names: Names, kind: str, state: Mapping[str, Any]) -> Entries:
    """``{map name: {key: value}}`` for one entity (its index entries included)."""
    entity_id = str(state["id"])
    if kind == "users":
        return {
            names.users: {entity_id: dict(state)},
            names.users_by_email: {state["email"]: {"user_id": entity_id}},
        }
    if kind == "products":
        return {
            names.products: {entity_id: dict(state)},
            names.products_by_sku: {state["sku"]: {"product_id": entity_id}},
        }
    if kind == "orders":
        return {names.orders: {entity_id: dict(state)}}
    raise ValueError(f"unknown entity kind {kind!r}")


def merge_into(target: Entries, entries: Entries) -> None:
    for map_name, values in entries.items():
        target.setdefault(map_name, {}).update(values)
