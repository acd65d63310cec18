from __future__ import annotations

import random

import pytest

from grid_config.local_grid import LocalGrid
from grid_config.names import Names


@pytest.fixture
def names() -> Names:
    return Names(namespace="unit-")


@pytest.fixture
def grid(names: Names) -> LocalGrid:
    # few partitions: the pump's per-journal readers stay few; big journals: no credits refused
    return LocalGrid(names, partitions=8, journal_capacity=100_000)


async def write_changes(grid: LocalGrid, count: int, keys: int, seed: int = 1) -> list[tuple[str, int]]:
    """Write ``count`` product changes over ``keys`` ids, one ``put`` each (stamped with its
    request id, as the units write); return (id, version)s."""
    rng = random.Random(seed)
    versions: dict[str, int] = {}
    written: list[tuple[str, int]] = []
    for _ in range(count):
        pid = str(1000 + rng.randrange(keys))
        version = versions.get(pid, 0) + 1
        versions[pid] = version
        state = {"id": pid, "sku": f"sku-{pid}", "stock": version, "version": version}
        await grid.put(grid.names.products, pid, state, request_id=f"req-{pid}-{version}")
        written.append((pid, version))
    return written
