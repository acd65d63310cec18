"""The shipping functions on the real Hazelcast adapter (no broker: an in-process publisher)."""

from __future__ import annotations

import asyncio

import pytest

from data_pump.shipping import ship_batch
from grid_config.events import ChangeEvent
from tests.integration.data_pump.support import grid_settings, open_grid
from tests.support.eventually import eventually_async
from tests.unit.data_pump.publishers import ScriptedPublisher

pytestmark = pytest.mark.integration


async def test_records_removed_by_a_second_taker_are_shipped_not_lost(hazelcast_cluster, namespace):
    settings = grid_settings(hazelcast_cluster.settings_env, namespace)
    grid, intruder = await open_grid(settings), await open_grid(settings)
    names = grid.names
    try:
        key = "1000000000000001"
        stripe = names.stripe_of(key)
        for version in range(1, 7):
            event = ChangeEvent(kind="products", op="upsert", id=key, version=version, state={"id": key})
            await grid.transact(lambda tx, e=event: tx.record(e))
        pub = ScriptedPublisher()
        pub.gate.clear()  # our batch is published but not acknowledged yet
        shipping = asyncio.create_task(ship_batch(grid, names, pub, stripe, 3))

        async def sent_three() -> None:
            assert pub.sent == 3

        await eventually_async(sent_three, timeout=10, interval=0.01)
        theirs = await intruder.take_changes(stripe, 3)  # the same three: nothing is reserved
        await theirs.commit()
        pub.gate.set()
        await shipping  # our commit removed versions 4-6 by position: shipped right away
        assert [v for _, v in pub.key_versions()] == [1, 2, 3, 4, 5, 6]
        assert await grid.backlog() == 0
    finally:
        await intruder.close()
        await grid.close()


async def test_poison_items_in_a_hazelcast_stripe_are_dead_lettered_never_unpickled(hazelcast_cluster, namespace):
    from data_pump.shipping import drain_stripe
    from grid_config.events import ERROR_HEADER

    grid = await open_grid(grid_settings(hazelcast_cluster.settings_env, namespace))
    names = grid.names
    try:
        key = "1000000000000002"
        stripe = names.stripe_of(key)

        async def change(version: int) -> None:
            event = ChangeEvent(kind="products", op="upsert", id=key, version=version, state={"id": key})
            await grid.transact(lambda tx: tx.record(event))

        await change(1)
        queue = grid._client.get_queue(names.outbox(stripe))  # noqa: SLF001 - plant corrupt items
        await asyncio.to_thread(lambda: queue.offer(bytearray(b'{"schema": 1, "id": "1000000000000002"')).result())
        await asyncio.to_thread(lambda: queue.offer(b"a pickled python object").result())  # type -120
        await change(2)
        pub = ScriptedPublisher()
        stop = asyncio.Event()
        task = asyncio.create_task(drain_stripe(grid, names, pub, stripe, stop, idle_s=0.01))

        async def drained() -> None:
            assert await grid.backlog() == 0

        await eventually_async(drained, timeout=20, interval=0.05)
        stop.set()
        await task
        assert [v for _, v in pub.key_versions()] == [1, 2]
        dead = [(i, k) for i, (t, k, _) in enumerate(pub.log) if t == names.deadletter_topic]
        assert [k for _, k in dead] == [b"", b""]
        errors = [pub.headers[i][ERROR_HEADER] for i, _ in dead]
        assert errors[0].startswith(b"PoisonEvent") and b"serialization type -120" in errors[1]
    finally:
        await grid.close()
