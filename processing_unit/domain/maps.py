"""Helper map names the unit owns beyond :class:`grid_config.names.Names`."""

from __future__ import annotations

from grid_config.names import Names


def products_by_sku(names: Names) -> str:
    """Unique-sku index: sku -> {"product_id"}; written in the product's transaction."""
    return f"{names.namespace}products-by-sku"
