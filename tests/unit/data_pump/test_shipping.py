"""The shipping logic against the in-process journals and a publisher that fails on demand."""

from __future__ import annotations

import asyncio

import pytest

from data_pump.errors import PublishFailed
from data_pump.metrics import PumpMetrics
from data_pump.shipping import PartitionShipper, ship_partition, ship_shard, unshipped
from grid_config.errors import GridUnavailable
from grid_config.local_grid import LocalGrid
from grid_config.names import Names
from tests.support.eventually import eventually_async
from tests.support.ordering import OrderViolation, check_key_history, check_log
from tests.unit.data_pump.conftest import write_changes
from tests.unit.data_pump.publishers import ScriptedPublisher

pytestmark = pytest.mark.unit


async def ship_all(grid: LocalGrid, names: Names, pub: ScriptedPublisher, **kw) -> None:
    """Ship every journal until nothing is left un-shipped."""
    stop = asyncio.Event()
    log = grid.change_log
    task = asyncio.create_task(ship_shard(log, names, pub, 0, 1, stop, max_backoff_s=0.01, **kw))

    async def empty() -> bool:
        return await unshipped(log) == 0

    try:
        await eventually_async(empty, timeout=20, interval=0.01)
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


def shipper(grid: LocalGrid, names: Names, pub: ScriptedPublisher, key: str = "1000", **kw) -> PartitionShipper:
    log = grid.change_log
    return PartitionShipper(log, names, pub, names.products, log.partition_of(key), **kw)


async def test_every_change_is_published_to_its_kind_topic_keyed_by_id_in_per_key_order(grid, names):
    written = await write_changes(grid, 500, keys=40)
    pub = ScriptedPublisher()
    await ship_all(grid, names, pub)
    assert {t for t, _, _ in pub.log} == {names.topic("products")}
    assert all(k == e.id.encode() for (_, k, _), e in zip(pub.log, pub.events()))
    report = check_log(pub.key_versions(), written)
    assert report.missing == [] and report.duplicates == 0
    assert {e.request_id for e in pub.events() if e.id == "1000"} >= {"req-1000-1"}


async def test_the_position_moves_only_after_every_ack(grid, names):
    await write_changes(grid, 10, keys=1)
    pub = ScriptedPublisher()
    pub.gate.clear()
    one = shipper(grid, names, pub)
    shipping = asyncio.create_task(one.ship_once())
    await eventually_async(lambda: _true_when(pub.sent == 10), timeout=5, interval=0.01)
    assert await grid.change_log.position(names.products, one.partition) is None  # acks pending
    pub.gate.set()
    assert await shipping == 10
    assert await grid.change_log.position(names.products, one.partition) == 10


async def test_a_failed_ack_stores_nothing_and_the_retry_ships_the_same_entries_in_order(grid, names):
    written = await write_changes(grid, 20, keys=1)
    pub = ScriptedPublisher()
    pub.fail_next = 1
    one = shipper(grid, names, pub)
    with pytest.raises(PublishFailed):
        await one.ship_once()
    assert await grid.change_log.position(names.products, one.partition) is None
    assert await one.ship_once() == 20
    report = check_log(pub.key_versions(), written)
    assert report.missing == []


async def test_a_refused_send_stores_nothing_and_loses_nothing(grid, names):
    written = await write_changes(grid, 5, keys=1)
    pub = ScriptedPublisher()
    pub.down = True
    one = shipper(grid, names, pub)
    with pytest.raises(PublishFailed):
        await one.ship_once()
    pub.down = False
    await one.ship_once()
    assert check_log(pub.key_versions(), written).missing == []


async def test_shipping_retries_through_random_failures_without_loss_or_reordering(grid, names):
    written = await write_changes(grid, 3000, keys=200, seed=3)
    pub = ScriptedPublisher(fail_ratio=0.01, seed=11)
    metrics = PumpMetrics()
    await ship_all(grid, names, pub, batch_size=50, metrics=metrics)
    report = check_log(pub.key_versions(), written)
    assert report.missing == []
    assert report.duplicates > 0 and metrics.failures._value.get() > 0  # failures did happen
    assert metrics.shipped._value.get() == 3000  # every entry counted once, when its position moved


async def test_a_replay_after_a_lost_position_repeats_a_suffix(grid, names):
    """A pump killed after Kafka's ack but before storing its position ships a suffix again."""
    written = await write_changes(grid, 30, keys=1)
    pub = ScriptedPublisher()
    one = shipper(grid, names, pub, batch_size=10)
    await one.ship_once()
    await one.ship_once()
    await grid.change_log.store_position(names.products, one.partition, 10)  # lost the 2nd store
    again = shipper(grid, names, pub, batch_size=10)
    while await again.ship_once():
        pass
    report = check_log(pub.key_versions(), written)
    assert report.missing == [] and report.duplicates == 10


