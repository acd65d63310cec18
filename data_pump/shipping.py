"""Shipping: map journals -> publisher, the pump's whole reliability logic (G2).

One reader per (entity map, partition), in sequence order: read the entries after the
stored position, turn each into its change event, enqueue every one in order, wait for
every acknowledgement, and only then hand the new position over to be stored in the grid
(:class:`PositionCommits`: many journals at once, off the reader's path). A failed publish
stores nothing, so the next attempt reads and ships the same entries again: a position
moves only past what the broker acknowledged, and a replay (after a failure or a pump
killed at any instant) repeats a suffix of a key's history, never reorders it, because a
key lives in one partition and every partition is read in order by one reader.

A gap (entries overwritten before they were read: the journal is a bounded ring) is
counted, logged as an error, and repaired by re-shipping the current state of every
entity of that partition: the newest state of each key is then the last one shipped,
which is what the writers' version guard needs. G7 exists so that this never happens.

An entry that is not a valid entity (poison) must not stop its partition: it goes to the
dead-letter topic with the error in a header, and the position moves past it.

Used unchanged by the Faust pump (Kafka publisher) and the embedded mode (in-process
channel).
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, TypeVar

import orjson
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_random_exponential

from data_pump.errors import PublishFailed
from data_pump.metrics import PumpMetrics
from data_pump.publisher import Publisher
from grid_config.change_log import ChangeLog, JournalChange, JournalRead
from grid_config.errors import GridError, PoisonEvent
from grid_config.events import META_FIELD, ChangeEvent, dead_letter_headers, event_from_value
from grid_config.names import Names
from grid_config.resending import first_then_retrying

log = logging.getLogger("spacegrid.pump")
T = TypeVar("T")

#: failures worth a retry with backoff: the broker or the grid is (hopefully briefly) away
RETRYABLE = (PublishFailed, GridError)

#: how long a released shard waits for its last positions to be stored
RELEASE_DRAIN_S = 10.0

#: called after a position was stored: (map name, partition, entries shipped)
Shipped = Callable[[str, int, int], Awaitable[None]]


@dataclass(frozen=True)
class Poison:
    """A journal entry that is not a valid change (dead-lettered, then skipped)."""

    change: JournalChange
    error: str

    def raw(self) -> bytes:
        return orjson.dumps({"key": self.change.key, "value": self.change.value, "old": self.change.old})


def to_events(kind: str, changes: list[JournalChange]) -> tuple[list[ChangeEvent], list[Poison]]:
    """The change events of a run of journal entries (pure), and the entries that are poison."""
    events, poison = [], []
    for change in changes:
        try:
            events.append(event_from_value(kind, change.key, change.value, change.old))
        except PoisonEvent as e:
            poison.append(Poison(change, str(e)))
    return events, poison


async def _settle(acks: list[Awaitable[Any]]) -> list[Any]:
    """Wait until every acknowledgement settled; never abandon an in-flight send (a retry
    published while an older send of the same record is pending could step a key back)."""
    return list(await asyncio.gather(*acks, return_exceptions=True))


async def publish_in_order(
    publisher: Publisher, names: Names, source: str, events: list[ChangeEvent], poison: list[Poison]
) -> None:
    """Enqueue every event (and dead letter) in order, then wait for every ack.

    Raises :class:`PublishFailed` unless every record was acknowledged.
    """
    acks: list[Awaitable[Any]] = []
    try:
        for event in events:
            acks.append(await publisher.send(names.topic(event.kind), event.key, event.to_bytes()))
        for bad in poison:
            log.error("%s: journal entry of key %r is not a valid change -> %s: %s",
                      source, bad.change.key, names.deadletter_topic, bad.error)
            acks.append(await publisher.send(names.deadletter_topic, bad.change.key.encode(), bad.raw(),
                                             dead_letter_headers(bad.error, source)))
    except BaseException:
        await _settle(acks)
        raise
    errors = [o for o in await _settle(acks) if isinstance(o, BaseException)]
    if errors:
        raise PublishFailed(f"{source}: {len(errors)} of {len(acks)} records not acknowledged: {errors[0]!r}") \
            from errors[0]


class PositionCommits:
    """Stores the positions of many journals together, then gives their credits back.

    A journal hands its new position over once Kafka acknowledged its batch and goes on
    reading at once: storing is not on its path (a store of many journals' positions took
    a journal ~200 ms p50 under load, while its next entries waited). Hand-overs that arrive
    while a flush runs go into the next one; a journal with a hand-over still waiting keeps
    one entry (the newest position, the entries shipped summed), so what waits is bounded
    by the number of journals. Positions are stored before their credits are given back: a
    crash in between keeps those credits taken, the safe side of G7. A failed store or
    give is kept and tried again with backoff; a position that is never stored only means
    its entries are shipped again (a repeated suffix, G2), with their credits then.
    """

    def __init__(self, change_log: ChangeLog, on_shipped: Shipped | None = None, *,
                 max_backoff_s: float = 5.0) -> None:
        self.change_log = change_log
        self.on_shipped = on_shipped
        self.max_backoff_s = max_backoff_s
        #: journal -> (next sequence, entries shipped since the last stored position)
        self._pending: dict[tuple[str, int], tuple[int, int]] = {}
        self._flushing: asyncio.Task[None] | None = None
        self._failures = 0

    def hand_over(self, map_name: str, partition: int, next_seq: int, shipped: int) -> None:
        """Have ``next_seq`` stored for this journal (with whatever else waits), then the
        credits of ``shipped`` entries given back; returns at once."""
        self._merge({(map_name, partition): (next_seq, shipped)})
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.ensure_future(self._flush())

    async def drain(self, timeout_s: float) -> bool:
        """Wait (at most ``timeout_s``) until every hand-over is stored and given back;
        False when some are not (they are dropped: their entries ship again, G2)."""
        if self._flushing is not None and not self._flushing.done():
            try:
                await asyncio.wait_for(asyncio.shield(self._flushing), timeout_s)
            except asyncio.TimeoutError:
                pass
        if self._flushing is not None and not self._flushing.done():
            self._flushing.cancel()
            await asyncio.gather(self._flushing, return_exceptions=True)
        left = len(self._pending)
        self._pending.clear()
        if left:
            log.warning("%d journal positions not stored at release; their entries will be shipped again", left)
        return not left

    def _merge(self, more: dict[tuple[str, int], tuple[int, int]]) -> None:
        for journal, (next_seq, shipped) in more.items():
            seq, count = self._pending.get(journal, (next_seq, 0))
            self._pending[journal] = (max(seq, next_seq), count + shipped)

    async def _flush(self) -> None:
        while self._pending:
            pending, self._pending = self._pending, {}
            try:
                await self.change_log.store_positions({j: seq for j, (seq, _) in pending.items()})
            except Exception as e:  # noqa: BLE001 - kept, stored with the next flush
                self._merge(pending)
                await self._back_off(f"storing {len(pending)} journal positions failed: {e!r}")
                continue
            gives = [(j, n) for j, (_, n) in pending.items() if n]
            if self.on_shipped is None or not gives:
                self._failures = 0
                continue
            outcomes = await asyncio.gather(*(self.on_shipped(m, p, n) for (m, p), n in gives),
                                            return_exceptions=True)
            failed = {j: (pending[j][0], n) for (j, n), o in zip(gives, outcomes) if isinstance(o, BaseException)}
            if failed:  # the position is stored again with them (harmless), then given
                self._merge(failed)
                await self._back_off(f"giving back the credits of {len(failed)} journals failed: "
                                     f"{next(o for o in outcomes if isinstance(o, BaseException))!r}")
            else:
                self._failures = 0

    async def _back_off(self, what: str) -> None:
        self._failures += 1
        delay = min(self.max_backoff_s, 0.05 * 2 ** min(self._failures, 10)) * random.uniform(0.5, 1.0)
        log.warning("%s; retrying in %.2fs", what, delay)
        await asyncio.sleep(delay)


class PartitionShipper:
    """Ships one (map, partition) journal; ``ship_once`` is one read-publish-store step."""

    def __init__(
        self,
        change_log: ChangeLog,
        names: Names,
        publisher: Publisher,
        map_name: str,
        partition: int,
        *,
        batch_size: int = 500,
        metrics: PumpMetrics | None = None,
        on_shipped: Shipped | None = None,
        commits: PositionCommits | None = None,
    ) -> None:
        self.change_log = change_log
        self.commits = commits
        self.names = names
        self.publisher = publisher
        self.map_name = map_name
        self.partition = partition
        self.kind = names.kind_of(map_name)
        self.source = f"{map_name}#{partition}"
        self.batch_size = batch_size
        self.metrics = metrics
        self.on_shipped = on_shipped
        self.position: int | None = None

    async def start_position(self) -> int:
        """The stored position, or (never shipped) 0: the journal's first entry ever.

        Starting a never-shipped journal at 0 rather than at its oldest entry means a
        journal that overwrote entries before any pump read them reports them as lost
        (they were real changes; G7 prevents it, and a cold load stores positions past
        what it loaded, see data_reader.loader.skip_loaded).
        """
        if self.position is None:
            stored = await self.change_log.position(self.map_name, self.partition)
            self.position = 0 if stored is None else stored
        return self.position

    async def ship_once(self, wait: bool = False) -> int:
        """Read after the position, ship, store the new position; returns entries shipped."""
        return await self.ship(await self.read_next(wait))

    async def read_next(self, wait: bool = False) -> JournalRead:
        """The entries after the position (``wait``: at least one, parked on the member
        until there is one); nothing is stored."""
        start = await self.start_position()
        read = await self.change_log.read(self.map_name, self.partition, start, self.batch_size, wait=wait)
        if self.metrics is not None:
            journal = (self.map_name, self.partition)
            if len(read.changes) < self.batch_size:
                self.metrics.caught_up.add(journal)
            else:
                self.metrics.caught_up.discard(journal)
        return read

    async def ship(self, read: JournalRead) -> int:
        """Publish what :meth:`read_next` returned, then store the new position; returns
        entries shipped. Raises (storing nothing) unless every record was acknowledged."""
        start = self.position if self.position is not None else read.start_seq
        if read.lost > 0:
            await self._repair_gap(start, read.lost)
        if not read.changes:
            if read.next_seq != start:  # clamped forward (gap) or journal recreated: follow it
                await self._store(read.next_seq, 0)
            return 0
        events, poison = to_events(self.kind, read.changes)
        if self.metrics is not None:
            self.metrics.record_head(self.source, events[0].changed_at if events else None)
            self.metrics.in_flight.inc()
        try:
            await publish_in_order(self.publisher, self.names, self.source, events, poison)
        except BaseException as e:
            if self.metrics is not None and not isinstance(e, asyncio.CancelledError):
                self.metrics.record_failure()
            if isinstance(e, Exception) and not isinstance(e, (PublishFailed, GridError)):
                raise PublishFailed(f"{self.source}: publishing failed: {e!r}") from e
            raise
        finally:
            if self.metrics is not None:
                self.metrics.in_flight.dec()
        await self._store(read.next_seq, len(read.changes))
        if self.metrics is not None:
            self.metrics.record_shipped(len(events))
            self.metrics.record_dead_letters(len(poison))
            self.metrics.record_head(self.source, None)
        return len(read.changes)

    async def _store(self, next_seq: int, shipped: int) -> None:
        if self.commits is not None:
            self.commits.hand_over(self.map_name, self.partition, next_seq, shipped)
        else:
            await self.change_log.store_position(self.map_name, self.partition, next_seq)
            if self.on_shipped is not None and shipped:
                await self.on_shipped(self.map_name, self.partition, shipped)
        self.position = next_seq
        if self.metrics is not None:
            self.metrics.record_position(self.map_name, self.partition, next_seq)

    async def _repair_gap(self, start: int, lost: int) -> None:
        """Entries were overwritten unread: count, log, and re-ship the partition's state."""
        if self.metrics is not None:
            self.metrics.record_lost(self.map_name, lost)
        keys = await self.change_log.keys_in_partition(self.map_name, self.partition)
        log.error(
            "%s: %d journal entries were overwritten before they were shipped (read from %d); "
            "re-shipping the current state of the partition's %d entities",
            self.source, lost, start, len(keys),
        )
        await self.change_log.reship(self.map_name, keys)


