"""The body of every writer loop, Faust agent or in-process channel: one batch until it commits.

:meth:`BatchWriter.write` returns only once the batch is in the database and its poison
is dead-lettered, so the caller may then acknowledge the batch (commit Kafka offsets).

Failures are told apart (tenacity does the waiting, full-jitter exponential backoff):

- *transient* (:data:`TRANSIENT`: the database or the broker is away): retried for as
  long as the outage lasts; progress stops, nothing is lost, it resumes by itself;
- anything else is *unexpected* (bad data the checks missed, or a bug): the batch is
  retried a few times, then applied event by event; an event that fails on its own is
  dead-lettered with the error (poison isolation: healthy keys go on). When *every*
  event of a batch fails alone the writer itself is broken, not the events: it halts on
  that batch (``spacegrid_writer_halted`` = 1, an ERROR log per attempt) instead of
  dead-lettering everything or spinning silently.

Cancellation (shutdown, rebalance) leaves the batch un-acknowledged for the caller to
redeliver.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from typing import Any, Awaitable, Callable, Iterable, Mapping, Protocol, Sequence, TypeVar

from tenacity import AsyncRetrying, RetryCallState, stop_never, wait_random_exponential

from data_writer.batching import Poison, oldest_changed_at, prepare
from data_writer.errors import DeadLetterUnavailable, SinkUnavailable
from data_writer.metrics import WriterMetrics
from data_writer.ports import ApplyResult, Sink
from grid_config.events import ChangeEvent

log = logging.getLogger("spacegrid.writer")

Raw = bytes | Mapping[str, Any] | ChangeEvent
T = TypeVar("T")

#: dependency failures: wait and retry, forever (an outage stops progress, loses nothing)
TRANSIENT: tuple[type[BaseException], ...] = (SinkUnavailable, DeadLetterUnavailable, OSError, asyncio.TimeoutError)


def is_transient(e: BaseException) -> bool:
    return isinstance(e, TRANSIENT)


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


class BatchWriter:
    """Prepare, apply, dead-letter, retry deferred orders; metrics on the way."""

    def __init__(
        self,
        sink: Sink,
        dead_letters: DeadLetters,
        metrics: WriterMetrics | None = None,
        max_backoff_s: float = 5.0,
        expiry_reason: str = "parents missing past the deferral max age",
        unexpected_attempts: int = 3,
        ready: Callable[[], Awaitable[Any]] | None = None,
    ) -> None:
        self.sink = sink
        self.dead_letters = dead_letters
        self.metrics = metrics or WriterMetrics()
        self.max_backoff_s = max_backoff_s
        self.expiry_reason = expiry_reason
        #: tries of a batch that fails with an unexpected error before it is split up
        self.unexpected_attempts = unexpected_attempts
        #: awaited before each batch (the Faust writer: schema migrated), inside the lag window
        self.ready = ready
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
        if self.ready is not None:
            await self.ready()
        result = await self._apply(prepared.events)
        poison = prepared.poison + result.poison
        if poison:
            await self._retrying(lambda: self.dead_letters.publish(poison), "dead-letter poison", None)
            self.metrics.deadletters.labels("poison").inc(len(poison))
            for p in poison:
                log.warning("dead-lettered %s: %s", f"{p.event.kind} {p.event.id}" if p.event else "a record", p.error)
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
        except Exception as e:  # noqa: BLE001 - never kills the agent; classified and counted
            self._count_failure(e)
            if is_transient(e):
                log.warning("deferred orders not retried now: %s", e)
            else:
                log.error("deferred orders not retried (unexpected error)", exc_info=e)
            return ApplyResult()

    # ---- failures ---------------------------------------------------------------------
    async def _apply(self, events: Sequence[ChangeEvent]) -> ApplyResult:
        """Apply with retries; isolate events that keep failing with an unexpected error."""
        try:
            return await self._retrying(lambda: self.sink.apply(events), "apply a batch", self.unexpected_attempts)
        except Exception as e:  # noqa: BLE001 - not transient (those are retried forever)
            first = e
        if len(events) == 1:
            return ApplyResult(poison=[_unexpected(events[0], first)])
        log.error("batch of %d keeps failing (%s): applying event by event", len(events), _describe(first))
        result, failed = ApplyResult(), []
        for ev in events:  # parents-first order is kept
            try:
                one = await self._retrying(lambda ev=ev: self.sink.apply([ev]), "apply one event", 1)
                result = result.merge(one)
            except Exception as e:  # noqa: BLE001 - this event alone fails: it is the poison
                failed.append(_unexpected(ev, e))
        if len(failed) < len(events):
            result.poison.extend(failed)
            return result
        # every event fails alone: the writer (or its database schema) is broken, not the data
        self.metrics.halted.set(1)
        log.error("every event of a batch of %d fails alone (%s): writer halted on it", len(events), _describe(first))
        try:
            return await self._retrying(lambda: self.sink.apply(events), "apply a batch (halted)", None)
        finally:
            self.metrics.halted.set(0)

    async def _retrying(self, call: Callable[[], Awaitable[T]], what: str, unexpected_attempts: int | None) -> T:
        """Run ``call`` until it succeeds: transient failures forever, unexpected ones
        ``unexpected_attempts`` times (``None``: forever too), then re-raise."""

        def should_retry(state: RetryCallState) -> bool:
            e = state.outcome.exception() if state.outcome else None
            if e is None or isinstance(e, asyncio.CancelledError):
                return False
            self._count_failure(e)  # every failed attempt, also the last one
            return is_transient(e) or unexpected_attempts is None or state.attempt_number < unexpected_attempts

        def before_sleep(state: RetryCallState) -> None:
            e = state.outcome.exception() if state.outcome else None
            if e is None:
                return
            self.metrics.refresh_lag()
            delay = state.next_action.sleep if state.next_action else 0.0
            if is_transient(e):
                log.warning("cannot %s (attempt %d, retry in %.2fs): %s", what, state.attempt_number, delay, e)
            else:
                log.error("cannot %s: unexpected error (attempt %d, retry in %.2fs)", what, state.attempt_number,
                          delay, exc_info=e)

        async for attempt in AsyncRetrying(
            retry=should_retry,
            wait=wait_random_exponential(multiplier=0.1, max=self.max_backoff_s),
            stop=stop_never,
            before_sleep=before_sleep,
            reraise=True,
        ):
            with attempt:
                async with self._lock:
                    return await call()
        raise AssertionError("unreachable")  # pragma: no cover

    def _count_failure(self, e: BaseException) -> None:
        if is_transient(e):
            if not isinstance(e, DeadLetterUnavailable):
                self.metrics.db_failures.inc()
                self.metrics.db_up.set(0)
            self.metrics.errors.labels("transient").inc()
        else:
            self.metrics.errors.labels("unexpected").inc()


def _describe(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"


def _unexpected(event: ChangeEvent, e: BaseException) -> Poison:
    log.error("event %s %s v%d cannot be written", event.kind, event.id, event.version, exc_info=e)
    return Poison(f"writer error: {_describe(e)}"[:4000], event=event)
