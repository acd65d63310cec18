"""Products: catalog fields in ``products`` (near-cached), stock and version in ``stock``.

An order changes only the ``stock`` entry, so it never invalidates the catalog near
cache; the product version lives with the stock so every change (catalog edit or stock
movement) increases it and version guards (If-Match, writers) see one sequence.
"""

from __future__ import annotations

from typing import Any, Mapping

from grid_config.events import ChangeEvent
from grid_config.layout import CATALOG_FIELDS, compose
from grid_config.names import Names
from grid_config.ports import Tx
from processing_unit.errors import Conflict, FieldError, NotFound, PreconditionFailed

def product_event(product: dict[str, Any], request_id: str) -> ChangeEvent:
    return ChangeEvent("products", "upsert", product["id"], product["version"], dict(product), request_id)


def create_product(
    tx: Tx, names: Names, *, product_id: str, fields: Mapping[str, Any], request_id: str
) -> dict[str, Any]:
    """Store a new product with a unique sku (409 otherwise)."""
    sku_map = names.products_by_sku
    if tx.get(sku_map, fields["sku"]) is not None:
        raise Conflict("a product with this sku exists", [FieldError("sku", "already used")])
    catalog = {"id": product_id, "sku": fields["sku"], **{k: fields[k] for k in CATALOG_FIELDS}}
    stock = {"stock": fields.get("stock", 0), "version": 1}
    tx.put(sku_map, fields["sku"], {"product_id": product_id})
    tx.put(names.products, product_id, catalog)
    tx.put(names.stock, product_id, stock)
    product = compose(catalog, stock)
    tx.record(product_event(product, request_id))
    return product


def update_product(
    tx: Tx,
    names: Names,
    *,
    product_id: str,
    patch: Mapping[str, Any],
    expected_version: int | None,
    request_id: str,
) -> dict[str, Any]:
    """Apply an admin edit; ``expected_version`` (If-Match) must be current or 412."""
    stock = tx.get(names.stock, product_id)
    if stock is None:
        raise NotFound(f"no product {product_id}")
    if expected_version is not None and stock["version"] != expected_version:
        raise PreconditionFailed(
            f"product {product_id} is at version {stock['version']}, not {expected_version}"
        )
    catalog = tx.get(names.products, product_id)
    if catalog is None:  # pragma: no cover - both entries are written together
        raise NotFound(f"no product {product_id}")
    edits = {k: patch[k] for k in CATALOG_FIELDS if k in patch}
    if edits:
        catalog = {**catalog, **edits}
        tx.put(names.products, product_id, catalog)
    stock = {"stock": patch.get("stock", stock["stock"]), "version": stock["version"] + 1}
    tx.put(names.stock, product_id, stock)
    product = compose(catalog, stock)
    tx.record(product_event(product, request_id))
    return product
