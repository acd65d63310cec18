"""The grid contract on the in-process adapter, plus what only it promises."""

from __future__ import annotations

import uuid
from typing import AsyncIterator

import pytest

from grid_config.local_grid import LocalGrid
from grid_config.names import Names
from grid_config.ports import Grid
from tests.contract.grid_contract import GridContract, GridFactory, event, ids_in_stripe

pytestmark = pytest.mark.unit


class TestLocalGridContract(GridContract):
    @pytest.fixture
    def namespace(self) -> str:
        return f"t{uuid.uuid4().hex[:8]}-"

    @pytest.fixture
    async def grid_factory(self) -> AsyncIterator[GridFactory]:
        made: list[Grid] = []

        async def make(names: Names, backlog_limit: int) -> Grid:
            grid = LocalGrid(names, backlog_limit)
            await grid.start()
            made.append(grid)
            return grid

        yield make
        for grid in made:
            await grid.close()


async def test_backlog_counts_taken_records_until_committed() -> None:
    """Local definition of the backlog: waiting + in flight, so a rollback always fits."""
    names = Names(namespace="x-", stripes=2)
    grid = LocalGrid(names, backlog_limit=4)  # 2 per stripe
    a, b = ids_in_stripe(names, 0, 2)
    for i in (a, b):
        await grid.transact(lambda tx, i=i: tx.record(event(i)))
    batch = await grid.take_changes(0, 10)
    assert await grid.backlog() == 2
    with pytest.raises(Exception):
        await grid.transact(lambda tx: tx.record(event(a)))
    await batch.rollback()
    assert await grid.backlog() == 2
    batch = await grid.take_changes(0, 10)
    await batch.commit()
    assert await grid.backlog() == 0


def test_stripe_bound_is_the_ceiling_share_of_the_limit() -> None:
    assert LocalGrid(Names(stripes=8), backlog_limit=100_000).stripe_bound == 12_500
    assert LocalGrid(Names(stripes=8), backlog_limit=10).stripe_bound == 2
    with pytest.raises(ValueError):
        LocalGrid(Names(), backlog_limit=0)
