"""Shard ownership hand-overs, the embedded pump into the in-process channel, the control agent."""

from __future__ import annotations

import asyncio

import pytest

from data_pump.control import acquired, parse_note
from data_pump.embedded import run_embedded
from data_pump.local_channel import LocalChannel
from data_pump.metrics import PumpMetrics
from data_pump.ownership import ShardDrainer
from data_pump.shipping import ship_shard, unshipped
from grid_config.errors import BacklogFull
from grid_config.events import ChangeEvent
from grid_config.local_grid import LocalGrid
from grid_config.names import Names
from tests.support.eventually import eventually_async
from tests.support.ordering import check_log
from tests.unit.data_pump.conftest import write_changes
from tests.unit.data_pump.publishers import ScriptedPublisher

pytestmark = pytest.mark.unit

SHARDS = 4


def shard_loop(grid: LocalGrid, names: Names, pub, **kw):
    async def loop(shard: int, stop: asyncio.Event) -> None:
        await ship_shard(grid.change_log, names, pub, shard, SHARDS, stop, **kw)

    return loop


async def test_release_returns_only_after_the_batch_in_flight_finished(grid, names):
    await write_changes(grid, 40, keys=20)
    pub = ScriptedPublisher()
    pub.gate.clear()  # acknowledgements held back: every journal with entries has a batch in flight

    drainer = ShardDrainer(shard_loop(grid, names, pub))
    await drainer.own(range(SHARDS))
    await eventually_async(lambda: _holds(pub.sent == 40), timeout=5, interval=0.01)
    releasing = asyncio.create_task(drainer.release([0, 1]))
    await asyncio.sleep(0.1)
    assert not releasing.done()  # waits for the in-flight batches of shards 0 and 1
    pub.gate.set()
    await asyncio.wait_for(releasing, 5)
    assert drainer.owned == frozenset({2, 3})
    await drainer.own({0})  # the set is exactly what is asked for
    assert drainer.owned == frozenset({0})
    await drainer.release_all()
    assert drainer.owned == frozenset()


async def test_shards_handed_between_two_drainers_ship_everything_in_order(grid, names):
    written = await write_changes(grid, 3000, keys=300, seed=9)
    pub = ScriptedPublisher(fail_ratio=0.005)
    a = ShardDrainer(shard_loop(grid, names, pub, batch_size=20, max_backoff_s=0.01))
    b = ShardDrainer(shard_loop(grid, names, pub, batch_size=20, max_backoff_s=0.01))
    await a.own(range(SHARDS))
    for _ in range(10):  # rebalance storm: revoke first, then assign (as Kafka does)
        await asyncio.sleep(0.01)
        await a.release_all()
        await b.own({0, 1})
        await a.own({2, 3})
        await asyncio.sleep(0.01)
        await b.release_all()
        await a.release_all()
        await a.own(range(SHARDS))

    async def shipped() -> bool:
        return await unshipped(grid.change_log) == 0

    await eventually_async(shipped, timeout=20, interval=0.02)
    await a.release_all()
    report = check_log(pub.key_versions(), written)
    assert report.missing == []


async def test_embedded_pump_ships_every_change_into_the_channel(grid, names):
    written = await write_changes(grid, 500, keys=40)
    channel = LocalChannel(maxsize=100)
    stop = asyncio.Event()
    metrics = PumpMetrics()
    pump = asyncio.create_task(run_embedded(grid, channel, stop, metrics=metrics, metrics_interval_s=0.05))
    received: list[ChangeEvent] = []
    while len(received) < 500:
        batch = await channel.get_batch(64, timeout_s=5)
        assert batch, "the pump stopped shipping"
        received += [ChangeEvent.from_bytes(r.value) for r in batch]
        assert all(r.topic == "unit-spacegrid.products" and r.key == ChangeEvent.from_bytes(r.value).key for r in batch)
    stop.set()
    await asyncio.wait_for(pump, 5)
    assert check_log([(e.id, e.version) for e in received], written).missing == []

    async def all_shipped() -> None:  # the last batch stores its position just after its last ack
        assert await unshipped(grid.change_log) == 0 and metrics.shipped._value.get() == 500

    await eventually_async(all_shipped, timeout=5, interval=0.01)


async def test_embedded_backpressure_fills_the_journals_to_their_bound_not_memory():
    names = Names(namespace="bp-")
    grid = LocalGrid(names, partitions=2, journal_capacity=100)  # bound: 50 un-shipped per journal
    channel = LocalChannel(maxsize=10)  # nobody reads it: the writer is stuck
    stop = asyncio.Event()
    pump = asyncio.create_task(run_embedded(grid, channel, stop, batch_size=5))
    refused = 0
    for i in range(400):
        try:
            await grid.put(names.products, str(i), {"id": str(i), "version": 1})
        except BacklogFull:
            refused += 1
        await asyncio.sleep(0.001)
    await eventually_async(lambda: _holds(channel.qsize() == 10), timeout=5, interval=0.01)
    assert refused > 0
    for partition in range(2):
        bounds = await grid.change_log.bounds(names.products, partition)
        position = await grid.change_log.position(names.products, partition) or 0
        assert bounds.newest + 1 - position <= 50  # never more than the bound waits
    # the writer comes back: everything drains
    got = 0
    while got < 400 - refused:
        got += len(await channel.get_batch(50, timeout_s=5))

    async def drained() -> None:
        assert await unshipped(grid.change_log) == 0

    await eventually_async(drained, timeout=5, interval=0.01)
    stop.set()
    await asyncio.wait_for(pump, 5)


async def test_closed_channel_refuses_sends_and_the_entries_stay_unshipped(grid, names):
    await write_changes(grid, 5, keys=1)
    channel = LocalChannel(maxsize=10)
    channel.close()
    stop = asyncio.Event()
    task = asyncio.create_task(ship_shard(grid.change_log, names, channel, 0, 1, stop, max_backoff_s=0.05))
    await asyncio.sleep(0.2)
    stop.set()
    await asyncio.wait_for(task, 2)
    assert await unshipped(grid.change_log) == 5 and channel.qsize() == 0


def test_ownership_notes_round_trip_and_garbage_is_ignored():
    note = acquired(3, "host:42")
    assert parse_note(note.to_bytes()) == note
    assert parse_note(b"not json") is None and parse_note(b'{"shard": "x"}') is None


async def test_control_agent_records_ownership_notes(names):
    from data_pump.app import build
    from data_pump.settings import PumpSettings

    settings = PumpSettings(namespace="agent-", http_port=16199)
    app = build(settings, LocalGrid(settings.names))
    agent = next(a for a in app.agents.values() if "shard-control" in a.name)
    note = acquired(2, "other-host:7")
    async with agent.test_context() as test_agent:
        event = await test_agent.put(note.to_bytes())
        assert test_agent.results[event.message.offset] == note
        await test_agent.put(b"garbage")
    assert app.pump_runtime.owners == {2: note}


def _holds(condition: bool):
    async def check() -> bool:
        return condition

    return check()
