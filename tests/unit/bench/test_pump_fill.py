"""``bench pump`` fills the journals through the grid port as units write: checked on the
in-process grid, so a change of the port cannot leave the benchmark broken unnoticed."""

from __future__ import annotations

import orjson
import pytest

from data_pump.shipping import unshipped
from grid_config.local_grid import LocalGrid
from grid_config.names import Names
from tools.bench.pump import _fill

pytestmark = pytest.mark.unit


async def test_fill_writes_every_change_into_the_journals_and_returns_the_records_to_compare() -> None:
    grid = LocalGrid(Names(namespace="bench-"), partitions=8, journal_capacity=100_000)
    written: list[tuple[str, bytes, bytes]] = []
    rate = await _fill(grid, 300, 0, concurrency=4, written=written)
    assert rate > 0
    assert await unshipped(grid.change_log) == 300
    assert len(written) == 300 and {topic for topic, _, _ in written} == {grid.names.topic("products")}
    last = {key: orjson.loads(value)["version"] for _, key, value in written}
    for key, version in last.items():
        assert (await grid.get(grid.names.products, key.decode()))["version"] == version
