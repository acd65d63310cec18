"""The shipping functions on the real Hazelcast adapter (no broker: an in-process publisher)."""

from __future__ import annotations

import asyncio

import pytest

from data_pump.errors import PublishFailed
from data_pump.shipping import PartitionShipper, ship_partition
from tests.contract.change_log_contract import same_partition_keys
from tests.integration.data_pump.support import grid_settings, open_grid
from tests.support.eventually import eventually_async
from tests.unit.data_pump.publishers import ScriptedPublisher

pytestmark = pytest.mark.integration


class Booby:
    """Pickled by the Python client (serializer type -120); unpickling it would touch a file."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


async def put_version(grid, key: str, version: int) -> None:
    await grid.put(grid.names.products, key, {"id": key, "version": version}, request_id=f"r-{version}")


async def test_a_batch_not_acknowledged_is_shipped_again_in_order(hazelcast_cluster, namespace):
    """(Formerly: records removed by a second outbox taker are shipped, not lost.) A batch
    whose acknowledgements failed stores no position: the next attempt ships the same
    entries again, in order, and then goes on; the position ends past every entry."""
    grid = await open_grid(grid_settings(hazelcast_cluster.settings_env, namespace))
    names, log = grid.names, grid.change_log
    try:
        key = "1000000000000001"
        p = log.partition_of(key)
        for version in range(1, 7):
            await put_version(grid, key, version)
        pub = ScriptedPublisher()
        shipper = PartitionShipper(log, names, pub, names.products, p, batch_size=3)
        pub.fail_next = 2  # the first batch's second record is not acknowledged
        with pytest.raises(PublishFailed):
            await shipper.ship_once()
        assert await log.position(names.products, p) is None
        assert await shipper.ship_once() == 3 and await shipper.ship_once() == 3
        assert [v for _, v in pub.key_versions()] == [1, 2, 3, 4, 5, 6]
        assert await log.position(names.products, p) == 6
    finally:
        await grid.close()


async def test_undecodable_entries_in_a_hazelcast_journal_are_dead_lettered(hazelcast_cluster, namespace, tmp_path):
    """Values written behind the units' back (not an entity, not even a JSON document)
    are dead-lettered with their error; the journal goes on with the next change. (The
    users map: it has no index, so the members accept a plain string in it.)"""
    from grid_config.events import ERROR_HEADER

    grid = await open_grid(grid_settings(hazelcast_cluster.settings_env, namespace))
    names, log = grid.names, grid.change_log
    try:
        key, other = same_partition_keys(log, 2, start=10**15)
        p = log.partition_of(key)
        await grid.put(names.users, key, {"id": key, "version": 1}, request_id="r-1")
        await grid.put(names.users, other, {"id": other, "version": "x"})  # JSON, not an entity
        plain = await grid.connection.map(names.users)  # a string, not a JSON document
        await plain.set(other, "a plain string")
        trap = tmp_path / "unpickled"
        await plain.set(other, Booby(str(trap)))  # never unpickled
        await grid.put(names.users, key, {"id": key, "version": 2}, request_id="r-2")
        pub = ScriptedPublisher()
        stop = asyncio.Event()
        task = asyncio.create_task(ship_partition(PartitionShipper(log, names, pub, names.users, p), stop))

        async def shipped() -> None:
            assert await log.position(names.users, p) == 5

        await eventually_async(shipped, timeout=20, interval=0.05)
        stop.set()
        await task
        assert pub.key_versions() == [(key, 1), (key, 2)]
        dead = [(i, k) for i, (t, k, _) in enumerate(pub.log) if t == names.deadletter_topic]
        assert [k for _, k in dead] == [other.encode()] * 3
        errors = [pub.headers[i][ERROR_HEADER] for i, _ in dead]
        assert b"version" in errors[0] and b"not an object" in errors[1] and b"not an object" in errors[2], errors
        assert b"serializer type -120, not deserialized" in pub.log[dead[2][0]][2]
        assert not trap.exists(), "a pickled journal value was unpickled"
    finally:
        await grid.close()
