"""The change-log contract on the in-process adapter (LocalGrid's journals), plus its own promises."""

from __future__ import annotations

import asyncio
import threading
import uuid
from typing import AsyncIterator, Sequence

import pytest

from grid_config.change_log import JournalBounds
from grid_config.local_change_log import DEFAULT_CAPACITY, DEFAULT_PARTITIONS
from grid_config.local_grid import LocalGrid
from grid_config.names import Names
from grid_config.ports import Grid
from tests.contract.change_log_contract import TINY_SLOTS, ChangeLogContract, GridFactory, tiny_map

pytestmark = pytest.mark.unit


class TestLocalChangeLogContract(ChangeLogContract):
    @pytest.fixture
    def namespace(self) -> str:
        return f"t{uuid.uuid4().hex[:8]}-"

    @pytest.fixture
    async def grid_factory(self) -> AsyncIterator[GridFactory]:
        made: list[Grid] = []

        async def make(names: Names, journaled_maps: Sequence[str], guard: bool = False) -> Grid:
            grid = LocalGrid(names, journaled_maps=journaled_maps,  # G7 off unless asked: the suite overflows on purpose
                             journal_capacity={tiny_map(names): TINY_SLOTS}, journal_guard=guard)
            await grid.start()
            made.append(grid)
            return grid

        yield make
        for grid in made:
            await grid.close()


def test_defaults_mirror_the_member_configuration() -> None:
    names = Names(namespace="x-")
    log = LocalGrid(names).change_log
    assert log.journaled_maps == (names.users, names.products, names.orders)
    assert log.partition_count == DEFAULT_PARTITIONS == 271
    assert DEFAULT_CAPACITY == 256
    with pytest.raises(ValueError):
        LocalGrid(names, partitions=0)
    with pytest.raises(ValueError):
        LocalGrid(names, journal_capacity=0)


async def test_capacity_per_map_and_the_default_ring() -> None:
    names = Names(namespace="x-")
    grid = LocalGrid(names, partitions=1, journal_capacity={names.users: 2}, journal_guard=False)
    for i in range(DEFAULT_CAPACITY + 5):
        await grid.put(names.orders, "k", {"i": i})
        await grid.put(names.users, "k", {"i": i})
    log = grid.change_log
    n = DEFAULT_CAPACITY + 5
    assert await log.bounds(names.orders, 0) == JournalBounds(5, n - 1)
    assert await log.bounds(names.users, 0) == JournalBounds(n - 2, n - 1)


async def test_a_failed_write_appends_nothing() -> None:
    """An update whose change raises and a stock step that raises (an entry it cannot read)
    write nothing and append nothing, in the same critical section."""
    from grid_config.entry_processors import StockHold

    names = Names(namespace="x-")
    grid = LocalGrid(names, partitions=1)

    def fails(current: dict | None) -> dict:
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        await grid.update(names.orders, "1", fails)
    assert await grid.change_log.bounds(names.orders, 0) == JournalBounds(0, -1)
    await grid.put(names.products, "1", {"id": "1", "version": 1})  # no stock: a hold cannot read it
    with pytest.raises(ValueError):
        await grid.execute(names.products, "1", StockHold("o-1", "a-1", 1, 0, "r"))
    assert await grid.change_log.bounds(names.products, 0) == JournalBounds(0, 0)
    assert await grid.get(names.products, "1") == {"id": "1", "version": 1}


async def test_a_cancelled_wait_leaves_no_waiter_behind() -> None:
    names = Names(namespace="x-")
    grid = LocalGrid(names, partitions=1)
    log = grid.change_log
    poll = asyncio.ensure_future(log.read(names.orders, 0, 0, wait=True))
    done, _ = await asyncio.wait({poll}, timeout=0.1)
    assert not done
    poll.cancel()
    with pytest.raises(asyncio.CancelledError):
        await poll
    assert log._journal(names.orders, 0).waiters == []
    await grid.put(names.orders, "k", {"id": "k"})
    assert len((await log.read(names.orders, 0, 0, wait=True)).changes) == 1


async def test_a_write_from_another_thread_wakes_a_waiting_read() -> None:
    """Embedded helpers write from worker threads: the waiter's loop is woken thread-safely."""
    names = Names(namespace="x-")
    grid = LocalGrid(names, partitions=1)
    poll = asyncio.ensure_future(grid.change_log.read(names.orders, 0, 0, wait=True))
    done, _ = await asyncio.wait({poll}, timeout=0.1)
    assert not done
    thread = threading.Thread(target=lambda: asyncio.run(grid.put(names.orders, "k", {"id": "k"})))
    thread.start()
    got = await asyncio.wait_for(poll, timeout=5)
    thread.join()
    assert [c.key for c in got.changes] == ["k"]


def test_journaled_maps_have_a_journal_on_the_members_and_positions_none() -> None:
    """Names.journaled_maps and the event-journal sections of hazelcast.yaml agree."""
    from fnmatch import fnmatchcase
    from pathlib import Path

    import yaml

    import grid_config

    config = yaml.safe_load((Path(grid_config.__file__).parent / "hazelcast.yaml").read_text())["hazelcast"]["map"]

    def section(map_name: str) -> dict:
        hits = [v for pattern, v in config.items() if pattern != "default" and fnmatchcase(map_name, pattern)]
        assert len(hits) <= 1, map_name
        return hits[0] if hits else config["default"]

    names = Names(namespace="t1-")
    for m in names.journaled_maps:
        assert section(m).get("event-journal", {}).get("enabled") is True, m
        assert section(m).get("time-to-live-seconds", 0) == 0, m
    positions = section(names.journal_positions)
    assert "event-journal" not in positions and positions.get("time-to-live-seconds", 0) == 0
    assert positions["backup-count"] == 1
