"""Shipping: outbox stripe -> publisher, the pump's whole reliability logic (G2).

One batch at a time per stripe: take records, enqueue every one in order, wait for every
acknowledgement, and only then commit (forget) the batch. Any failure rolls the batch
back, so its records return to the head of the stripe in order and the next attempt
re-ships them: a record is forgotten only after the broker acknowledged it, and a replay
repeats a suffix of a key's history, never reorders it.

A record that does not decode (poison) must not stop its stripe: it is published to the
dead-letter topic with its original bytes and the error in a header, acknowledged like
any record, and forgotten with its batch.

Used unchanged by the Faust pump (Kafka publisher) and the embedded mode (in-process
channel).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable

import orjson

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_random_exponential

from data_pump.errors import PublishFailed
from data_pump.metrics import PumpMetrics
from data_pump.publisher import Publisher
from grid_config.errors import GridError, OutboxDisturbed
from grid_config.events import ChangeEvent, dead_letter_headers
from grid_config.names import Names
from grid_config.ports import ChangeBatch, Grid, UndecodableRecord

log = logging.getLogger("spacegrid.pump")

#: failures worth a retry with backoff: the broker or the grid is (hopefully briefly) away
RETRYABLE = (PublishFailed, GridError)


async def _settle(acks: list[Awaitable[Any]]) -> list[Any]:
    """Wait until every acknowledgement settled; return results and exceptions alike.

    Never abandon an in-flight send: if a retry were published while an older send of the
    same record is still pending, the older one could land last and step a key back.
    """
    return list(await asyncio.gather(*acks, return_exceptions=True))


def dead_letter_key(raw: bytes) -> bytes:
    """The entity id of a poison record when it can still be read, else an empty key."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return b""
    entity_id = doc.get("id") if isinstance(doc, dict) else None
    return str(entity_id).encode() if isinstance(entity_id, (str, int)) else b""


async def ship_batch(
    grid: Grid,
    names: Names,
    publisher: Publisher,
    stripe: int,
    max_items: int,
    metrics: PumpMetrics | None = None,
) -> list[ChangeEvent]:
    """Ship one batch of a stripe; return the events shipped (empty: the stripe was empty).

    Raises :class:`PublishFailed` after rolling the batch back when any record was not
    acknowledged; grid errors propagate (the grid returns an uncommitted batch itself).
    """
    batch = await grid.take_changes(stripe, max_items)
    events, poison = batch.events, list(batch.poison)
    if metrics is not None:
        metrics.record_head(stripe, events[0].changed_at if events else None)
    if not events and not poison:
        await batch.commit()
        return []
    if metrics is not None:
        metrics.in_flight.inc()
    try:
        await _publish_then_forget(batch, names, publisher, stripe, events, poison, metrics)
    finally:
        if metrics is not None:
            metrics.in_flight.dec()
    if metrics is not None:
        metrics.record_shipped(len(events))
        metrics.record_dead_letters(len(poison))
    return events


async def _publish_then_forget(
    batch: ChangeBatch,
    names: Names,
    publisher: Publisher,
    stripe: int,
    events: list[ChangeEvent],
    poison: list[UndecodableRecord],
    metrics: PumpMetrics | None,
) -> None:
    """Enqueue every record, wait for every ack, then commit; roll back on any failure."""
    acks: list[Awaitable[Any]] = []
    try:
        for event in events:
            acks.append(await publisher.send(names.topic(event.kind), event.key, event.to_bytes()))
        for bad in poison:
            log.error("stripe %s: undecodable change record -> %s: %s", stripe, names.deadletter_topic, bad.error)
            headers = dead_letter_headers(bad.error, names.outbox(stripe))
            acks.append(await publisher.send(names.deadletter_topic, dead_letter_key(bad.raw), bad.raw, headers))
        outcomes = await _settle(acks)
        errors = [o for o in outcomes if isinstance(o, BaseException)]
        if errors:
            raise PublishFailed(
                f"stripe {stripe}: {len(errors)} of {len(acks)} records not acknowledged: {errors[0]!r}"
            ) from errors[0]
    except BaseException as e:
        # also on cancellation (revoke, shutdown): the records go back, in order
        await _settle(acks)
        await batch.rollback()
        if metrics is not None and not isinstance(e, asyncio.CancelledError):
            metrics.record_failure()
        if isinstance(e, Exception) and not isinstance(e, PublishFailed):
            raise PublishFailed(f"stripe {stripe}: publishing failed: {e!r}") from e
        raise
    try:
        await batch.commit()
    except OutboxDisturbed as e:
        await _ship_removed_untaken(names, publisher, stripe, e.records)


