"""Leaked journal credits come back (G7, decision 0018's reconciliation).

A journal credit is taken before a write and given back once the entry it paid for is
shipped. Some never come back: a unit killed holding leased credits (at most a lease, 8,
per journal it wrote to), a write that failed after its take, a repeated processor answer
that appended nothing. Each leak shrinks that journal's budget for good; enough of them
and its partition answers 503 to every write, forever.

The pump owns each journal's shipping, so it can tell. A journal whose entries are all
shipped (its stored position past the newest entry) and whose newest entry and credit
entry have both stayed the same for ``quiet_s`` holds no credit a live writer could still
spend: a writer returns an unused lease within half a second, and no write is in flight
for longer than the member's operation call timeout (60 s); so whatever its entry is short
of the bound leaked. The entry is then removed (the whole budget) by a compare-and-set on
the value seen, so a take or give in between makes it wait for the next quiet period.

What it cannot see: a writer cut off from the cluster for longer than ``quiet_s`` that comes
back with a leased credit, or a give retried that late, may take the journal past its
bound by at most that lease or give; the journal's margin (bound..capacity) absorbs it,
as it absorbs re-ships (decision 0018).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Callable, Iterable

from grid_config.change_log import ChangeLog, CreditCount
from grid_config.errors import GridError

log = logging.getLogger("spacegrid.pump")

#: default quiet period: the member's operation call timeout (60 s) plus a margin
QUIET_S = 90.0

Journal = tuple[str, int]


@dataclass(frozen=True)
class _Quiet:
    """What a journal looked like when it was first seen quiet, and since when."""

    credits: CreditCount
    newest: int
    since: float


class CreditReconciler:
    """Looks at the journals it is given, one sweep at a time; restores leaked credits."""

    def __init__(
        self,
        change_log: ChangeLog,
        quiet_s: float = QUIET_S,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_restored: Callable[[str, int], None] | None = None,
        concurrency: int = 16,
    ) -> None:
        """``on_restored(map, credits)`` is told of every restore (the pump's metric)."""
        self.change_log = change_log
        self.quiet_s = quiet_s
        self._clock = clock
        self._on_restored = on_restored or (lambda _m, _n: None)
        self._gate = asyncio.Semaphore(concurrency)
        self._quiet: dict[Journal, _Quiet] = {}

    async def sweep(self, journals: Iterable[Journal]) -> int:
        """One look at every journal of ``journals`` (those this pump ships); returns how
        many credits came back. Journals not given are forgotten (their shard moved). A
        grid that cannot answer is logged; the next sweep looks again."""
        wanted = list(journals)
        for gone in set(self._quiet) - set(wanted):
            del self._quiet[gone]
        if not wanted:
            return 0
        try:
            positions = await self.change_log.positions(wanted)
        except GridError as e:
            log.warning("credit reconciliation: cannot read the journals' positions: %s", e)
            return 0
        results = await asyncio.gather(*(self._look(j, positions.get(j, 0)) for j in wanted), return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        for r in failed:
            if not isinstance(r, GridError):
                raise r
        if failed:
            log.warning("credit reconciliation: %d of %d journals not looked at: %s", len(failed), len(wanted), failed[0])
        return sum(r for r in results if isinstance(r, int))

    async def _look(self, journal: Journal, stored: int) -> int:
        map_name, partition = journal
        async with self._gate:
            seen = await self.change_log.credits(map_name, partition)
            bound = self.change_log.bound(map_name)
            if seen is None or seen.credits >= bound:
                self._quiet.pop(journal, None)  # the whole budget: nothing to restore
                return 0
            newest = (await self.change_log.bounds(map_name, partition)).newest
            if stored <= newest:  # entries wait to be shipped: their credits are not leaked
                self._quiet.pop(journal, None)
                return 0
            now = self._clock()
            before = self._quiet.get(journal)
            if before is None or before.newest != newest or before.credits != seen:
                self._quiet[journal] = _Quiet(seen, newest, now)
                return 0
            if now - before.since < self.quiet_s:
                return 0
            del self._quiet[journal]
            if not await self.change_log.restore_credits(map_name, partition, seen):
                return 0  # a take or give got there first: look again
        leaked = bound - seen.credits
        log.warning("journal %s#%d: %d credits were taken and never given back (a writer died or failed "
                    "after its take); the journal was quiet and fully shipped for %.0fs: budget restored",
                    map_name, partition, leaked, now - before.since)
        self._on_restored(map_name, leaked)
        return leaked

