"""The embedded mode's writer: the in-process channel -> the same :class:`BatchWriter` -> SQLite.

``spacegrid up`` runs :func:`run_embedded` as an asyncio task next to the unit and the
pump. A batch closes at ``batch_size`` records or ``interval_s`` after its first record,
whichever comes first (the schedule of ``stream.take`` in the Faust writer).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Protocol

from data_writer.pipeline import BatchWriter

log = logging.getLogger("spacegrid.writer")


class Channel(Protocol):
    """What the writer needs of ``data_pump.local_channel.LocalChannel``."""

    async def get_batch(self, max_items: int, timeout_s: float) -> list[Any]: ...


async def take(channel: Channel, max_items: int, within_s: float, idle_s: float) -> list[Any]:
    """Wait up to ``idle_s`` for a first record, then collect until full or ``within_s`` passed."""
    batch = await channel.get_batch(max_items, idle_s)
    if not batch:
        return batch
    deadline = time.monotonic() + within_s
    while len(batch) < max_items:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        more = await channel.get_batch(max_items - len(batch), left)
        if not more:
            break
        batch.extend(more)
    return batch


async def run_embedded(
    channel: Channel,
    writer: BatchWriter,
    stop: asyncio.Event,
    *,
    batch_size: int = 500,
    interval_s: float = 1.0,
) -> None:
    """Write batches from ``channel`` until ``stop`` is set and the channel is drained."""
    last_retry = time.monotonic()
    while True:
        batch = await take(channel, batch_size, interval_s, idle_s=min(interval_s, 0.2))
        if batch:
            await writer.write([getattr(r, "value", r) for r in batch])
        elif stop.is_set():
            return
        if time.monotonic() - last_retry >= interval_s:
            await writer.retry_deferred()
            last_retry = time.monotonic()
