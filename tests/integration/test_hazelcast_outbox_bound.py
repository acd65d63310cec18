"""HazelcastGrid's G7 fast path: a transaction may skip its stripe-size round trip when a
fresh backlog snapshot shows the stripe far below its bound; the bound must still hold."""

from __future__ import annotations

from typing import Any, AsyncIterator

import pytest

from grid_config.errors import BacklogFull
from grid_config.hazelcast_grid import HazelcastGrid
from grid_config.names import Names
from grid_config.ports import Tx
from grid_config.settings import CommonSettings
from tests.contract.grid_contract import drain, event, ids_in_stripe

pytestmark = pytest.mark.integration

STRIPES = 4
BOUND = 40  # records per stripe


@pytest.fixture
async def grid(hazelcast_cluster: Any, namespace: str) -> AsyncIterator[HazelcastGrid]:
    settings = CommonSettings(
        grid="hazelcast", hazelcast_members=",".join(hazelcast_cluster.members),
        hazelcast_cluster=hazelcast_cluster.cluster_name, backlog_limit=BOUND * STRIPES, outbox_stripes=STRIPES,
    )
    g = HazelcastGrid(settings, Names(namespace=namespace, stripes=STRIPES))
    await g.start()
    yield g
    await g.close()


def write(grid: HazelcastGrid, entity_id: str) -> Any:
    def work(tx: Tx) -> None:
        tx.put(grid.names.products, entity_id, {"id": entity_id})
        tx.record(event(entity_id))
    return work


async def test_bound_holds_exactly_while_the_snapshot_is_fresh(
    grid: HazelcastGrid, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One snapshot showing an empty stripe, kept fresh for the whole test: the writer's
    own offers since the snapshot end the fast path, so the stripe stops at its bound."""
    from grid_config import hazelcast_grid

    monkeypatch.setattr(hazelcast_grid, "SNAPSHOT_TTL_S", 600.0)
    ids = ids_in_stripe(grid.names, 1, BOUND + 5)
    assert await grid.backlog() == 0
    accepted = []
    for entity_id in ids:
        try:
            await grid.transact(write(grid, entity_id))
            accepted.append(entity_id)
        except BacklogFull:
            break
    assert accepted == ids[:BOUND]
    assert await grid.get(grid.names.products, ids[BOUND]) is None  # refused: nothing of it written
    assert await grid.backlog() == BOUND
    assert [e.id for e in await drain(grid, 1)] == ids[:BOUND]


async def test_a_stale_snapshot_does_not_hide_other_writers(
    hazelcast_cluster: Any, grid: HazelcastGrid
) -> None:
    """Another process filled the stripe after our snapshot; once our snapshot is old
    (SNAPSHOT_TTL_S), or our own writes used the fast-path room, the exact path sees it."""
    import asyncio

    from grid_config import hazelcast_grid

    ids = ids_in_stripe(grid.names, 2, BOUND + 1)
    assert await grid.backlog() == 0  # snapshot: stripe 2 empty
    other = HazelcastGrid(grid.settings, grid.names)
    await other.start()
    try:
        for entity_id in ids[:BOUND]:
            await other.transact(write(other, entity_id))
    finally:
        await other.close()
    await asyncio.sleep(hazelcast_grid.SNAPSHOT_TTL_S + 0.2)
    with pytest.raises(BacklogFull):
        await grid.transact(write(grid, ids[BOUND]))
    assert await grid.get(grid.names.products, ids[BOUND]) is None
