"""Products: one entry per product in ``products``, stock and version included (decision 0017).

The entry is the product's full state: catalog fields, ``stock`` and ``version``, plus
whatever else lands in it (the stock entry processors' ``holds``). Every change (catalog
edit or stock movement) writes the whole entry with the version increased, so version
guards (If-Match, writers) see one sequence; fields a writer does not know are kept.
"""

from __future__ import annotations

from typing import Any, Mapping

from processing_unit.errors import NotFound, PreconditionFailed

#: the product resource a client sees (the entry may hold more, e.g. stock holds)
PUBLIC_FIELDS = ("id", "sku", "name", "category", "price_cents", "stock", "version")
#: what an admin edit may change (the sku is immutable)
EDITABLE_FIELDS = ("name", "category", "price_cents", "stock")


def public_product(entry: Mapping[str, Any]) -> dict[str, Any]:
    """The product resource from its grid entry."""
    return {k: entry[k] for k in PUBLIC_FIELDS}


def new_product(product_id: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """A new product entry (its sku is claimed first, with ``put_if_absent``)."""
    return {
        "id": product_id,
        "sku": fields["sku"],
        "name": fields["name"],
        "category": fields["category"],
        "price_cents": fields["price_cents"],
        "stock": fields.get("stock", 0),
        "version": 1,
    }


def edited(
    old: Mapping[str, Any] | None,
    *,
    product_id: str,
    patch: Mapping[str, Any],
    expected_version: int | None,
) -> dict[str, Any]:
    """An admin edit of the current entry; ``expected_version`` (If-Match) must be current or 412.

    Pure: the grid's compare-and-set may run it again on a newer entry (an order's stock
    hold came in between), and the If-Match check then sees that newer version.
    """
    if old is None:
        raise NotFound(f"no product {product_id}")
    if expected_version is not None and old["version"] != expected_version:
        raise PreconditionFailed(
            f"product {product_id} is at version {old['version']}, not {expected_version}"
        )
    edits = {k: patch[k] for k in EDITABLE_FIELDS if k in patch}
    return {**old, **edits, "version": old["version"] + 1}
