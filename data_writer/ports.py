"""The sink port: what the writer needs from a database, whatever the dialect.

Adapters: :mod:`data_writer.sqlite` (embedded mode), :mod:`data_writer.postgres`,
:mod:`data_writer.mssql`; :func:`data_writer.factory.sink_from_url` picks one. One
contract suite (``tests/contract/sink_contract.py``) runs against every dialect it can
reach. All methods are coroutines; adapters run their blocking driver in a dedicated
thread, never on the event loop.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, AsyncIterator, Sequence

from data_writer.batching import Poison
from grid_config.events import ChangeEvent


@dataclass
class ApplyResult:
    """What one :meth:`Sink.apply` transaction did (it committed when this is returned)."""

    #: rows written (newer than what the database had)
    written: int = 0
    #: events ignored by the version guard (older or equal to the stored version)
    stale: int = 0
    #: orders stored in ``deferred_orders`` because a parent is missing
    deferred: int = 0
    #: events the database refused: dead-letter them, the rest was committed
    poison: list[Poison] = field(default_factory=list)
    #: deferred orders past their max age (only from :meth:`Sink.retry_deferred`); dead-letter
    #: them, then call :meth:`Sink.drop_deferred`
    expired: list[ChangeEvent] = field(default_factory=list)

    def merge(self, other: "ApplyResult") -> "ApplyResult":
        return ApplyResult(
            self.written + other.written,
            self.stale + other.stale,
            self.deferred + other.deferred,
            self.poison + other.poison,
            self.expired + other.expired,
        )


@dataclass(frozen=True)
class EntityRow:
    """One stored entity as the drift check and the cold-start reader see it."""

    id: str
    version: int
    deleted: bool
    state: dict[str, Any]
    changed_at: datetime
    persisted_at: datetime


class Sink(abc.ABC):
    """A database the writer applies change events to, idempotently (G3)."""

    @abc.abstractmethod
    async def migrate(self) -> int:
        """Bring the schema to the newest version; safe when several writers start at once.

        Returns the schema version now in place.
        """

    @abc.abstractmethod
    async def apply(self, events: Sequence[ChangeEvent]) -> ApplyResult:
        """Apply a prepared batch (see :func:`data_writer.batching.prepare`) in one transaction.

        Version-guarded: an older or equal version never overwrites a newer row. Orders
        with missing parents are deferred. Events the database refuses come back as
        poison and do not stop the others. Raises
        :class:`~data_writer.errors.SinkUnavailable` on transient failure (nothing applied).
        """

    @abc.abstractmethod
    async def retry_deferred(self, now: datetime | None = None) -> ApplyResult:
        """Apply deferred orders whose parents arrived; report the expired ones."""

    @abc.abstractmethod
    async def drop_deferred(self, events: Sequence[ChangeEvent]) -> None:
        """Forget deferred orders (after they were dead-lettered)."""

    @abc.abstractmethod
    async def deferred_count(self) -> int: ...

    @abc.abstractmethod
    async def fetch_versions(self, kind: str, ids: Sequence[str]) -> dict[str, int]:
        """Stored version per id (tombstones included); absent ids are left out."""

    @abc.abstractmethod
    def read_entities(self, kind: str, page: int = 1000) -> AsyncIterator[EntityRow]:
        """Every row of one kind, tombstones included, by id (drift check, reader)."""

    @abc.abstractmethod
    async def record_dead_letters(self, poison: Sequence[Poison]) -> None:
        """Keep poison in the database's ``dead_letters`` table (embedded mode has no topic)."""

    async def close(self) -> None:
        """Release connections and the worker thread."""
