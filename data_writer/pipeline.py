"""The body of every writer loop, Faust agent or in-process channel: one batch until it commits.

:meth:`BatchWriter.write` returns only once the batch is in the database and its poison
is dead-lettered, so the caller may then acknowledge the batch (commit Kafka offsets).
A database outage makes it wait and retry, with capped exponential backoff and jitter,
for as long as it lasts: progress stops, nothing is lost. Cancellation (shutdown) leaves
the batch un-acknowledged for the caller to redeliver.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import time
from typing import Any, Iterable, Mapping, Protocol, Sequence

from data_writer.batching import Poison, oldest_changed_at, prepare
from data_writer.errors import SinkUnavailable
from data_writer.metrics import WriterMetrics
from data_writer.ports import ApplyResult, Sink
from grid_config.events import ChangeEvent

log = logging.getLogger("spacegrid.writer")

Raw = bytes | Mapping[str, Any] | ChangeEvent


class DeadLetters(Protocol):
    """Where poison goes: Kafka's dead-letter topic, or the database in embedded mode."""

    async def publish(self, poison: Sequence[Poison]) -> None:
        """Return only once every record is durably stored; raise to be retried."""


class SinkDeadLetters:
    """Embedded mode: keep poison in the database's ``dead_letters`` table."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink

    async def publish(self, poison: Sequence[Poison]) -> None:
        await self.sink.record_dead_letters(poison)


def backoff(attempt: int, base: float = 0.1, cap: float = 5.0) -> float:
    """Full-jitter exponential backoff (seconds) for the ``attempt``-th retry."""
    return random.uniform(0, min(cap, base * 2 ** min(attempt, 16)))


class BatchWriter:
    """Prepare, apply, dead-letter, retry deferred orders; metrics on the way."""

    def __init__(
        self,
        sink: Sink,
        dead_letters: DeadLetters,
        metrics: WriterMetrics | None = None,
        max_backoff_s: float = 5.0,
        expiry_reason: str = "parents missing past the deferral max age",
    ) -> None:
        self.sink = sink
        self.dead_letters = dead_letters
        self.metrics = metrics or WriterMetrics()
        self.max_backoff_s = max_backoff_s
        self.expiry_reason = expiry_reason
        self._tokens = itertools.count()
        #: one batch at a time per writer (the sink has one connection anyway)
        self._lock = asyncio.Lock()

    async def write(self, raws: Iterable[Raw]) -> ApplyResult:
        """Apply one batch; returns after commit (retrying transient failures forever)."""
        prepared = prepare(raws)
        self.metrics.events.inc(prepared.received)
        token = next(self._tokens)
        self.metrics.batch_started(token, oldest_changed_at(prepared.events))
        started = time.monotonic()
        result = await self._until_done(lambda: self.sink.apply(prepared.events), "apply a batch")
        poison = prepared.poison + result.poison
        if poison:
            await self._until_done(lambda: self.dead_letters.publish(poison), "dead-letter poison")
            self.metrics.deadletters.labels("poison").inc(len(poison))
            for p in poison:
                log.warning("dead-lettered %s: %s", p.event.id if p.event else "undecodable event", p.error)
        self.metrics.batch_done(token, result, time.monotonic() - started)
        if any(e.kind in ("users", "products") for e in prepared.events) or result.deferred:
            await self.retry_deferred()
        result.poison = poison
        return result

    async def retry_deferred(self) -> ApplyResult:
        """Apply deferred orders whose parents arrived; dead-letter the expired ones.

        Best effort: a failure here is logged and retried by the next call (timer or batch);
        deferred orders are already durable in the database.
        """
        try:
            async with self._lock:
                result = await self.sink.retry_deferred()
                if result.expired:
                    await self.dead_letters.publish([Poison(self.expiry_reason, event=e) for e in result.expired])
                    await self.sink.drop_deferred(result.expired)
                    self.metrics.deadletters.labels("expired").inc(len(result.expired))
                self.metrics.deferred.set(result.deferred)
                if result.written:
                    self.metrics.rows.labels("written").inc(result.written)
                return result
        except (SinkUnavailable, OSError) as e:
            log.warning("deferred orders not retried now: %s", e)
            return ApplyResult()

    async def _until_done(self, call: Any, what: str) -> Any:
        attempt = 0
        while True:
            try:
                async with self._lock:
                    return await call()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - transient by contract; bugs keep being logged too
                attempt += 1
                self.metrics.db_failures.inc()
                self.metrics.db_up.set(0)
                self.metrics.refresh_lag()
                delay = backoff(attempt, cap=self.max_backoff_s)
                log.warning("cannot %s (attempt %d, retry in %.2fs): %s", what, attempt, delay, e)
                await asyncio.sleep(delay)