async def test_stop_interrupts_the_wait_for_new_entries_and_the_backoff(grid, names):
    pub = ScriptedPublisher()
    stop = asyncio.Event()
    waiting = asyncio.create_task(ship_partition(shipper(grid, names, pub), stop))
    await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(waiting, 2)  # parked on an empty journal, then stopped

    await write_changes(grid, 5, keys=1)
    pub.down = True
    stop = asyncio.Event()
    failing = asyncio.create_task(ship_partition(shipper(grid, names, pub), stop, max_backoff_s=60))
    await eventually_async(lambda: _true_when(pub.down), timeout=1)
    await asyncio.sleep(0.2)
    stop.set()
    await asyncio.wait_for(failing, 2)
    assert await unshipped(grid.change_log) == 5


async def test_a_waiting_reader_ships_a_write_as_it_lands(grid, names):
    pub = ScriptedPublisher()
    stop = asyncio.Event()
    task = asyncio.create_task(ship_partition(shipper(grid, names, pub), stop))
    written = await write_changes(grid, 3, keys=1)
    await eventually_async(lambda: _true_when(len(pub.log) == 3), timeout=5, interval=0.01)
    stop.set()
    await asyncio.wait_for(task, 2)
    assert pub.key_versions() == written


async def test_metrics_report_shipped_unshipped_and_head_age(grid, names):
    from data_pump.shipping import refresh_unshipped

    await write_changes(grid, 30, keys=5)
    pub = ScriptedPublisher()
    metrics = PumpMetrics()
    await refresh_unshipped(grid.change_log, metrics, frozenset({0}), 1)
    assert f'spacegrid_pump_unshipped{{map="{names.products}"}} 30.0' in metrics.render().decode()
    await ship_all(grid, names, pub, metrics=metrics)
    await refresh_unshipped(grid.change_log, metrics, frozenset({0}), 1)
    text = metrics.render().decode()
    assert f'spacegrid_pump_unshipped{{map="{names.products}"}} 0.0' in text
    assert "spacegrid_pump_shipped_total 30.0" in text
    assert "spacegrid_pump_changes_per_second 3.0" in text  # 30 in the 10 s window
    assert "spacegrid_pump_oldest_record_age_seconds 0.0" in text  # shipped: nothing waiting


async def test_a_gap_is_counted_exactly_and_repaired_by_reshipping_the_partition(names):
    """Entries overwritten before they were read: counted, and the newest state of every key ships last."""
    grid = LocalGrid(names, partitions=1, journal_capacity=10, journal_guard=False)  # G7 off on purpose
    pub, metrics = ScriptedPublisher(), PumpMetrics()
    one = PartitionShipper(grid.change_log, names, pub, names.products, 0, metrics=metrics)
    assert await one.start_position() == 0
    for version in range(1, 6):  # 5 changes of 3 keys: 15 entries in 10 slots -> 5 overwritten
        for pid in ("1", "2", "3"):
            await grid.put(names.products, pid, {"id": pid, "version": version})
    while await one.ship_once():
        pass
    assert metrics.journal_lost.labels(map=names.products)._value.get() == 5
    last = {e.id: e.version for e in pub.events()}
    assert last == {"1": 5, "2": 5, "3": 5}  # the repair re-shipped the current state last
    assert [e.version for e in pub.events()][:5] == [2, 3, 3, 3, 4]  # entries 5..9 survived the ring


async def test_the_guard_refuses_a_write_before_a_journal_could_overwrite(names):
    """G7: with the pump stopped, a partition's journal takes its bound and then 503s (BacklogFull)."""
    from grid_config.errors import BacklogFull

    grid = LocalGrid(names, partitions=1, journal_capacity=10)  # bound 5
    for version in range(1, 6):
        await grid.put(names.products, "1", {"id": "1", "version": version})
    with pytest.raises(BacklogFull):
        await grid.put(names.products, "1", {"id": "1", "version": 6})
    assert (await grid.get(names.products, "1"))["version"] == 5  # refused writes change nothing
    assert await unshipped(grid.change_log) == 5
    pub = ScriptedPublisher()
    one = PartitionShipper(grid.change_log, names, pub, names.products, 0, on_shipped=grid.change_log.shipped)
    assert await one.ship_once() == 5
    await grid.put(names.products, "1", {"id": "1", "version": 6})  # the credits came back


