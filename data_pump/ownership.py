"""Shard ownership: which journal shards this pump ships, and clean hand-overs.

Several pumps split the shards between them by following Kafka's group assignment of
the control topic (one partition per shard; see
docs/decisions/0006-stripe-ownership-via-control-topic.md): the pump that is assigned
partition *s* ships shard *s* (the journals of grid partitions ``p % SHARDS == s``). This module is the Kafka-free
half: it runs one drain task per owned shard and, when shards are released, waits
until their tasks stopped with no batch in flight. Faust awaits the revocation callback
before the group rebalance completes, so a new owner never starts on a shard while the
old one still ships from it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable, Iterable

log = logging.getLogger("spacegrid.pump")

#: pump shards = partitions of the control topic; fixed for the life of that topic (the
#: unit of pump fail-over: a shard holds about 271 / 16 grid partitions of every entity map)
SHARDS = 16

#: drains one shard until the event is set (e.g. a partial of shipping.drain_shard)
ShardLoop = Callable[[int, asyncio.Event], Awaitable[None]]


class ShardDrainer:
    """One drain task per owned shard; ``own``/``release`` change the set safely."""

    def __init__(self, loop_for: ShardLoop, on_change: Callable[[int], None] | None = None) -> None:
        self._loop_for = loop_for
        self._on_change = on_change
        self._tasks: dict[int, tuple[asyncio.Event, asyncio.Task[None]]] = {}
        self._lock = asyncio.Lock()

    @property
    def owned(self) -> frozenset[int]:
        return frozenset(self._tasks)

    async def own(self, shards: Iterable[int]) -> None:
        """Drain exactly ``shards``: release the others first, then start the new ones."""
        wanted = set(shards)
        async with self._lock:
            await self._stop(set(self._tasks) - wanted)
            for shard in sorted(wanted - set(self._tasks)):
                stop = asyncio.Event()
                task = asyncio.create_task(self._run(shard, stop), name=f"pump-shard-{shard}")
                self._tasks[shard] = (stop, task)
            self._changed()

    async def release(self, shards: Iterable[int]) -> None:
        """Stop draining ``shards``; returns once their in-flight batches finished."""
        async with self._lock:
            await self._stop(set(shards) & set(self._tasks))
            self._changed()

    async def release_all(self) -> None:
        await self.release(list(self._tasks))

    async def _stop(self, shards: set[int]) -> None:
        if not shards:
            return
        entries = [self._tasks.pop(s) for s in shards]
        for stop, _ in entries:
            stop.set()
        await asyncio.gather(*(task for _, task in entries), return_exceptions=True)
        log.info("released shards %s", sorted(shards))

    async def _run(self, shard: int, stop: asyncio.Event) -> None:
        log.info("draining shard %s", shard)
        try:
            await self._loop_for(shard, stop)
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug, not an outage (outages are retried inside the loop)
            log.exception("drain loop of shard %s crashed", shard)
            raise

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change(len(self._tasks))
