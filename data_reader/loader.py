"""Cold start: load the space from the database, the system of record.

Reads every live row (tombstones are skipped) kind by kind, parents first, lays each
entity out as the domain does (:func:`grid_config.layout.grid_entries`) and
writes the grid with ``put_all`` in bounded batches. It bypasses the outbox on purpose:
these changes are already in the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from data_writer.ports import Sink
from grid_config.names import KINDS
from grid_config.ports import Grid
from grid_config.layout import Entries, grid_entries, merge_into

Progress = Callable[[str, int], None]


@dataclass
class LoadReport:
    loaded: dict[str, int] = field(default_factory=dict)
    tombstones: int = 0

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
    return report


async def _flush(grid: Grid, pending: Entries) -> None:
    for map_name, values in pending.items():
        if values:
            await grid.put_all(map_name, values)