async def _ship_removed_untaken(names: Names, publisher: Publisher, stripe: int, records: list[bytes]) -> None:
    """Ship records a commit removed without having taken them (they exist only here now).

    Happens only when the stripe had a second taker or a late removal executed; they are
    the next records of the stripe, so shipping them before the next take keeps per-key
    order. Retried until acknowledged: a crash in this window is the one way to lose them.
    """
    log.error("stripe %s: commit removed %d records it had not shipped; shipping them now",
              stripe, len(records))
    events, poison = [], []
    for raw in records:
        try:
            events.append((raw, ChangeEvent.from_bytes(raw)))
        except Exception as e:  # noqa: BLE001 - poison
            poison.append(UndecodableRecord(raw=raw, error=f"{type(e).__name__}: {e}"))
    delay = 0.05
    while True:
        acks: list[Awaitable[Any]] = []
        try:
            for raw, event in events:
                acks.append(await publisher.send(names.topic(event.kind), event.key, raw))
            for bad in poison:
                headers = dead_letter_headers(bad.error, names.outbox(stripe))
                acks.append(await publisher.send(names.deadletter_topic, dead_letter_key(bad.raw), bad.raw, headers))
            errors = [o for o in await _settle(acks) if isinstance(o, BaseException)]
            if not errors:
                return
            log.error("stripe %s: %d removed records not acknowledged yet: %r", stripe, len(errors), errors[0])
        except PublishFailed as e:
            await _settle(acks)
            log.error("stripe %s: removed records not published yet: %s", stripe, e)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 5.0)


async def _sleep_unless_stopped(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except asyncio.TimeoutError:
        pass


def _log_retry(stripe: int) -> Callable[[RetryCallState], None]:
    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "shipping stripe %s failed (attempt %s), retrying in %.2fs: %s",
            stripe,
            state.attempt_number,
            state.next_action.sleep if state.next_action else 0.0,
            exc,
        )

    return before_sleep


async def drain_stripe(
    grid: Grid,
    names: Names,
    publisher: Publisher,
    stripe: int,
    stop: asyncio.Event,
    *,
    batch_size: int = 500,
    idle_s: float = 0.05,
    max_backoff_s: float = 5.0,
    metrics: PumpMetrics | None = None,
) -> None:
    """Ship a stripe until ``stop`` is set; returns with no batch in flight.

    Failures are retried forever with exponential backoff and jitter (an outage stops
    progress and loses nothing); ``stop`` interrupts the backoff and the idle wait, never
    a batch half-way (the batch in flight is committed or rolled back first).
    """
    retrying = AsyncRetrying(
        retry=retry_if_exception_type(RETRYABLE),
        wait=wait_random_exponential(multiplier=0.05, max=max_backoff_s),
        stop=lambda _state: stop.is_set(),
        sleep=lambda seconds: _sleep_unless_stopped(stop, seconds),
        before_sleep=_log_retry(stripe),
        reraise=True,
    )
    while not stop.is_set():
        try:
            shipped = await retrying(ship_batch, grid, names, publisher, stripe, batch_size, metrics)
        except RETRYABLE:
            break  # stopped while failing: the failed batch was already rolled back
        if not shipped:
            await _sleep_unless_stopped(stop, idle_s)
    if metrics is not None:
        metrics.forget_stripe(stripe)
