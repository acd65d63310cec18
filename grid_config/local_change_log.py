"""In-process adapter of the change-log port: the journals of :class:`~grid_config.local_grid.LocalGrid`.

Same semantics as Hazelcast's IMap event journal (what :mod:`grid_config.hazelcast_change_log`
reads), so the contract suite holds both to one behaviour and the pump can be tested
without a cluster:

* one journal per (journaled map, partition); a key's partition is ``crc32(key) % partitions``
  (Hazelcast hashes differently, but each adapter is consistent with itself and callers
  only ever ask :meth:`LocalChangeLog.partition_of`);
* sequences start at 0 and only grow; a journal keeps its newest ``capacity`` entries and
  silently overwrites the oldest ones (a ring);
* the grid appends one entry (key, new value or None, old value) per effective write, in
  the same critical section as the write (:meth:`LocalChangeLog.append`, called by the
  grid with its lock held); a write that changes nothing appends nothing;
* a read clamps its start into ``[oldest, newest + 1]`` and reports
  ``lost = next_seq - read_count - start_seq`` for a non-empty read (0 and
  ``next_seq == start_seq`` for an empty one), exactly like the member.

Not mirrored: an entry expiring (a TTL on a journaled map) is not journaled here, while
Hazelcast journals an EXPIRED event. Journaled maps carry no TTL (see ``hazelcast.yaml``).

Memory: at most ``capacity`` entries per partition of each journaled map (default 256 x
271 partitions); entries share their value bytes with the map, so the extra cost is mostly
old values that are no longer stored.
"""

from __future__ import annotations

import asyncio
import itertools
import zlib
from collections import Counter, deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Mapping, Sequence

import orjson

from grid_config.change_log import ChangeLog, CreditCount, JournalBounds, JournalChange, JournalRead
from grid_config.credit_processors import give_credits, take_credits
from grid_config.errors import BacklogFull

if TYPE_CHECKING:
    from grid_config.local_grid import LocalGrid

#: Hazelcast's default partition count
DEFAULT_PARTITIONS = 271
#: slots per partition: the hot maps' share in hazelcast.yaml (69,376 / 271)
DEFAULT_CAPACITY = 256


@dataclass(frozen=True)
class _Entry:
    key: str
    new: bytes | None  # canonical JSON as the grid stores it; None: removed
    old: bytes | None


def _wake(fut: "asyncio.Future[None]") -> None:
    if not fut.done():
        fut.set_result(None)


class _Journal:
    """One (map, partition) ring; guarded by the grid's lock."""

    __slots__ = ("entries", "next_seq", "waiters")

    def __init__(self, capacity: int) -> None:
        self.entries: deque[_Entry] = deque(maxlen=capacity)
        self.next_seq = 0
        self.waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    @property
    def oldest(self) -> int:
        return self.next_seq - len(self.entries)

    def append(self, entry: _Entry) -> None:
        self.entries.append(entry)  # a full deque drops its oldest entry: the overwrite
        self.next_seq += 1
        waiters, self.waiters = self.waiters, []
        for loop, fut in waiters:
            # the writer may run on another thread (embedded helpers in worker threads)
            try:
                loop.call_soon_threadsafe(_wake, fut)
            except RuntimeError:  # that loop is closed: nobody waits any more
                pass


