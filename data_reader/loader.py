"""Cold start: load the space from the database, the system of record.

Reads every live row (tombstones are skipped) kind by kind, parents first, lays each
entity out as the domain does (:func:`grid_config.layout.grid_entries`) and
writes the grid with ``put_all`` in bounded batches. The maps journal those writes like
any other, but they are already in the database: a journal the pump never shipped from
gets its position moved past what was loaded, so the pump does not ship the database back
into itself (and a large load cannot overflow a journal nobody reads yet).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from data_writer.ports import Sink
from grid_config.change_log import ChangeLog
from grid_config.names import KINDS
from grid_config.ports import Grid
from grid_config.layout import Entries, grid_entries, merge_into

Progress = Callable[[str, int], None]


@dataclass
class LoadReport:
    loaded: dict[str, int] = field(default_factory=dict)
    tombstones: int = 0
    #: journal entries of the load that the pump will not ship (fresh journals only)
    skipped: int = 0

    @property
    def total(self) -> int:
        return sum(self.loaded.values())


async def load_grid(grid: Grid, sink: Sink, batch: int = 1000, progress: Progress | None = None) -> LoadReport:
    """Copy every live entity from ``sink``'s database into ``grid``; returns the counts."""
    report = LoadReport()
    for kind in KINDS:  # users, products, orders: parents before children
        pending: Entries = {}
        count = 0
        async for row in sink.read_entities(kind, page=batch):
            if row.deleted:
                report.tombstones += 1
                continue
            merge_into(pending, grid_entries(grid.names, kind, row.state))
            count += 1
            if count % batch == 0:
                await _flush(grid, pending)
                pending = {}
                if progress:
                    progress(kind, count)
        await _flush(grid, pending)
        report.loaded[kind] = count
        if progress:
            progress(kind, count)
    report.skipped = await skip_loaded(grid.change_log)
    return report


async def skip_loaded(change_log: ChangeLog) -> int:
    """Start every never-shipped journal after its newest entry; returns entries skipped.

    Journals with a stored position are left alone: their entries may be real changes not
    shipped yet (the loaded ones are then shipped too, harmlessly: same versions).
    """
    skipped = 0
    for map_name in change_log.journaled_maps:
        for partition in range(change_log.partition_count):
            if await change_log.position(map_name, partition) is None:
                bounds = await change_log.bounds(map_name, partition)
                if bounds.newest >= bounds.oldest:
                    await change_log.store_position(map_name, partition, bounds.newest + 1)
                    skipped += bounds.newest + 1 - bounds.oldest
    return skipped


async def _flush(grid: Grid, pending: Entries) -> None:
    for map_name, values in pending.items():
        if values:
            await grid.put_all(map_name, values)
