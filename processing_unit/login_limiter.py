"""Failed logins per (email, client address), with a growing delay: guessing slows, the owner does not lock.

A hard per-email lockout let anyone lock anyone out (five wrong passwords for the admin's
email, from anywhere). Here the count belongs to the pair: ``max_failures`` failures in a
window are answered at once; after that each attempt from the *same client* for that
email waits twice as long as the last (1, 2, 4, .. up to ``max_delay_s``), answered 429
with Retry-After meanwhile. The same email from another client is untouched, and a
success resets its pair. Guessing across many addresses is bounded by the per-client
rates and the unit's hash gate (docs/security.md).

Counted in a grid map (TTL = the window) so every unit behind a balancer sees one count.
The window start is in the value (not only the entry's TTL) so the logic holds even where
a compare-and-set keeps or drops an entry's TTL; the TTL only bounds memory.
"""

from __future__ import annotations

import math
import time

from grid_config.ports import Grid
from processing_unit.errors import TooManyRequests


def pair_key(email: str, client: str) -> str:
    return f"{client} {email}"  # an email has no space, so the pair is unambiguous


class LoginLimiter:
    def __init__(self, grid: Grid, map_name: str, max_failures: int, window_s: int, max_delay_s: int = 60) -> None:
        self._grid = grid
        self._map = map_name
        self._max = max_failures
        self._window = window_s
        self._max_delay = max_delay_s

    def delay_after(self, failures: int) -> float:
        """Seconds an attempt must wait after the last failure, given the failures so far."""
        if failures < self._max:
            return 0.0
        return float(min(2 ** min(failures - self._max, 30), self._max_delay))

    async def check(self, email: str, client: str) -> None:
        """Raise 429 (with Retry-After) while this pair's delay since its last failure runs."""
        entry = await self._grid.get(self._map, pair_key(email, client))
        if entry is None:
            return
        now = time.time()
        if entry["window_start"] + self._window <= now:
            return
        left = entry.get("last_failure", entry["window_start"]) + self.delay_after(entry["failures"]) - now
        if left > 0:
            raise TooManyRequests("too many failed logins for this email from your address; retry later",
                                  math.ceil(left))

    async def failed(self, email: str, client: str) -> None:
        """Count one failure (compare-and-set loop: concurrent failures all count)."""
        key = pair_key(email, client)
        for _ in range(20):
            now = time.time()
            fresh = {"failures": 1, "window_start": now, "last_failure": now}
            current = await self._grid.put_if_absent(self._map, key, fresh, ttl_s=self._window)
            if current is None:
                return
            if current["window_start"] + self._window <= now:
                new = fresh
            else:
                new = {**current, "failures": current["failures"] + 1, "last_failure": now}
            if await self._grid.replace_if_same(self._map, key, current, new):
                return

    async def succeeded(self, email: str, client: str) -> None:
        await self._grid.delete(self._map, pair_key(email, client))
