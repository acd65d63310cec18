"""How one entity's full state is laid out in the grid's maps.

The inverse of what the domain functions write: the cold-start reader uses it to load
the database into the grid, and it must agree with :mod:`.users`, :mod:`.catalog` and
:mod:`.orders` (a test checks that entities created over HTTP round-trip through it).
"""

from __future__ import annotations

from typing import Any, Mapping

from grid_config.names import Names
from processing_unit.domain.catalog import CATALOG_FIELDS
from processing_unit.domain.maps import products_by_sku

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
        catalog = {"id": entity_id, "sku": state["sku"], **{k: state[k] for k in CATALOG_FIELDS}}
        return {
            names.products: {entity_id: catalog},
            names.stock: {entity_id: {"stock": state["stock"], "version": state["version"]}},
            products_by_sku(names): {state["sku"]: {"product_id": entity_id}},
        }
    if kind == "orders":
        return {names.orders: {entity_id: dict(state)}}
    raise ValueError(f"unknown entity kind {kind!r}")


def merge_into(target: Entries, entries: Entries) -> None:
    for map_name, values in entries.items():
        target.setdefault(map_name, {}).update(values)