async def _sleep_unless_stopped(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except asyncio.TimeoutError:
        pass


async def _unless_stopped(stop: asyncio.Event, work: Awaitable[T]) -> T | None:
    """Await ``work`` unless ``stop`` is set first (then cancel it and return None)."""
    task = asyncio.ensure_future(work)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
    if task.done():
        return task.result()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return None


def _log_retry(source: str) -> Callable[[RetryCallState], None]:
    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning("shipping %s failed (attempt %s), retrying in %.2fs: %s", source, state.attempt_number,
                    state.next_action.sleep if state.next_action else 0.0, exc)

    return before_sleep


async def ship_partition(shipper: PartitionShipper, stop: asyncio.Event, *, max_backoff_s: float = 5.0) -> None:
    """Ship one journal until ``stop`` is set; returns with nothing half-shipped.

    Waiting for new entries is a long poll that ``stop`` interrupts; a batch being
    published is never interrupted (its position is stored or not, both safe). Failures
    are retried forever with exponential backoff and jitter: an outage stops progress
    and loses nothing.
    """
    def retrying() -> AsyncRetrying:
        return AsyncRetrying(
            retry=retry_if_exception_type(RETRYABLE),
            wait=wait_random_exponential(multiplier=0.05, max=max_backoff_s),
            stop=lambda _state: stop.is_set(),
            sleep=lambda seconds: _sleep_unless_stopped(stop, seconds),
            before_sleep=_log_retry(shipper.source),
            reraise=True,
        )

    async def step(wait: bool) -> None:
        # only the wait for entries is interrupted by ``stop``; a batch once read is
        # published and its position handed over whole: a pump handing its shards over
        # never leaves a send behind that could land after the next owner's
        read = await _unless_stopped(stop, shipper.read_next(wait=wait))
        if read is not None:
            await shipper.ship(read)

    # the first read answers at once (an idle journal is then known to be caught up, and
    # the gauges stop asking for its bounds); every later one waits for at least one entry
    # (answered at once when there are some): a journal that just shipped its batch costs
    # no extra empty read
    wait = False
    while not stop.is_set():
        try:
            # the happy path without tenacity's per-call bookkeeping (measured: it doubled
            # the pump's CPU per batch); a failure enters the retry loop as its first attempt
            await first_then_retrying(lambda: step(wait), RETRYABLE, retrying)
            wait = True
        except RETRYABLE:
            break  # stopped while failing: nothing was stored, the next owner re-ships
    if shipper.metrics is not None:
        shipper.metrics.record_head(shipper.source, None)


def shard_partitions(change_log: ChangeLog, shard: int, shards: int) -> list[tuple[str, int]]:
    """The (map, partition) journals of one pump shard: partitions ``p`` with ``p % shards == shard``."""
    return [(m, p) for m in change_log.journaled_maps
            for p in range(shard, change_log.partition_count, shards)]


async def ship_shard(
    change_log: ChangeLog,
    names: Names,
    publisher: Publisher,
    shard: int,
    shards: int,
    stop: asyncio.Event,
    *,
    batch_size: int = 500,
    max_backoff_s: float = 5.0,
    metrics: PumpMetrics | None = None,
    on_shipped: Shipped | None = None,
) -> None:
    """Ship every journal of one shard until ``stop`` is set (one reader per journal)."""
    journals = shard_partitions(change_log, shard, shards)
    try:
        stored: dict[tuple[str, int], int] | None = await change_log.positions(journals)  # one bulk read
    except GridError as e:
        log.warning("cannot read the stored positions of shard %s yet (each journal retries): %s", shard, e)
        stored = None
    commits = PositionCommits(change_log, on_shipped, max_backoff_s=max_backoff_s)
    shippers = []
    for m, p in journals:
        shipper = PartitionShipper(change_log, names, publisher, m, p, batch_size=batch_size, metrics=metrics,
                                   commits=commits)
        if stored is not None:
            shipper.position = stored.get((m, p), 0)
        shippers.append(shipper)
    try:
        await asyncio.gather(*(ship_partition(s, stop, max_backoff_s=max_backoff_s) for s in shippers))
    finally:
        # the shard's last positions stored before it goes to another pump (bounded: what
        # is not stored by then is shipped again by the next owner)
        await commits.drain(RELEASE_DRAIN_S)


@dataclass
class JournalStatus:
    """One journaled map over the journals looked at: what waits to be shipped."""

    unshipped: int = 0
    #: un-shipped / capacity of the fullest partition (1.0: entries are being overwritten)
    fill: float = 0.0
    #: ``changed_at`` of the oldest un-shipped entry (None: nothing waits, or not asked)
    oldest_changed_at: str | None = None
    #: journals (partitions) with a stored position
    positions: int = 0
    #: G7 (asked with ``credits``): credits taken and not given back over the journals
    #: (un-shipped entries, writers' unspent leases, and leaks the pump has yet to restore)
    credits_taken: int | None = None
    #: the smallest budget left of one journal, and the bound it is out of
    fewest_credits: int | None = None
    credit_bound: int | None = None


async def journal_status(
    change_log: ChangeLog,
    parts: list[tuple[str, int]],
    positions: dict[tuple[str, int], int] | None = None,
    *,
    oldest: bool = False,
    credits: bool = False,
    concurrency: int = 32,
) -> dict[str, JournalStatus]:
    """Un-shipped entries and fill per map over ``parts`` (positions: given, else stored).

    ``oldest`` also reads the first un-shipped entry of every journal for its age;
    ``credits`` also reads every journal's credit entry (G7).
    """
    gate = asyncio.Semaphore(concurrency)

    async def one(map_name: str, partition: int) -> tuple[str, int, bool, str | None, int | None]:
        left = None
        async with gate:
            if credits:
                count = await change_log.credits(map_name, partition)
                left = change_log.bound(map_name) if count is None else count.credits
            bounds = await change_log.bounds(map_name, partition)
            stored = (positions or {}).get((map_name, partition))
            if positions is None:
                stored = await change_log.position(map_name, partition)
            start = bounds.oldest if stored is None else max(stored, bounds.oldest)
            waiting = max(0, bounds.newest + 1 - start)
            head = None
            if oldest and waiting:
                first = await change_log.read(map_name, partition, start, 1)
                if first.changes and isinstance(first.changes[0].value, dict):
                    meta = first.changes[0].value.get(META_FIELD) or {}
                    head = meta.get("changed_at") if isinstance(meta, dict) else None
        return map_name, waiting, stored is not None, head, left

    out = {m: JournalStatus() for m in change_log.journaled_maps}
    if credits:
        for m, status in out.items():
            status.credits_taken, status.credit_bound = 0, change_log.bound(m)
    for map_name, waiting, positioned, head, left in await asyncio.gather(*(one(m, p) for m, p in parts)):
        status = out[map_name]
        if left is not None:
            status.credits_taken = (status.credits_taken or 0) + change_log.bound(map_name) - left
            status.fewest_credits = left if status.fewest_credits is None else min(status.fewest_credits, left)
        status.unshipped += waiting
        status.fill = max(status.fill, waiting / change_log.capacity(map_name))
        status.positions += positioned
        if head is not None and (status.oldest_changed_at is None or head < status.oldest_changed_at):
            status.oldest_changed_at = head
    return out


def every_journal(change_log: ChangeLog) -> list[tuple[str, int]]:
    return [(m, p) for m in change_log.journaled_maps for p in range(change_log.partition_count)]


async def refresh_unshipped(change_log: ChangeLog, metrics: PumpMetrics, shards: frozenset[int], total: int) -> None:
    """Set the un-shipped and fill gauges of every journaled map from the owned journals.

    Only journals that are behind (last read was a full batch, or never read) cost a bounds
    call; a caught-up journal's reader is parked on its next entry and ships it at once.
    """
    parts = [mp for shard in sorted(shards) for mp in shard_partitions(change_log, shard, total)
             if mp not in metrics.caught_up]
    statuses = await journal_status(change_log, parts, metrics.positions)
    for map_name, status in statuses.items():
        metrics.record_unshipped(map_name, status.unshipped, status.fill)


async def unshipped(change_log: ChangeLog) -> int:
    """Journal entries not shipped yet, over every journal (stored positions)."""
    statuses = await journal_status(change_log, every_journal(change_log))
    return sum(s.unshipped for s in statuses.values())
