"""The grid contract on the in-process adapter, plus what only it promises."""

from __future__ import annotations

import uuid
from typing import AsyncIterator

import pytest

from grid_config.local_grid import LocalGrid
from grid_config.names import Names
from grid_config.ports import Grid
from tests.contract.grid_contract import GridContract, GridFactory

pytestmark = pytest.mark.unit


class TestLocalGridContract(GridContract):
    @pytest.fixture
    def namespace(self) -> str:
        return f"t{uuid.uuid4().hex[:8]}-"

    @pytest.fixture
    async def grid_factory(self) -> AsyncIterator[GridFactory]:
        made: list[Grid] = []

        async def make(names: Names) -> Grid:
            grid = LocalGrid(names)
            await grid.start()
            made.append(grid)
            return grid

        yield make
        for grid in made:
            await grid.close()
