"""The change-log contract on the Hazelcast adapter (the 3-member harness cluster), plus its own promises.

Map names end in the patterns of grid_config/hazelcast.yaml that enable the journal
(``*users``, ``*products``, ``*stock``, ``*orders``; the test-only ``*journal-tiny``, 10
slots per partition).
"""

from __future__ import annotations

from grid_config.events import unstamped

from typing import Any, AsyncIterator, Sequence

import pytest

from grid_config.errors import GridUnavailable
from grid_config.hazelcast_grid import HazelcastGrid
from grid_config.names import Names
from grid_config.ports import Grid
from tests.contract.change_log_contract import ChangeLogContract, GridFactory, same_partition_keys
from tests.integration.test_hazelcast_grid_contract import settings_for

pytestmark = pytest.mark.integration


class TestHazelcastChangeLogContract(ChangeLogContract):
    @pytest.fixture
    async def grid_factory(self, hazelcast_cluster: Any) -> AsyncIterator[GridFactory]:
        made: list[Grid] = []

        async def make(names: Names, journaled_maps: Sequence[str], guard: bool = False) -> Grid:
            # G7 off unless asked, as on LocalGrid in the unit tier: the contract overflows the tiny journal on purpose
            grid = HazelcastGrid(settings_for(hazelcast_cluster), names,
                                 journaled_maps=journaled_maps, journal_guard=guard)
            await grid.start()
            made.append(grid)
            return grid

        yield make
        for grid in made:
            await grid.close()


@pytest.fixture
async def hz_grid(hazelcast_cluster: Any, namespace: str) -> AsyncIterator[HazelcastGrid]:
    names = Names(namespace=namespace)
    grid = HazelcastGrid(settings_for(hazelcast_cluster), names)
    await grid.start()
    yield grid
    await grid.close()


async def test_partitions_are_the_members(hz_grid: HazelcastGrid) -> None:
    log = hz_grid.change_log
    assert log.journaled_maps == hz_grid.names.journaled_maps
    assert log.partition_count == 271
    client = hz_grid.connection.client()
    for key in ("1", "p-42"):
        assert log.partition_of(key) == await client.partition_service.get_partition_id(key)


async def test_positions_are_json_documents_in_their_own_map(hz_grid: HazelcastGrid) -> None:
    n = hz_grid.names
    await hz_grid.change_log.store_position(n.orders, 17, 42)
    stored = await hz_grid.connection.get_stored(n.journal_positions, [f"{n.orders}#17"])
    assert stored[f"{n.orders}#17"].loads() == {"next": 42}


async def test_reship_ships_the_value_stored_now(hazelcast_cluster: Any, hz_grid: HazelcastGrid) -> None:
    """Another client's newer write is what a re-ship compares against and appends (no
    near cache any more, decision 0017: the re-ship reads the members' current value)."""
    n = hz_grid.names
    log = hz_grid.change_log
    key = same_partition_keys(log, 1)[0]
    await hz_grid.put(n.products, key, {"id": key, "version": 1})
    assert await hz_grid.get(n.products, key) == {"id": key, "version": 1}
    other = HazelcastGrid(settings_for(hazelcast_cluster), n)
    await other.start()
    try:
        await other.put(n.products, key, {"id": key, "version": 2})
    finally:
        await other.close()
    p = log.partition_of(key)
    start = (await log.bounds(n.products, p)).newest + 1
    assert await log.reship(n.products, [key]) == 1
    got = (await log.read(n.products, p, start)).changes
    assert [(unstamped(c.value), unstamped(c.old)) for c in got] == [({"id": key, "version": 2}, {"id": key, "version": 2})]


async def test_a_closed_grid_is_unavailable(hazelcast_cluster: Any, namespace: str) -> None:
    names = Names(namespace=namespace)
    grid = HazelcastGrid(settings_for(hazelcast_cluster), names)
    with pytest.raises(GridUnavailable):
        await grid.change_log.bounds(names.orders, 0)
    await grid.start()
    await grid.close()
    with pytest.raises(GridUnavailable):
        grid.change_log.partition_of("1")
