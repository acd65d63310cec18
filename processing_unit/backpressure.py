"""The G7 gate as a unit sees it: writes refused for want of journal credits, and readiness.

A write that would push a journal past its bound of un-shipped entries takes no credit
and fails with BacklogFull (503 + Retry-After) in the grid adapter itself, exactly, per
(map, partition): other keys keep being written. After such a refusal this unit reports
unready for :data:`FULL_HOLD_S` (the journal drains as the pump ships). Readiness also
needs the grid reachable: a cheap probe, cached for ``cache_s`` and run by at most one
caller at a time; requests never queue behind it.
"""

from __future__ import annotations

import asyncio
import time

from grid_config.errors import GridError
from grid_config.ports import Grid

#: after a write found a journal at its bound, readiness stays 503 this long
FULL_HOLD_S = 1.0
#: a key no one writes: reading it proves the grid answers
PROBE_KEY = "readiness-probe"


class Backpressure:
    def __init__(self, grid: Grid, cache_s: float) -> None:
        self._grid = grid
        self._cache_s = cache_s
        self._at = float("-inf")
        self._probing: asyncio.Task[None] | None = None
        self._full_until = float("-inf")
        self.refusals = 0
        self.reachable = True

    async def probe(self) -> None:
        """Raise GridError unless the grid answered within the cache period."""
        if time.monotonic() - self._at >= self._cache_s:
            if self._probing is None or self._probing.done():
                self._probing = asyncio.ensure_future(self._probe())
            # shield: a cancelled request must not cancel the probe others await
            await asyncio.shield(self._probing)
        if not self.reachable:
            raise GridError("grid unreachable at the last probe")

    async def _probe(self) -> None:
        try:
            await self._grid.get(self._grid.names.journal_credits, PROBE_KEY)
            self.reachable = True
        except GridError:
            self.reachable = False
        finally:
            self._at = time.monotonic()

    def full(self) -> bool:
        """Whether a write was refused for want of journal credits within FULL_HOLD_S."""
        return time.monotonic() < self._full_until

    def note_full(self) -> None:
        """A write found a journal at its bound: report unready for :data:`FULL_HOLD_S`."""
        self.refusals += 1
        self._full_until = time.monotonic() + FULL_HOLD_S
