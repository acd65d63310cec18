"""Leaked journal credits come back (data_pump/reconcile.py) on the in-process grid.

A leak is made the way a writer that died after its take leaves one: credits taken for
writes that never happened. The clock is the test's, so "quiet for ``quiet_s``" is exact.
"""

from __future__ import annotations

import asyncio

import pytest

from data_pump.embedded import run_embedded
from data_pump.figures import pump_figures
from data_pump.local_channel import LocalChannel
from data_pump.metrics import PumpMetrics
from data_pump.reconcile import CreditReconciler
from data_pump.shipping import PartitionShipper
from grid_config.errors import BacklogFull, GridUnavailable
from grid_config.local_grid import LocalGrid
from grid_config.names import Names
from tests.support.clock import ManualClock
from tests.support.eventually import eventually_async
from tests.unit.data_pump.publishers import ScriptedPublisher

pytestmark = pytest.mark.unit

QUIET_S = 90.0


@pytest.fixture
def grid(names: Names) -> LocalGrid:
    return LocalGrid(names, partitions=1, journal_capacity=20)  # one journal per map, bound 10


def leak(grid: LocalGrid, count: int, key: str = "1") -> None:
    """What a writer killed after taking ``count`` credits (a lease) leaves behind."""
    grid.change_log.take_credits([(grid.names.products, key)] * count)


async def ship_everything(grid: LocalGrid) -> None:
    log = grid.change_log
    shipper = PartitionShipper(log, grid.names, ScriptedPublisher(), grid.names.products, 0, on_shipped=log.shipped)
    while await shipper.ship_once():
        pass


async def write(grid: LocalGrid, version: int, key: str = "1") -> None:
    await grid.put(grid.names.products, key, {"id": key, "version": version})


async def test_credits_leaked_by_a_dead_writer_come_back_once_the_journal_was_quiet_and_shipped(grid):
    restored: list[tuple[str, int]] = []
    clock = ManualClock()
    reconciler = CreditReconciler(grid.change_log, QUIET_S, clock=clock, on_restored=lambda m, n: restored.append((m, n)))
    journals = [(grid.names.products, 0)]
    await write(grid, 1)
    leak(grid, 8)
    await ship_everything(grid)
    assert (await grid.change_log.credits(grid.names.products, 0)).credits == 2  # type: ignore[union-attr]
    for version in (2, 3):  # the budget is short by the leak: the third write is refused
        await write(grid, version)
    with pytest.raises(BacklogFull):
        await write(grid, 4)
    await ship_everything(grid)

    assert await reconciler.sweep(journals) == 0  # first seen quiet
    clock.now += QUIET_S - 1
    assert await reconciler.sweep(journals) == 0  # not quiet for long enough yet
    clock.now += 1
    assert await reconciler.sweep(journals) == 8
    assert restored == [(grid.names.products, 8)]
    assert await grid.change_log.credits(grid.names.products, 0) is None  # the whole budget
    for version in range(4, 14):  # the journal takes its whole bound of writes again
        await write(grid, version)
    with pytest.raises(BacklogFull):
        await write(grid, 14)


async def test_nothing_comes_back_while_entries_wait_to_be_shipped(grid):
    clock = ManualClock()
    reconciler = CreditReconciler(grid.change_log, QUIET_S, clock=clock)
    journals = [(grid.names.products, 0)]
    await write(grid, 1)  # not shipped: its credit is not leaked
    leak(grid, 3)
    for _ in range(3):
        assert await reconciler.sweep(journals) == 0
        clock.now += QUIET_S
    assert (await grid.change_log.credits(grid.names.products, 0)).credits == 6  # type: ignore[union-attr]
    await ship_everything(grid)  # now only the leak is missing
    assert await reconciler.sweep(journals) == 0
    clock.now += QUIET_S
    assert await reconciler.sweep(journals) == 3


async def test_a_write_or_a_give_during_the_quiet_period_starts_it_again(grid):
    clock = ManualClock()
    reconciler = CreditReconciler(grid.change_log, QUIET_S, clock=clock)
    journals = [(grid.names.products, 0)]
    leak(grid, 2)
    assert await reconciler.sweep(journals) == 0
    clock.now += QUIET_S / 2
    await write(grid, 1)  # a writer is active on this journal: its credits may be in use
    await ship_everything(grid)
    clock.now += QUIET_S / 2
    assert await reconciler.sweep(journals) == 0  # changed since first seen: quiet again from now
    clock.now += QUIET_S / 2
    assert await reconciler.sweep(journals) == 0
    clock.now += QUIET_S / 2
    assert await reconciler.sweep(journals) == 2


async def test_journals_of_released_shards_are_forgotten(grid):
    clock = ManualClock()
    reconciler = CreditReconciler(grid.change_log, QUIET_S, clock=clock)
    journal = (grid.names.products, 0)
    leak(grid, 2)
    assert await reconciler.sweep([journal]) == 0
    clock.now += QUIET_S
    assert await reconciler.sweep([]) == 0  # the shard went to another pump meanwhile
    assert await reconciler.sweep([journal]) == 0  # back: quiet counts from now
    clock.now += QUIET_S
    assert await reconciler.sweep([journal]) == 2


async def test_the_embedded_pump_restores_leaked_credits_and_counts_them(grid):
    metrics, stop = PumpMetrics(), asyncio.Event()
    await write(grid, 1)
    leak(grid, 8)
    pump = asyncio.create_task(run_embedded(grid, LocalChannel(), stop, metrics=metrics, metrics_interval_s=0.02,
                                            credit_quiet_s=0.1, reconcile_interval_s=0.05))
    try:
        async def restored() -> bool:
            assert await grid.change_log.credits(grid.names.products, 0) is None
            assert f'spacegrid_journal_credits_restored_total{{map="{grid.names.products}"}} 8.0' in \
                metrics.render().decode()
            # what the pump announces, so the dashboard's process table shows it too
            assert pump_figures(metrics, grid.names)["credits_restored_total"] == 8
            return True

        await eventually_async(restored, timeout=10, interval=0.05)
    finally:
        stop.set()
        await asyncio.wait_for(pump, 10)


class PositionsUnreadable:
    """The in-process change log, except that the stored positions cannot be read."""

    def __init__(self, inner) -> None:
        self._inner = inner

    def __getattr__(self, name: str):
        return getattr(self._inner, name)

    async def positions(self, journals):
        raise GridUnavailable("positions map unavailable (test)")


async def test_a_sweep_the_grid_cannot_answer_restores_nothing_and_the_next_one_works(grid, caplog):
    clock = ManualClock()
    journals = [(grid.names.products, 0)]
    leak(grid, 2)
    reconciler = CreditReconciler(grid.change_log, QUIET_S, clock=clock)
    assert await reconciler.sweep(journals) == 0
    clock.now += QUIET_S
    reconciler.change_log = PositionsUnreadable(grid.change_log)
    assert await reconciler.sweep(journals) == 0
    assert "cannot read the journals' positions" in caplog.text
    reconciler.change_log = grid.change_log
    assert await reconciler.sweep(journals) == 2
