"""The grid port: the space, as units, the reader and verify use it.

Two adapters implement it: :mod:`grid_config.local_grid` (in-process, embedded mode and
unit tests) and :mod:`grid_config.hazelcast_grid` (a Hazelcast cluster). One contract test
suite (``tests/contract/grid_contract.py``) runs against both. What the pump needs, the
change record, is the second port: each grid's :attr:`Grid.change_log`
(:mod:`grid_config.change_log`).

Values are JSON-able dicts; keys are strings. Entity dicts carry their id under ``"id"``;
ids are decimal strings (Flake ids exceed 2^53) and order numerically, so paging orders
by ``(len(id), id)``.

Writes are single-key and atomic, never transactions (decision 0020): ``put``,
``put_if_absent`` (a commit point), ``update`` (compare-and-set of one value) and
``execute`` (an entry processor: one step run where the entry lives, e.g. a stock hold).
Work that spans keys is a saga of such steps in the processing unit.

Every write to an entity (journaled) map appends its change record to that map's journal
in the same partition operation (G1, G2), stamped with the change's time and request id
(``grid_config.events.stamped``); values read back never carry the stamp. A write that
would push a journal past its bound of un-shipped entries raises
:class:`~grid_config.errors.BacklogFull` instead (G7).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable, Mapping, Sequence, TypeVar

from grid_config.names import Names

A = TypeVar("A")

if TYPE_CHECKING:
    from grid_config.change_log import ChangeLog
    from grid_config.entry_processors import MemberStep

Value = dict[str, Any]
#: ``update``'s change: the current value (None: absent) -> the new value (None: write nothing)
Change = Callable[[Value | None], Value | None]


def below_all(value: Mapping[str, Any], below: Mapping[str, int] | None) -> bool:
    """Every field of ``below`` is a number in ``value`` and less than its bound
    (``Grid.query(below=...)`` in process)."""
    return all(isinstance(value.get(f), (int, float)) and not isinstance(value.get(f), bool)
               and value[f] < bound for f, bound in (below or {}).items())


def id_order(entity_id: str) -> tuple[int, str]:
    """Sort key of decimal-string ids: numeric order without converting to int."""
    return (len(entity_id), entity_id)


@dataclass(frozen=True)
class Page:
    items: list[Value]
    next_cursor: str | None


class Grid(abc.ABC):
    """The space: partitioned maps, their journals (:attr:`change_log`) and an id generator."""

    names: Names
    change_log: "ChangeLog"

    async def start(self) -> None:
        """Connect (adapters connect here, never at import or construction)."""

    async def close(self) -> None:
        """Disconnect and release threads."""

    # ---- reads -------------------------------------------------------------------
    @abc.abstractmethod
    async def get(self, map_name: str, key: str) -> Value | None: ...

    @abc.abstractmethod
    async def get_many(self, map_name: str, keys: Sequence[str]) -> dict[str, Value]: ...

    @abc.abstractmethod
    async def query(
        self,
        map_name: str,
        equals: Mapping[str, Any] | None = None,
        after: str | None = None,
        limit: int = 50,
        *,
        below: Mapping[str, int] | None = None,
    ) -> Page:
        """Entities whose fields equal ``equals`` and are less than ``below``, with id after
        cursor ``after``, by id. A field of ``below`` must hold a number wherever it is
        present (Hazelcast refuses to compare a string with a number); an entity without
        it never matches."""

    @abc.abstractmethod
    def entries(self, map_name: str, batch: int = 1000) -> AsyncIterator[tuple[str, Value]]:
        """Every entry of a map, in batches (drift check, benchmarks)."""

    @abc.abstractmethod
    async def size(self, map_name: str) -> int: ...

    # ---- single-key writes (atomic per key; stamped with request_id on journaled maps) ----
    @abc.abstractmethod
    async def put(
        self, map_name: str, key: str, value: Value, ttl_s: float | None = None, *, request_id: str = ""
    ) -> None: ...

    @abc.abstractmethod
    async def put_if_absent(
        self, map_name: str, key: str, value: Value, ttl_s: float | None = None, *, request_id: str = ""
    ) -> Value | None:
        """Store ``value`` if ``key`` is free; return the existing value otherwise (a commit point)."""

    @abc.abstractmethod
    async def replace_if_same(self, map_name: str, key: str, expected: Value, new: Value) -> bool:
        """Compare-and-set on the whole value (helper maps: their values carry no stamp)."""

    @abc.abstractmethod
    async def update(self, map_name: str, key: str, change: Change, *, request_id: str = "") -> Value | None:
        """Apply ``change`` to the current value atomically (compare-and-set, rerun on a lost race).

        ``change`` is pure and may run several times; an exception it raises aborts the
        update and propagates. Returns the value stored afterwards (the current one when
        ``change`` returned None). Raises :class:`~grid_config.errors.WriteConflict` when
        it keeps losing to other writers.
        """

    @abc.abstractmethod
    async def execute(self, map_name: str, key: str, step: "MemberStep[A]") -> A:
        """Run one entry processor on ``key`` where the entry lives (one round trip, atomic):
        a stock step, or several as one change (``StockSteps``).

        On Hazelcast the member runs the Java class with the step's ids; in-process,
        ``step.apply``. The step stamps what it changes itself (it carries the request id
        and time: processors are deterministic, backups re-run them).
        """

    @abc.abstractmethod
    async def delete(self, map_name: str, key: str) -> None: ...

    @abc.abstractmethod
    async def put_all(self, map_name: str, entries: Mapping[str, Value]) -> None:
        """Bulk load (cold start by the reader); journaled, but takes no credits (G7): the
        reader moves the pump's positions past what it loaded."""

    # ---- the cluster ----------------------------------------------------------------------
    async def members(self) -> list[dict[str, Any]]:
        """The members holding the space: ``{"address", "owned", "backups"}`` (partitions
        owned, backup replicas held); the dashboard shows them. Empty when unknown."""
        return []

    # ---- ids -------------------------------------------------------------------------
    @abc.abstractmethod
    async def new_id(self) -> str:
        """A cluster-unique, roughly time-ordered id as a decimal string."""
