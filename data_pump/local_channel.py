"""The embedded mode's change stream: a bounded in-process channel instead of Kafka.

The pump ships into it through the same :class:`~data_pump.publisher.Publisher` port it
uses for Kafka; the embedded writer reads from it. The channel is bounded: when the
writer falls behind, ``send`` waits for room, the pump stops taking records, the grid's
journals fill to their bound and units answer 503 (G7) -- memory never grows without limit.

A record counts as acknowledged once it is in the channel. Channel and grid live and die
in the same process (embedded durability is write-behind: docs/architecture.md, "Two modes"), so acknowledging
later would protect nothing.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from typing import Awaitable, Callable, Mapping

from data_pump.errors import ChannelClosed


@dataclass(frozen=True)
class ChannelRecord:
    topic: str
    key: bytes
    value: bytes
    #: position in the channel, increasing by one per record (like a Kafka offset)
    offset: int
    headers: Mapping[str, bytes] | None = None


#: records offered to the tap between two turns of the event loop
TAP_TURN = 16


class LocalChannel:
    """Bounded FIFO of published records; one or more consumers take them in order."""

    def __init__(self, maxsize: int = 10_000, tap: Callable[[str, bytes], None] | None = None) -> None:
        """``tap(topic, value)`` is told of every record once it is in the channel (the
        embedded mode's live notifications read the stream there); it must not block or raise."""
        if maxsize < 1:
            raise ValueError("maxsize must be >= 1")
        self.maxsize = maxsize
        self._tap = tap
        self._queue: asyncio.Queue[ChannelRecord] = asyncio.Queue(maxsize)
        self._offsets = itertools.count()
        self._closed = False

    # ---- publisher side (the Publisher port) --------------------------------------
    async def send(
        self, topic: str, key: bytes, value: bytes, headers: Mapping[str, bytes] | None = None
    ) -> Awaitable[int]:
        """Append a record, waiting for room; the returned awaitable yields its offset."""
        if self._closed:
            raise ChannelClosed("the in-process channel is closed")
        record = ChannelRecord(topic, key, value, next(self._offsets), headers)
        await self._queue.put(record)
        if self._tap is not None:
            self._tap(topic, value)
            if record.offset % TAP_TURN == TAP_TURN - 1:
                # let the tap's readers (the live sockets' senders) drain between records of
                # a long batch: a burst is not a client too slow to read
                await asyncio.sleep(0)
        ack: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        ack.set_result(record.offset)
        return ack

    async def flush(self) -> None:
        """Nothing to wait for: a record is acknowledged when it is in the channel."""

    def close(self) -> None:
        """Refuse further sends (records already in the channel can still be read)."""
        self._closed = True

    @property
    def closed(self) -> bool:
        return self._closed

    # ---- consumer side (the embedded writer) --------------------------------------
    def qsize(self) -> int:
        return self._queue.qsize()

    async def get(self) -> ChannelRecord:
        """The next record, waiting for one."""
        return await self._queue.get()

    async def get_batch(self, max_items: int, timeout_s: float) -> list[ChannelRecord]:
        """Up to ``max_items`` records: waits up to ``timeout_s`` for the first, not for more."""
        batch: list[ChannelRecord] = []
        try:
            batch.append(await asyncio.wait_for(self._queue.get(), timeout_s))
        except asyncio.TimeoutError:
            return batch
        while len(batch) < max_items:
            try:
                batch.append(self._queue.get_nowait())
            except asyncio.QueueEmpty:
                break
        return batch
