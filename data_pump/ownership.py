"""Stripe ownership: which outbox stripes this pump drains, and clean hand-overs.

Several pumps split the stripes between them by following Kafka's group assignment of
the control topic (one partition per stripe; see docs/decisions/0006-stripe-ownership-via-control-topic.md): the
pump that is assigned partition *s* drains stripe *s*. This module is the Kafka-free
half: it runs one drain task per owned stripe and, when stripes are released, waits
until their tasks stopped with no batch in flight. Faust awaits the revocation callback
before the group rebalance completes, so a new owner never starts on a stripe while the
old one still ships from it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable, Iterable

log = logging.getLogger("spacegrid.pump")

#: drains one stripe until the event is set (e.g. a partial of shipping.drain_stripe)
StripeLoop = Callable[[int, asyncio.Event], Awaitable[None]]


class StripeDrainer:
    """One drain task per owned stripe; ``own``/``release`` change the set safely."""

    def __init__(self, loop_for: StripeLoop, on_change: Callable[[int], None] | None = None) -> None:
        self._loop_for = loop_for
        self._on_change = on_change
        self._tasks: dict[int, tuple[asyncio.Event, asyncio.Task[None]]] = {}
        self._lock = asyncio.Lock()

    @property
    def owned(self) -> frozenset[int]:
        return frozenset(self._tasks)

    async def own(self, stripes: Iterable[int]) -> None:
        """Drain exactly ``stripes``: release the others first, then start the new ones."""
        wanted = set(stripes)
        async with self._lock:
            await self._stop(set(self._tasks) - wanted)
            for stripe in sorted(wanted - set(self._tasks)):
                stop = asyncio.Event()
                task = asyncio.create_task(self._run(stripe, stop), name=f"pump-stripe-{stripe}")
                self._tasks[stripe] = (stop, task)
            self._changed()

    async def release(self, stripes: Iterable[int]) -> None:
        """Stop draining ``stripes``; returns once their in-flight batches finished."""
        async with self._lock:
            await self._stop(set(stripes) & set(self._tasks))
            self._changed()

    async def release_all(self) -> None:
        await self.release(list(self._tasks))

    async def _stop(self, stripes: set[int]) -> None:
        if not stripes:
            return
        entries = [self._tasks.pop(s) for s in stripes]
        for stop, _ in entries:
            stop.set()
        await asyncio.gather(*(task for _, task in entries), return_exceptions=True)
        log.info("released stripes %s", sorted(stripes))

    async def _run(self, stripe: int, stop: asyncio.Event) -> None:
        log.info("draining stripe %s", stripe)
        try:
            await self._loop_for(stripe, stop)
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug, not an outage (outages are retried inside the loop)
            log.exception("drain loop of stripe %s crashed", stripe)
            raise

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change(len(self._tasks))
