"""Audit helpers for tests of `spacegrid unit` processes on a real cluster (G1, G5).

They read the grid directly through the grid port (a HazelcastGrid of the test's own),
never through the unit under test: the outbox stripes are read with ``take_changes``
and rolled back, so the records stay where a pump would find them.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from grid_config.events import ChangeEvent
from grid_config.ports import Grid


async def read_outbox(grid: Grid, max_items: int = 100_000) -> list[ChangeEvent]:
    """Every change record of every stripe, oldest first per stripe; left in the grid (rollback)."""
    events: list[ChangeEvent] = []
    for stripe in range(grid.names.stripes):
        batch = await grid.take_changes(stripe, max_items)
        try:
            events.extend(batch.events)
        finally:
            await batch.rollback()
    return events


async def map_values(grid: Grid, map_name: str) -> dict[str, dict[str, Any]]:
    return {k: v async for k, v in grid.entries(map_name)}


def held_by_orders(orders: dict[str, dict[str, Any]]) -> Counter[str]:
    """Quantities each product has reserved by orders that are not cancelled."""
    held: Counter[str] = Counter()
    for order in orders.values():
        if order["status"] != "cancelled":
            for line in order["lines"]:
                held[line["product_id"]] += line["quantity"]
    return held


@dataclass
class RecordIndex:
    """Change records by (kind, id): version -> events (a version twice is a finding)."""

    by_entity: dict[tuple[str, str], dict[int, list[ChangeEvent]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(list))
    )
    by_request: dict[str, list[ChangeEvent]] = field(default_factory=lambda: defaultdict(list))

    @classmethod
    def of(cls, events: list[ChangeEvent]) -> "RecordIndex":
        index = cls()
        for e in events:
            index.by_entity[(e.kind, e.id)][e.version].append(e)
            index.by_request[e.request_id].append(e)
        return index

    def versions(self, kind: str, entity_id: str) -> dict[int, list[ChangeEvent]]:
        return self.by_entity.get((kind, entity_id), {})

    def duplicates(self) -> list[tuple[str, str, int]]:
        return [
            (kind, eid, v)
            for (kind, eid), versions in self.by_entity.items()
            for v, evs in versions.items()
            if len(evs) > 1
        ]


def product_chain_problems(index: RecordIndex, product_id: str, grid_version: int, grid_stock: int) -> list[str]:
    """Every product version 1..current has exactly one record, and the newest matches the grid."""
    problems = []
    versions = index.versions("products", product_id)
    missing = [v for v in range(1, grid_version + 1) if v not in versions]
    if missing:
        problems.append(f"product {product_id}: versions without a change record: {missing[:10]}")
    beyond = [v for v in versions if v > grid_version]
    if beyond:
        problems.append(f"product {product_id}: records for versions never in the grid: {beyond[:10]} (grid {grid_version})")
    newest = versions.get(grid_version)
    if newest and newest[0].state["stock"] != grid_stock:
        problems.append(f"product {product_id}: newest record has stock {newest[0].state['stock']}, grid {grid_stock}")
    return problems


def order_chain_problems(index: RecordIndex, order: dict[str, Any]) -> list[str]:
    """An order's versions 1..current each have a record; the newest one carries the grid state."""
    problems = []
    versions = index.versions("orders", order["id"])
    missing = [v for v in range(1, order["version"] + 1) if v not in versions]
    if missing:
        problems.append(f"order {order['id']}: versions without a change record: {missing}")
    beyond = [v for v in versions if v > order["version"]]
    if beyond:
        problems.append(f"order {order['id']}: records for versions never in the grid: {beyond}")
    newest = versions.get(order["version"])
    if newest and newest[0].state.get("status") != order["status"]:
        problems.append(f"order {order['id']}: newest record status {newest[0].state.get('status')} != {order['status']}")
    return problems
