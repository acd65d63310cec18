"""Failed-login throttling per email, counted in a grid map so every unit shares the count."""

from __future__ import annotations

import time

from grid_config.ports import Grid
from processing_unit.errors import TooManyRequests


class LoginLimiter:
    """A fixed window per email: ``max_failures`` failed logins per ``window_s``, then 429.

    The window start is in the value (not only the entry's TTL) so the logic holds even
    where a compare-and-set keeps or drops an entry's TTL; the TTL only bounds memory.
    """

    def __init__(self, grid: Grid, map_name: str, max_failures: int, window_s: int) -> None:
        self._grid = grid
        self._map = map_name
        self._max = max_failures
        self._window = window_s

    async def check(self, email: str) -> None:
        """Raise 429 (with Retry-After) when this email used up its failures in this window."""
        entry = await self._grid.get(self._map, email)
        if entry is None:
            return
        left = entry["window_start"] + self._window - time.time()
        if left > 0 and entry["failures"] >= self._max:
            raise TooManyRequests("too many failed logins for this email; try later", int(left) + 1)

    async def failed(self, email: str) -> None:
        """Count one failure (compare-and-set loop: concurrent failures all count)."""
        for _ in range(20):
            now = time.time()
            fresh = {"failures": 1, "window_start": now}
            current = await self._grid.put_if_absent(self._map, email, fresh, ttl_s=self._window)
            if current is None:
                return
            if current["window_start"] + self._window <= now:
                new = fresh
            else:
                new = {**current, "failures": current["failures"] + 1}
            if await self._grid.replace_if_same(self._map, email, current, new):
                return

    async def succeeded(self, email: str) -> None:
        await self._grid.delete(self._map, email)
