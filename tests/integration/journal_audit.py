"""Audit helpers for tests of `spacegrid unit` processes on a real cluster (G1, G2, G5).

They read the grid directly through the grid port (a HazelcastGrid of the test's own),
never through the unit under test. The change record is the entity maps' event journals:
:class:`JournalTap` reads every (map, partition) journal with the pump's own
:class:`~data_pump.shipping.PartitionShipper` into an in-process recording publisher
(positions stored, credits given back: exactly what a pump does, minus Kafka), so every
journal entry is seen once, in journal order, and writes are never refused for a lack of
shipping (G7). A gap (an entry overwritten before the tap read it) fails the audit.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Awaitable

from data_pump.metrics import PumpMetrics
from data_pump.ownership import SHARDS
from data_pump.shipping import PartitionShipper, every_journal, ship_shard, unshipped
from grid_config.events import ChangeEvent
from grid_config.ports import Grid
from tests.support.eventually import eventually_async


class RecordingPublisher:
    """A publisher that acknowledges at once and keeps every record, in send order."""

    def __init__(self) -> None:
        self.records: list[tuple[str, bytes, bytes]] = []

    async def send(self, topic: str, key: bytes, value: bytes, headers: Any = None) -> Awaitable[Any]:
        self.records.append((topic, key, value))
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        done.set_result(len(self.records) - 1)
        return done

    async def flush(self) -> None:
        return None

    def events(self, names: Any) -> list[ChangeEvent]:
        return [ChangeEvent.from_bytes(v) for t, _, v in self.records if t != names.deadletter_topic]


def lost_entries(metrics: PumpMetrics) -> float:
    """Journal entries the tap found overwritten (spacegrid_journal_lost_total, all maps)."""
    return sum(s.value for m in metrics.journal_lost.collect() for s in m.samples if s.name.endswith("_total"))


class JournalTap:
    """Ships every journal of ``grid`` into memory, like a pump; ``events()`` is everything shipped."""

    def __init__(self, grid: Grid) -> None:
        self.grid = grid
        self.publisher = RecordingPublisher()
        self.metrics = PumpMetrics()
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> "JournalTap":
        log = self.grid.change_log
        self._tasks = [asyncio.create_task(ship_shard(log, self.grid.names, self.publisher, s, SHARDS, self._stop,
                                                      metrics=self.metrics, on_shipped=log.shipped))
                       for s in range(SHARDS)]
        return self

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def caught_up(self, timeout: float = 60.0) -> list[ChangeEvent]:
        """Every change shipped so far, once nothing waits in any journal; no gap allowed."""
        async def nothing_waits() -> None:
            waiting = await unshipped(self.grid.change_log)
            assert waiting == 0, f"{waiting} journal entries still unshipped"

        await eventually_async(nothing_waits, timeout=timeout, interval=0.2)
        assert lost_entries(self.metrics) == 0, "journal entries were overwritten before the tap read them"
        return self.publisher.events(self.grid.names)


async def read_journals(grid: Grid) -> list[ChangeEvent]:
    """Ship every journal once to its end (no pump running): the change records not shipped
    before, oldest first per journal; positions stored and credits given back."""
    publisher, metrics = RecordingPublisher(), PumpMetrics()
    gate = asyncio.Semaphore(64)

    async def one(map_name: str, partition: int) -> None:
        shipper = PartitionShipper(grid.change_log, grid.names, publisher, map_name, partition, batch_size=1000,
                                   metrics=metrics, on_shipped=grid.change_log.shipped)
        async with gate:
            while await shipper.ship_once():
                pass

    await asyncio.gather(*(one(m, p) for m, p in every_journal(grid.change_log)))
    assert lost_entries(metrics) == 0, "journal entries were overwritten before they were read"
    return publisher.events(grid.names)


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
