"""The change-log port: what the pump needs from the space (G2, G7).

Every entity map keeps an event journal per partition: each write appends one entry
(the new value, or a removal) in the same partition operation as the write, replicated
with the map's backups. Sequences are per (map, partition) and only grow; a journal holds
its newest ``capacity`` entries and silently overwrites older ones, so a reader that fell
behind sees a gap (:attr:`JournalRead.lost`), which G7 exists to prevent.

Two adapters, each reached as ``grid.change_log`` of its grid: the in-process one
(:mod:`grid_config.local_change_log`, kept by :class:`~grid_config.local_grid.LocalGrid`;
same semantics: per-partition sequences, capacity, overwrite) and the Hazelcast one
(:mod:`grid_config.hazelcast_change_log`: the IMap event journal read over the client
protocol, :mod:`grid_config.hazelcast_journal`). Which maps are journaled is given to the
grid (default ``Names.journaled_maps``), never named by an adapter. One contract suite
(``tests/contract/change_log_contract.py``) runs on both.

What appends: every write that changes a journaled map (put, an entry processor that changed it,
put_if_absent that stored, replace_if_same that replaced, delete of a present key, each
key of put_all), one entry each; a write that changes nothing appends nothing. A
``put_all`` (the reader's cold start) is journaled too, so it ships again.

The pump stores how far it shipped each (map, partition) in the grid itself
(:meth:`ChangeLog.store_position`), only after Kafka acknowledged, so a pump killed at
any instant resumes from there and repeats at most a suffix.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Mapping, Sequence

from grid_config.ports import Value


@dataclass(frozen=True)
class JournalChange:
    """One journal entry: ``key`` went from ``old`` to ``value`` (None: absent/removed)."""

    seq: int
    key: str
    value: Value | None
    old: Value | None = None


@dataclass(frozen=True)
class JournalRead:
    """What one read of one (map, partition) journal returned.

    ``next_seq`` is where the next read starts. ``lost`` counts entries that were
    overwritten before this read reached them (a gap); 0 when nothing was skipped.
    """

    start_seq: int
    next_seq: int
    changes: list[JournalChange]
    lost: int = 0


@dataclass(frozen=True)
class JournalBounds:
    """Oldest and newest sequence a journal still holds (``newest < oldest``: empty)."""

    oldest: int
    newest: int


@dataclass(frozen=True)
class CreditCount:
    """A journal's credit entry as read (G7): ``credits`` left, and ``seen``, the stored
    value itself, for :meth:`ChangeLog.restore_credits`'s compare-and-set."""

    credits: int
    seen: object


class ChangeLog(abc.ABC):
    """The journals of the entity maps, the pump's stored positions, re-shipping."""

    #: the journaled maps, as given to the grid (default ``Names.journaled_maps``); every
    #: method taking a ``map_name`` refuses another map with ValueError
    journaled_maps: tuple[str, ...]

    @property
    @abc.abstractmethod
    def partition_count(self) -> int:
        """Partitions per map (the same for every map).

        Hazelcast knows it only once connected (GridUnavailable before)."""

    @abc.abstractmethod
    def partition_of(self, key: str) -> int:
        """The partition ``key`` lives in (the same in every map)."""

    @abc.abstractmethod
    def capacity(self, map_name: str) -> int:
        """Entries one partition's journal of ``map_name`` holds before overwriting."""

    @abc.abstractmethod
    async def bounds(self, map_name: str, partition: int) -> JournalBounds:
        """Oldest and newest sequence still in this journal."""

    @abc.abstractmethod
    async def read(
        self, map_name: str, partition: int, start_seq: int, max_items: int = 500, wait: bool = False
    ) -> JournalRead:
        """Entries from ``start_seq`` on (at most ``max_items``), oldest first.

        A start older than the oldest entry held reads from that one (``lost > 0``); a start
        beyond the end reads nothing (``next_seq == start_seq``, ``lost == 0``), or, when
        waiting, the next entry written, with ``lost < 0`` (the journal is behind the reader:
        recreated). Adapters may return fewer than ``max_items`` (Hazelcast: 1,000 per read).
        ``wait=True`` returns only once at least one entry exists at or after
        ``start_seq`` (a long poll; cancel the awaiting task to stop waiting).
        """

    @abc.abstractmethod
    async def position(self, map_name: str, partition: int) -> int | None:
        """The next sequence to ship, as stored by :meth:`store_position` (None: never)."""

    async def positions(self, journals: Sequence[tuple[str, int]]) -> dict[tuple[str, int], int]:
        """The stored positions of many journals at once (absent: never stored).

        Adapters with a bulk read override this; the default asks one by one.
        """
        found = {}
        for map_name, partition in journals:
            position = await self.position(map_name, partition)
            if position is not None:
                found[(map_name, partition)] = position
        return found

    @abc.abstractmethod
    async def store_position(self, map_name: str, partition: int, next_seq: int) -> None:
        """Remember that everything before ``next_seq`` was shipped (after Kafka's ack)."""

    @abc.abstractmethod
    async def shipped(self, map_name: str, partition: int, count: int) -> None:
        """``count`` entries of this journal were shipped (after storing the position):
        the writes' budget for this journal grows back by as much (G7)."""

    @abc.abstractmethod
    def bound(self, map_name: str) -> int:
        """G7: the most un-shipped entries one partition's journal of ``map_name`` may hold."""

    @abc.abstractmethod
    async def credits(self, map_name: str, partition: int) -> CreditCount | None:
        """This journal's credit entry (None: there is none, which is the whole budget)."""

    @abc.abstractmethod
    async def restore_credits(self, map_name: str, partition: int, seen: CreditCount) -> bool:
        """Give the journal its whole budget back (the entry goes) if the entry is still
        exactly ``seen``; False, changing nothing, when anything took or gave since.

        For the pump's reconciliation of leaked credits (:mod:`data_pump.reconcile`) only:
        it is right only when nothing is un-shipped and no writer holds a credit.
        """

    async def store_positions(self, positions: Mapping[tuple[str, int], int]) -> None:
        """:meth:`store_position` for many journals at once (adapters with a bulk write override)."""
        for (map_name, partition), next_seq in positions.items():
            await self.store_position(map_name, partition, next_seq)

    @abc.abstractmethod
    async def keys_in_partition(self, map_name: str, partition: int) -> list[str]:
        """Every key of ``map_name`` in ``partition`` (gap repair; on Hazelcast O(map size))."""

    @abc.abstractmethod
    async def reship(self, map_name: str, keys: Sequence[str]) -> int:
        """Append the current value of each key to its journal again; returns how many.

        How lost or drifted entities are shipped again (gap repair, ``verify --repair``):
        the value is rewritten unchanged only if nobody changed it meanwhile (a concurrent
        write journals itself), so a re-ship never steps a key back. Absent keys append
        nothing: a removal lost in a gap is not repaired here (``verify`` sees the row).
        """