class LocalChangeLog(ChangeLog):
    """The journals of one :class:`LocalGrid`, sharing its lock; positions in a dict."""

    def __init__(
        self,
        grid: "LocalGrid",
        journaled_maps: Iterable[str],
        *,
        partitions: int = DEFAULT_PARTITIONS,
        capacity: int | Mapping[str, int] = DEFAULT_CAPACITY,
        guard: bool = True,
    ) -> None:
        """``capacity``: slots per partition, for every map or per map name (others: 256).
        ``guard=False`` takes no credits (G7 off: only for tests that overflow on purpose)."""
        self.journaled_maps = tuple(journaled_maps)
        if partitions < 1:
            raise ValueError("partitions must be >= 1")
        per_map = capacity if isinstance(capacity, Mapping) else {m: capacity for m in self.journaled_maps}
        self._capacity = {m: per_map.get(m, DEFAULT_CAPACITY) for m in self.journaled_maps}
        if any(c < 1 for c in self._capacity.values()):
            raise ValueError("journal capacity must be >= 1")
        self._grid = grid
        self._lock = grid._lock
        self._partitions = partitions
        self._journals: dict[tuple[str, int], _Journal] = {}
        self._positions: dict[tuple[str, int], int] = {}
        #: G7 journal credits per (map, partition), as the members keep them (decision 0018)
        self._credits: dict[tuple[str, int], dict] = {}
        self._guard = guard

    # ---- the grid's side (lock held) ------------------------------------------------
    def append(self, map_name: str, key: str, new: bytes | None, old: bytes | None) -> None:
        """Record one effective write; the grid calls it with its lock held, after the write."""
        if map_name in self._capacity:
            self._journal(map_name, self.partition_of(key)).append(_Entry(key, new, old))

    def bound(self, map_name: str) -> int:
        """G7: un-shipped entries of one partition's journal stay at or below this."""
        return max(1, self._capacity[map_name] // 2)

    def take_credits(self, writes: Iterable[tuple[str, str]]) -> None:
        """One credit per write of ``(map, key)`` to a journaled map, all or none (lock held).

        Raises :class:`BacklogFull` (and takes nothing) when a partition's journal holds
        its bound of un-shipped entries: the write must not happen (G7).
        """
        if not self._guard:
            return
        needs = Counter((m, self.partition_of(k)) for m, k in writes if m in self._capacity)
        answers = {mp: take_credits(self._credits.get(mp), n, self.bound(mp[0])) for mp, n in needs.items()}
        refused = [f"{m}#{p}" for (m, p), (_, answer) in answers.items() if not answer.taken]
        if refused:
            raise BacklogFull(f"journal {', '.join(refused)} holds its bound of un-shipped changes")
        for mp, (value, _) in answers.items():
            self._credits[mp] = value  # type: ignore[assignment]

    def _journal(self, map_name: str, partition: int) -> _Journal:
        journal = self._journals.get((map_name, partition))
        if journal is None:
            journal = self._journals[(map_name, partition)] = _Journal(self._capacity[map_name])
        return journal

    def _check(self, map_name: str, partition: int) -> None:
        if map_name not in self._capacity:
            raise ValueError(f"map {map_name!r} has no journal (journaled: {', '.join(self.journaled_maps)})")
        if not 0 <= partition < self._partitions:
            raise ValueError(f"partition {partition} is not in [0, {self._partitions})")

    # ---- the port ----------------------------------------------------------------------
    @property
    def partition_count(self) -> int:
        return self._partitions

    def partition_of(self, key: str) -> int:
        return zlib.crc32(key.encode()) % self._partitions

    async def bounds(self, map_name: str, partition: int) -> JournalBounds:
        self._check(map_name, partition)
        with self._lock:
            journal = self._journal(map_name, partition)
            return JournalBounds(journal.oldest, journal.next_seq - 1)

    async def read(
        self, map_name: str, partition: int, start_seq: int, max_items: int = 500, wait: bool = False
    ) -> JournalRead:
        self._check(map_name, partition)
        if start_seq < 0 or max_items < 1:
            raise ValueError("need start_seq >= 0 and max_items >= 1")
        loop = asyncio.get_running_loop()
        start = start_seq
        clamped = False
        while True:
            with self._lock:
                journal = self._journal(map_name, partition)
                # the member's clamp, once, before waiting: a reader beyond the end steps
                # back to it (lost < 0 then: the journal is behind the reader); a late reader
                # jumps to the oldest entry held, also if overwrites happened while it waited
                if not clamped:
                    start, clamped = min(start, journal.next_seq), True
                start = max(start, journal.oldest)
                if start < journal.next_seq or not wait:
                    skip = start - journal.oldest
                    taken = list(itertools.islice(journal.entries, skip, skip + max_items))
                    break
                waiter = (loop, loop.create_future())
                journal.waiters.append(waiter)
            try:
                await waiter[1]
            finally:
                with self._lock:
                    if waiter in journal.waiters:  # cancelled before a write woke it
                        journal.waiters.remove(waiter)
        if not taken:
            return JournalRead(start_seq=start_seq, next_seq=start_seq, changes=[], lost=0)
        changes = [
            JournalChange(seq=start + i, key=e.key, value=_load(e.new), old=_load(e.old))
            for i, e in enumerate(taken)
        ]
        next_seq = start + len(taken)
        return JournalRead(start_seq=start_seq, next_seq=next_seq, changes=changes,
                           lost=next_seq - len(taken) - start_seq)

    def capacity(self, map_name: str) -> int:
        self._check(map_name, 0)
        return self._capacity[map_name]

    async def shipped(self, map_name: str, partition: int, count: int) -> None:
        self._check(map_name, partition)
        with self._lock:
            value = give_credits(self._credits.get((map_name, partition)), count, self.bound(map_name))[0]
            if value is not None:
                self._credits[(map_name, partition)] = value

    async def credits(self, map_name: str, partition: int) -> CreditCount | None:
        self._check(map_name, partition)
        with self._lock:
            value = self._credits.get((map_name, partition))
            return None if value is None else CreditCount(int(value["credits"]), dict(value))

    async def restore_credits(self, map_name: str, partition: int, seen: CreditCount) -> bool:
        self._check(map_name, partition)
        with self._lock:
            if self._credits.get((map_name, partition)) != seen.seen:
                return False
            del self._credits[(map_name, partition)]
            return True

    async def position(self, map_name: str, partition: int) -> int | None:
        self._check(map_name, partition)
        with self._lock:
            return self._positions.get((map_name, partition))

    async def store_position(self, map_name: str, partition: int, next_seq: int) -> None:
        self._check(map_name, partition)
        if next_seq < 0:
            raise ValueError("next_seq must be >= 0")
        with self._lock:
            self._positions[(map_name, partition)] = next_seq

    async def keys_in_partition(self, map_name: str, partition: int) -> list[str]:
        self._check(map_name, partition)
        with self._lock:
            items = self._grid._live_items(map_name)
        return [k for k, _ in items if self.partition_of(k) == partition]

    async def reship(self, map_name: str, keys: Sequence[str]) -> int:
        """Append each present key's current value (old == new), atomically per key.

        Under the grid's lock a key cannot change between reading and appending, which is
        what Hazelcast's ``replace_if_same(key, v, v)`` achieves with a compare-and-set.
        Absent keys append nothing (a removal cannot be re-shipped from the map).
        """
        self._check(map_name, 0)
        appended = 0
        for key in keys:
            with self._lock:
                entry = self._grid._live(map_name, key)
                if entry is not None:
                    self.append(map_name, key, entry.data, entry.data)
                    appended += 1
        return appended


def _load(data: bytes | None) -> dict | None:
    return None if data is None else orjson.loads(data)
