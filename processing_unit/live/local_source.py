"""In-process adapter of the change-source port: the embedded mode's channel, tapped.

``spacegrid up`` hands :meth:`LocalSource.offer` to the in-process channel as its tap: every
record the embedded pump ships is offered here right after it entered the channel. The
stream has one lane; offsets count the records offered, and the stream id is new on every
run (the in-process stream keeps no history: a cursor of an earlier run is too old).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets

from grid_config.errors import PoisonEvent
from grid_config.events import ChangeEvent
from grid_config.names import Names
from processing_unit.live.source import Ingest

log = logging.getLogger("spacegrid.live")


class LocalSource:
    """The change-source port over the embedded channel (one lane)."""

    def __init__(self, names: Names) -> None:
        self._topics = {names.topic("orders"), names.topic("products")}
        self._offsets = itertools.count()
        self._into: Ingest | None = None
        self.stream = "l" + secrets.token_hex(4)

    def offer(self, topic: str, value: bytes) -> None:
        """One shipped record (the channel's tap; synchronous, never raises)."""
        offset = next(self._offsets)
        into = self._into
        if into is None or topic not in self._topics:
            return
        try:
            event: ChangeEvent | None = ChangeEvent.from_bytes(value)
        except PoisonEvent:
            event = None
        try:
            into.ingest(0, offset, event)
        except Exception:  # noqa: BLE001 - the pump must not fail for a notification
            log.exception("live hub could not take a change")

    async def run(self, into: Ingest) -> None:
        """Deliver from the next offered record on, until cancelled."""
        into.reset(self.stream, [self._peek()])
        self._into = into
        try:
            await asyncio.Event().wait()
        finally:
            self._into = None

    def _peek(self) -> int:
        n = next(self._offsets)
        self._offsets = itertools.count(n)
        return n
