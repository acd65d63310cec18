"""Stripe ownership hand-overs, the embedded pump into the in-process channel, the control agent."""

from __future__ import annotations

import asyncio

import pytest

from data_pump.control import acquired, parse_note
from data_pump.embedded import run_embedded
from data_pump.local_channel import LocalChannel
from data_pump.metrics import PumpMetrics
from data_pump.ownership import StripeDrainer
from data_pump.shipping import drain_stripe
from grid_config.errors import BacklogFull
from grid_config.events import ChangeEvent
from grid_config.local_grid import LocalGrid
from grid_config.names import Names
from tests.support.eventually import eventually_async
from tests.support.ordering import check_log
from tests.unit.data_pump.conftest import write_changes
from tests.unit.data_pump.publishers import ScriptedPublisher

pytestmark = pytest.mark.unit


async def test_release_returns_only_after_the_batch_in_flight_finished(grid, names):
    await write_changes(grid, 40, keys=20)
    pub = ScriptedPublisher()
    pub.gate.clear()  # acknowledgements held back: every stripe has a batch in flight

    async def loop(stripe: int, stop: asyncio.Event) -> None:
        await drain_stripe(grid, names, pub, stripe, stop, idle_s=0.001)

    drainer = StripeDrainer(loop)
    await drainer.own(range(names.stripes))
    await eventually_async(lambda: _holds(pub.sent == 40), timeout=5, interval=0.01)
    releasing = asyncio.create_task(drainer.release([0, 1]))
    await asyncio.sleep(0.1)
    assert not releasing.done()  # waits for the in-flight batches of stripes 0 and 1
    pub.gate.set()
    await asyncio.wait_for(releasing, 5)
    assert drainer.owned == frozenset({2, 3})
    await drainer.own({0})  # the set is exactly what is asked for
    assert drainer.owned == frozenset({0})
    await drainer.release_all()
    assert drainer.owned == frozenset()


async def test_stripes_handed_between_two_drainers_ship_everything_in_order(grid, names):
    written = await write_changes(grid, 3000, keys=300, seed=9)
    pub = ScriptedPublisher(fail_ratio=0.005)

    def loop_of():
        async def loop(stripe: int, stop: asyncio.Event) -> None:
            await drain_stripe(grid, names, pub, stripe, stop, batch_size=20, idle_s=0.001, max_backoff_s=0.01)

        return loop

    a, b = StripeDrainer(loop_of()), StripeDrainer(loop_of())
    await a.own(range(names.stripes))
    for _ in range(10):  # rebalance storm: revoke first, then assign (as Kafka does)
        await asyncio.sleep(0.01)
        await a.release_all()
        await b.own({0, 1})
        await a.own({2, 3})
        await asyncio.sleep(0.01)
        await b.release_all()
        await a.release_all()
        await a.own(range(names.stripes))

    async def drained() -> bool:
        return await grid.backlog() == 0

    await eventually_async(drained, timeout=20, interval=0.02)
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
    assert await grid.backlog() == 0 and metrics.shipped._value.get() == 500


async def test_embedded_backpressure_fills_the_grid_to_its_bound_not_memory():
    names = Names(namespace="bp-", stripes=2)
    grid = LocalGrid(names, backlog_limit=100)
    channel = LocalChannel(maxsize=10)  # nobody reads it: the writer is stuck
    stop = asyncio.Event()
    pump = asyncio.create_task(run_embedded(grid, channel, stop, batch_size=5))
    refused = 0
    for i in range(400):
        try:
            await _one(grid, str(i))
        except BacklogFull:
            refused += 1
        await asyncio.sleep(0.001)
    await eventually_async(lambda: _holds(channel.qsize() == 10), timeout=5, interval=0.01)
    assert refused > 0 and await grid.backlog() <= 100
    # the writer comes back: everything drains
    got = 0
    while got < 400 - refused:
        got += len(await channel.get_batch(50, timeout_s=5))

    async def drained() -> None:  # the last batch commits just after its last ack
        assert await grid.backlog() == 0

    await eventually_async(drained, timeout=5, interval=0.01)
    stop.set()
    await asyncio.wait_for(pump, 5)


async def test_closed_channel_refuses_sends_and_the_records_stay_in_the_grid(grid, names):
    await write_changes(grid, 5, keys=1)
    channel = LocalChannel(maxsize=10)
    channel.close()
    stop = asyncio.Event()
    task = asyncio.create_task(drain_stripe(grid, names, channel, names.stripe_of("1000"), stop, max_backoff_s=0.05))
    await asyncio.sleep(0.2)
    stop.set()
    await asyncio.wait_for(task, 2)
    assert await grid.backlog() == 5 and channel.qsize() == 0


def test_ownership_notes_round_trip_and_garbage_is_ignored():
    note = acquired(3, "host:42")
    assert parse_note(note.to_bytes()) == note
    assert parse_note(b"not json") is None and parse_note(b'{"stripe": "x"}') is None


async def test_control_agent_records_ownership_notes(names):
    from data_pump.app import build
    from data_pump.settings import PumpSettings

    settings = PumpSettings(namespace="agent-", outbox_stripes=4, http_port=16199)
    app = build(settings, grid=LocalGrid(settings.names, 1000))
    agent = next(a for a in app.agents.values() if "stripe-control" in a.name)
    note = acquired(2, "other-host:7")
    async with agent.test_context() as test_agent:
        event = await test_agent.put(note.to_bytes())
        assert test_agent.results[event.message.offset] == note
        await test_agent.put(b"garbage")
    assert app.pump_runtime.owners == {2: note}


async def _one(grid: LocalGrid, pid: str) -> None:
    def work(tx):
        tx.record(ChangeEvent(kind="products", op="upsert", id=pid, version=1, state={"id": pid}))

    await grid.transact(work)


def _holds(condition: bool):
    async def check() -> bool:
        return condition

    return check()
