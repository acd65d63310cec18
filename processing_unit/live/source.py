"""The change-source port: how the hub reads the change stream, whatever carries it.

Two adapters: :mod:`~processing_unit.live.kafka_source` (the pump's Kafka topics,
distributed mode) and :mod:`~processing_unit.live.local_source` (the in-process channel of
``spacegrid up``). One contract suite (``tests/contract/live_source_contract.py``) runs
against both.
"""

from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

from grid_config.events import ChangeEvent


class Ingest(Protocol):
    """What a source feeds (the hub)."""

    #: the id of the stream it was last reset to ("" before)
    stream: str

    def reset(self, stream: str, starts: Sequence[int]) -> None:
        """The stream's id and, per lane, the first offset the source will deliver."""

    def ingest(self, lane: int, offset: int, event: ChangeEvent | None) -> None:
        """One record of a lane, lanes each in offset order (None: a record that is not a
        change event of interest, e.g. undecodable: the position still moves past it)."""

    def position(self) -> tuple[int, ...] | None:
        """Per lane, the next offset expected (None before :meth:`reset`)."""


@runtime_checkable
class ChangeSource(Protocol):
    async def run(self, into: Ingest) -> None:
        """Feed ``into`` until cancelled: :meth:`Ingest.reset` once the lanes are known,
        then every order and product change (starting about the retention window back
        where the stream keeps history), reconnecting on failures."""
