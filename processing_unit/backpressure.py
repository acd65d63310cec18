"""The G7 gate: writes and readiness answer 503 while the un-shipped backlog is at its bound.

The backlog figure costs a grid round trip over every outbox stripe, so it is cached for
``cache_s`` and refreshed by at most one caller at a time; requests never queue behind it.
"""

from __future__ import annotations

import asyncio
import time

from grid_config.errors import GridError
from grid_config.ports import Grid

#: after a transaction found an outbox stripe full, writes and readiness stay 503 this long
#: (stripes have their own bounds, so one can fill before the total reaches the limit)
FULL_HOLD_S = 1.0


class Backpressure:
    def __init__(self, grid: Grid, limit: int, cache_s: float) -> None:
        self._grid = grid
        self.limit = limit
        self._cache_s = cache_s
        self._value = 0
        self._at = float("-inf")
        self._refreshing: asyncio.Task[None] | None = None
        self._full_until = float("-inf")
        self.reachable = True

    async def backlog(self) -> int:
        """The last known backlog, refreshed when older than the cache period."""
        if time.monotonic() - self._at >= self._cache_s:
            if self._refreshing is None or self._refreshing.done():
                self._refreshing = asyncio.ensure_future(self._refresh())
            # shield: a cancelled request must not cancel the refresh others await
            await asyncio.shield(self._refreshing)
        return self._value

    async def _refresh(self) -> None:
        try:
            self._value = await self._grid.backlog()
            self.reachable = True
        except GridError:
            self.reachable = False
            raise
        finally:
            self._at = time.monotonic()

    async def full(self) -> bool:
        if time.monotonic() < self._full_until:
            return True
        return await self.backlog() >= self.limit

    def note_full(self) -> None:
        """A transaction hit a full stripe: report full for :data:`FULL_HOLD_S`."""
        self._full_until = time.monotonic() + FULL_HOLD_S