def test_order_checker_accepts_replayed_suffixes_and_rejects_reordering():
    assert check_key_history("k", [1, 2, 3, 2, 3, 4]) == 2
    assert check_key_history("k", [1, 2, 3, 4, 2, 3, 1, 2, 3, 4, 5]) == 6
    for bad in ([1, 3, 2], [1, 2, 3, 2, 4], [2, 1]):
        with pytest.raises(OrderViolation):
            check_key_history("k", bad)


def _true_when(condition: bool):
    async def check() -> bool:
        return condition

    return check()


async def test_a_poison_entry_goes_to_the_dead_letters_and_its_journal_goes_on(grid, names):
    """A stored value that is not an entity: dead-lettered with its key, the error and the journal."""
    from grid_config.events import ERROR_HEADER, SOURCE_HEADER

    before = await write_changes(grid, 3, keys=1)
    await grid.put(names.products, "1000", {"id": "1000", "version": "not-a-number"})  # behind the domain
    after = await write_changes(grid, 2, keys=2, seed=5)
    metrics = PumpMetrics()
    pub = ScriptedPublisher()
    await ship_all(grid, names, pub, metrics=metrics)

    dead = [(i, k, v) for i, (t, k, v) in enumerate(pub.log) if t == names.deadletter_topic]
    assert [k for _, k, _ in dead] == [b"1000"]
    (i, _, raw), = dead
    assert b'"not-a-number"' in raw
    assert pub.headers[i][ERROR_HEADER].startswith(b"products 1000: stored value has no integer version")
    assert pub.headers[i][SOURCE_HEADER] == f"{names.products}#{grid.change_log.partition_of('1000')}".encode()
    assert check_log(pub.key_versions(), before + after).missing == []
    assert await unshipped(grid.change_log) == 0
    assert metrics.dead_letters._value.get() == 1  # noqa: SLF001


class PositionsRefused:
    """The in-process change log, except that storing positions fails while ``refusing``."""

    def __init__(self, inner) -> None:
        self._inner = inner
        self.refusing = True
        self.refused = 0

    def __getattr__(self, name: str):
        return getattr(self._inner, name)

    async def store_positions(self, positions) -> None:
        if self.refusing:
            self.refused += 1
            raise GridUnavailable("positions map unavailable (test)")
        await self._inner.store_positions(positions)


async def test_journals_go_on_shipping_while_positions_cannot_be_stored(names):
    """Storing positions is off the readers' path: while it fails, every journal keeps
    shipping (nothing is given back yet, so G7's bound still holds); once it works again,
    every position is stored and every credit given back."""
    grid = LocalGrid(names, partitions=2, journal_capacity=40)  # bound 10 per journal
    log = PositionsRefused(grid.change_log)
    pub = ScriptedPublisher()
    stop = asyncio.Event()
    task = asyncio.create_task(ship_shard(log, names, pub, 0, 1, stop, max_backoff_s=0.05,
                                          on_shipped=log.shipped))
    keys = ["1", "2", "3", "4"]
    for version in range(1, 6):
        for key in keys:
            await grid.put(names.products, key, {"id": key, "version": version})
    await eventually_async(lambda: _true_when(pub.sent == 20 and log.refused >= 2), timeout=10, interval=0.01)
    assert await unshipped(grid.change_log) == 20  # shipped, not one position stored
    log.refusing = False

    async def stored() -> bool:
        return await unshipped(grid.change_log) == 0

    await eventually_async(stored, timeout=10, interval=0.01)
    assert pub.sent == 20  # nothing shipped twice
    for version in range(6, 11):  # every credit came back: each journal takes its bound again
        for key in keys:
            await grid.put(names.products, key, {"id": key, "version": version})
    stop.set()
    await asyncio.wait_for(task, 5)
    report = check_log(pub.key_versions(), [(k, v) for v in range(1, 11) for k in keys])
    assert report.missing == []


async def test_idle_journals_are_caught_up_after_their_first_read(grid, names):
    """The gauges ask only journals that are behind for their bounds: a journal with nothing
    to ship must count as caught up, not wait unread until its first write."""
    metrics = PumpMetrics()
    stop = asyncio.Event()
    task = asyncio.create_task(ship_shard(grid.change_log, names, ScriptedPublisher(), 0, 1, stop, metrics=metrics))
    journals = {(m, p) for m in grid.change_log.journaled_maps for p in range(grid.change_log.partition_count)}
    await eventually_async(lambda: _true_when(metrics.caught_up >= journals), timeout=5, interval=0.01)
    stop.set()
    await asyncio.wait_for(task, 5)
