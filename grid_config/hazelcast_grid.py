"""Hazelcast adapter of the grid port, on the classic hazelcast-python-client (5.7).

Why the classic client: it has transactions (the asyncio client does not), and G1 needs
the entity writes and their change records in one transaction. Its non-transactional
calls return ``hazelcast.future.Future``; :func:`_bridge` turns them into asyncio
futures without a thread per call. Its transactions are bound to the thread that began
them, so a whole unit of work (:meth:`HazelcastGrid.transact`) runs in one worker of a
bounded thread pool. Reads, queries and single-key writes go through a second client on
the asyncio API (:mod:`grid_config.hazelcast_asyncio`), on the event loop itself. No map
is near-cached (decision 0017). The outbox is *written* transactionally but *read* without a
transaction (see :meth:`HazelcastGrid.take_changes` for why).

Values are stored as :class:`~hazelcast.core.HazelcastJsonValue` (canonical orjson, sorted
keys) so members evaluate predicates server-side. Paging orders by numeric id: for keys
that are decimal ids below 2^63 the stored JSON carries a reserved field ``_sk`` (the key
as a JSON integer) that the cursor predicate compares; it is stripped on read.

Every hazelcast exception is translated in :func:`_translate` (``raise ... from e``).
Lock ordering: a unit of work that reads several keys for update must read them in a
deterministic order (e.g. sorted product ids), or two transactions can deadlock until
one's lock wait times out (reported as :class:`TransactionConflict`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections import Counter
from typing import Any, AsyncIterator, Callable, Mapping, Sequence, TypeVar

import orjson

from grid_config.errors import BacklogFull, GridError, GridUnavailable, OutboxDisturbed, TransactionConflict
from grid_config.events import ChangeEvent, in_entity_order
from grid_config.hazelcast_asyncio import AsyncioSide
from grid_config.names import Names
from grid_config.ports import ChangeBatch, Grid, Page, Tx, UndecodableRecord, Value, id_order
from grid_config.settings import CommonSettings

T = TypeVar("T")
log = logging.getLogger(__name__)

SORT_FIELD = "_sk"
#: how old a stripe-size snapshot may be for a transaction to skip its size call (G7)
SNAPSHOT_TTL_S = 1.0
_MAX_SK = 2**63


# ---- value encoding ------------------------------------------------------------------
def _sort_key(key: str) -> int | None:
    if key.isascii() and key.isdigit():
        n = int(key)
        if n < _MAX_SK:
            return n
    return None


def _encode(key: str, value: Value) -> Any:
    from hazelcast.core import HazelcastJsonValue

    sk = _sort_key(key)
    doc = value if sk is None else {**value, SORT_FIELD: sk}
    return HazelcastJsonValue(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS).decode())


def _decode(stored: Any) -> Value | None:
    if stored is None:
        return None
    value = orjson.loads(stored.to_string())
    value.pop(SORT_FIELD, None)
    return value


# ---- error translation: the one place ---------------------------------------------------
def _translate(e: BaseException) -> GridError:
    """Map a hazelcast (or timeout) exception onto the grid's error classes."""
    from hazelcast import errors as he

    if isinstance(e, GridError):
        return e
    if isinstance(e, (he.TransactionError, he.TransactionTimedOutError, he.TransactionNotActiveError)):
        return TransactionConflict(f"transaction failed, safe to retry: {e}")
    if isinstance(e, he.ReachedMaxSizeError):
        return BacklogFull(f"outbox queue at its configured max-size: {e}")
    if isinstance(e, he.IllegalStateError) and "connect" in str(e).lower():
        return GridUnavailable(f"cannot reach the Hazelcast cluster: {e}")
    if isinstance(
        e,
        (
            he.ClientOfflineError,
            he.HazelcastClientNotActiveError,
            he.TargetDisconnectedError,
            he.OperationTimeoutError,
            he.HazelcastTimeoutError,
            he.SplitBrainProtectionError,
            he.MemberLeftError,
            he.HazelcastInstanceNotActiveError,
            he.IndeterminateOperationStateError,
            he.HazelcastIOError,
            he.NoDataMemberInClusterError,
            TimeoutError,
            asyncio.TimeoutError,
            OSError,
        ),
    ):
        return GridUnavailable(f"Hazelcast unavailable: {type(e).__name__}: {e}")
    return GridError(f"Hazelcast error: {type(e).__name__}: {e}")


def _is_driver_error(e: BaseException) -> bool:
    from hazelcast.errors import HazelcastError

    return isinstance(e, (HazelcastError, TimeoutError, OSError))


def _bridge(hz_future: Any) -> "asyncio.Future[Any]":
    """A hazelcast Future as an asyncio future: callback from the reactor thread, no extra thread."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[Any] = loop.create_future()

    def settle(result: Any, error: BaseException | None) -> None:
        if fut.done():
            return
        if error is not None:
            fut.set_exception(error)
        else:
            fut.set_result(result)

    def on_done(f: Any) -> None:
        try:
            result, error = f.result(), None
        except BaseException as e:  # noqa: BLE001 - handed to the awaiting coroutine
            result, error = None, e
        try:
            loop.call_soon_threadsafe(settle, result, error)
        except RuntimeError:  # loop closed: nobody is waiting any more
            pass

    hz_future.add_done_callback(on_done)
    return fut


# ---- transactions ---------------------------------------------------------------------------
def _rollback_quietly(tx: Any) -> None:
    try:
        tx.rollback()
    except Exception as e:  # noqa: BLE001 - the member rolls back at tx timeout anyway
        log.debug("rollback failed: %s", e)


class _HazelcastTx(Tx):
    """The unit of work's view of one Hazelcast transaction (runs on the transaction's thread)."""

    def __init__(self, grid: "HazelcastGrid", tx: Any) -> None:
        self._grid = grid
        self._tx = tx
        self._maps: dict[str, Any] = {}
        self._queues: dict[int, Any] = {}
        self._stripe_size: dict[int, int | None] = {}

    def _map(self, name: str) -> Any:
        m = self._maps.get(name)
        if m is None:
            m = self._maps[name] = self._tx.get_map(name)
        return m

    def get(self, map_name: str, key: str) -> Value | None:
        return _decode(self._map(map_name).get_for_update(key))

    def put(self, map_name: str, key: str, value: Value) -> None:
        self._map(map_name).set(key, _encode(key, value))

    def delete(self, map_name: str, key: str) -> None:
        self._map(map_name).delete(key)

    def record(self, event: ChangeEvent) -> None:
        stripe = self._grid.names.stripe_of(event.id)
        queue = self._queues.get(stripe)
        if queue is None:
            queue = self._queues[stripe] = self._tx.get_queue(self._grid.names.outbox(stripe))
            # one size call per stripe and transaction (our own offers are counted locally),
            # skipped when a fresh snapshot shows the stripe far below its bound
            self._stripe_size[stripe] = None if self._grid._far_below_bound(stripe) else queue.size()
        known = self._stripe_size[stripe]
        if known is not None and known >= self._grid.stripe_bound:
            raise BacklogFull(f"outbox stripe {stripe} holds {self._grid.stripe_bound} records (its bound)")
        # a bytearray is stored as a Java byte[] (bytes would be pickled by the client)
        if not queue.offer(bytearray(event.to_bytes()), 0):
            raise BacklogFull(f"outbox stripe {stripe} is at its configured max-size")
        if known is not None:
            self._stripe_size[stripe] = known + 1
        self._grid._offered_since_snapshot[stripe] += 1


# ---- outbox records as serialized Data (no client-side deserialization, never unpickled) ----
_BYTE_ARRAY_TYPE = -12  # Hazelcast's serialization type id of byte[]


def _stored_payload(stored: bytes) -> bytes | None:
    """The record inside a serialized outbox item (a byte[]), or None for any other type.

    Layout of a heap Data: partition hash (4), type id (4), then for byte[] its length (4)
    and the bytes, big endian.
    """
    if len(stored) < 12 or int.from_bytes(stored[4:8], "big", signed=True) != _BYTE_ARRAY_TYPE:
        return None
    size = int.from_bytes(stored[8:12], "big", signed=True)
    return stored[12 : 12 + size] if size >= 0 else b""


def _decode_record(stored: bytes) -> tuple[bytes, ChangeEvent | None, UndecodableRecord | None]:
    payload = _stored_payload(stored)
    if payload is None:
        kind = int.from_bytes(stored[4:8], "big", signed=True) if len(stored) >= 8 else None
        return stored, None, UndecodableRecord(
            raw=stored, error=f"outbox item of serialization type {kind}, not a byte[] record (not deserialized)")
    try:
        return payload, ChangeEvent.from_bytes(payload), None
    except Exception as e:  # noqa: BLE001 - any decoding failure makes it poison
        return payload, None, UndecodableRecord(raw=payload, error=f"{type(e).__name__}: {e}")


class _HazelcastChangeBatch(ChangeBatch):
    """Records read from the head of one stripe; :meth:`commit` removes exactly them.

    Nothing is reserved on the members, so a taker that dies leaves nothing behind: its
    records simply stay at the head of the stripe (see :meth:`HazelcastGrid.take_changes`).
    """

    def __init__(self, grid: "HazelcastGrid", stripe: int, stored: list[bytes], at_head: bool) -> None:
        self._grid = grid
        self._stripe = stripe
        self._stored = stored
        self._at_head = at_head
        self._done = False
        self.events = []
        self.poison = []
        for item in stored:
            _, event, bad = _decode_record(item)
            if event is not None:
                self.events.append(event)
            else:
                self.poison.append(bad)  # type: ignore[arg-type]
        # two-phase commits can append one entity's records out of version order: restore it
        self.events = in_entity_order(self.events)

    async def commit(self) -> None:
        from hazelcast.protocol.codec import queue_compare_and_remove_all_codec, queue_drain_to_max_size_codec
        from hazelcast.serialization.data import Data

        if self._done:
            return
        self._done = True
        stored, grid, queue_name = self._stored, self._grid, self._grid.names.outbox(self._stripe)
        try:
            if not stored:
                return
            if not self._at_head:
                # records of an earlier open/rolled-back batch precede it: remove by value
                # (O(queue x batch) on the member, fine for this rare in-process case)
                await grid._queue_call(queue_name, queue_compare_and_remove_all_codec,
                                       [Data(bytearray(x)) for x in stored])
                return
            # the batch is the head of the stripe (appends only go to the tail): remove it
            # by position, O(batch) on the member, and check what came out
            removed = await grid._queue_call(queue_name, queue_drain_to_max_size_codec, len(stored))
        finally:
            grid._release_held(self._stripe, stored)
        got = [bytes(d.buffer) for d in removed]
        if got == stored:
            return
        expected = Counter(stored)
        extra = []
        for item in got:
            if expected[item] > 0:
                expected[item] -= 1
            else:
                extra.append(_decode_record(item)[0])
        if extra:
            raise OutboxDisturbed(
                f"outbox stripe {self._stripe}: committing removed {len(extra)} records this batch "
                "had not taken (a second taker on the stripe, or a late removal)", extra)
        log.warning("outbox stripe %s: %d records of the batch were already gone at commit",
                    self._stripe, len(stored) - len(got))

    async def rollback(self) -> None:
        if not self._done:
            self._done = True
            self._grid._release_held(self._stripe, self._stored)


class HazelcastGrid(Grid):
    """The grid on a Hazelcast cluster (classic client for transactions, asyncio client for the rest)."""

    def __init__(
        self,
        settings: CommonSettings,
        names: Names,
        *,
        connect_timeout_s: float = 5.0,
        operation_timeout_s: float = 5.0,
        tx_workers: int = 16,
    ) -> None:
        self.settings = settings
        self.names = names
        self.stripe_bound = -(-settings.backlog_limit // names.stripes)
        self._connect_timeout_s = connect_timeout_s
        self._op_timeout_s = operation_timeout_s
        self._client: Any = None
        self._tx_pool = concurrent.futures.ThreadPoolExecutor(tx_workers, thread_name_prefix="hz-tx")
        #: records of open batches, per stripe: hidden from this process's later takes
        self._held: dict[int, Counter[bytes]] = {}
        self._taker_lock = threading.Lock()
        self._closed = False
        #: G7 fast path: stripe sizes seen by backlog() (monotonic time, size) and the
        #: records this process offered since; see _far_below_bound
        self._stripe_snapshot: dict[int, tuple[float, int]] = {}
        self._offered_since_snapshot: Counter[int] = Counter()
        #: reads, queries and single-key writes: the asyncio client, on the event loop
        self._aio = AsyncioSide(settings, connect_timeout_s, operation_timeout_s, _translate, _is_driver_error)

    # ---- lifecycle ------------------------------------------------------------------
    def _new_client(self) -> Any:
        import hazelcast
        from hazelcast.config import IntType, ReconnectMode

        return hazelcast.HazelcastClient(
            cluster_name=self.settings.hazelcast_cluster,
            cluster_members=self.settings.member_addresses,
            cluster_connect_timeout=self._connect_timeout_s,
            connection_timeout=min(self._connect_timeout_s, 5.0),
            invocation_timeout=self._op_timeout_s,
            # invocations fail at once (ClientOfflineError -> GridUnavailable) while disconnected
            reconnect_mode=ReconnectMode.ASYNC,
            default_int_type=IntType.LONG,
            heartbeat_timeout=10.0,
        )

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            self._client = await loop.run_in_executor(self._tx_pool, self._new_client)
        except BaseException as e:
            if _is_driver_error(e):
                raise _translate(e) from e
            raise
        try:
            await self._aio.start()
        except BaseException:
            await loop.run_in_executor(self._tx_pool, self._client.shutdown)
            self._client = None
            raise

    async def close(self) -> None:
        self._closed = True
        client, self._client = self._client, None
        loop = asyncio.get_running_loop()
        await self._aio.close()
        if client is not None:
            await loop.run_in_executor(self._tx_pool, client.shutdown)
        self._tx_pool.shutdown(wait=False, cancel_futures=True)

    def _live_client(self) -> Any:
        """The client, or GridUnavailable; a client that gave up reconnecting is replaced."""
        client = self._client
        if client is None:
            raise GridUnavailable("grid not started" if not self._closed else "grid closed")
        if not client.lifecycle_service.is_running():
            # the classic client shuts itself down after cluster_connect_timeout without a
            # member; revive it in the background so the unit recovers when the cluster does
            self._revive(client)
            raise GridUnavailable("Hazelcast client lost the cluster; reconnecting")
        return client

    def _revive(self, dead: Any) -> None:
        with self._taker_lock:
            if getattr(self, "_reviving", False) or self._client is not dead:
                return
            self._reviving = True

        def run() -> None:
            try:
                fresh = self._new_client()
                if self._closed:
                    fresh.shutdown()
                else:
                    self._client = fresh
            except Exception as e:  # noqa: BLE001 - retried on the next call
                log.warning("Hazelcast reconnect failed: %s", e)
                time.sleep(1.0)
            finally:
                self._reviving = False

        threading.Thread(target=run, name="hz-revive", daemon=True).start()

    # ---- plumbing ---------------------------------------------------------------------
    async def _call(self, make_future: Callable[[Any], Any]) -> Any:
        """Start a non-blocking client call and await it with a deadline."""
        try:
            client = self._live_client()
            hz_future = make_future(client)
            if hz_future.done():  # answered already: no hop through the reactor thread and the loop
                return hz_future.result()
            async with asyncio.timeout(self._op_timeout_s + 1.0):  # no extra task, unlike wait_for
                return await _bridge(hz_future)
        except BaseException as e:
            if _is_driver_error(e) or isinstance(e, asyncio.TimeoutError):
                raise _translate(e) from e
            if isinstance(e, Exception) and not isinstance(e, GridError):
                # only client calls run here: whatever else they raise is the grid failing
                log.warning("unexpected error from the Hazelcast client", exc_info=True)
                raise GridUnavailable(f"Hazelcast client failed: {type(e).__name__}: {e}") from e
            raise

    def _map(self, client: Any, name: str) -> Any:
        return client.get_map(name)

    async def _on_thread(self, executor: concurrent.futures.Executor, fn: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(executor, fn)
        except BaseException as e:
            if _is_driver_error(e):
                raise _translate(e) from e
            raise

    # ---- reads -----------------------------------------------------------------------------
    # reads and single-key writes run on the asyncio client (self._aio): no thread hop
    async def get(self, map_name: str, key: str) -> Value | None:
        """Read the committed value without waiting on transaction locks (see AsyncioSide.get_stored)."""
        found = await self._aio.get_stored(map_name, [key])
        return _decode(found.get(key))

    async def get_many(self, map_name: str, keys: Sequence[str]) -> dict[str, Value]:
        if not keys:
            return {}
        found = await self._aio.get_stored(map_name, list(keys))
        return {k: _decode(v) for k, v in found.items()}  # type: ignore[misc]

    async def query(
        self,
        map_name: str,
        equals: Mapping[str, Any] | None = None,
        after: str | None = None,
        limit: int = 50,
    ) -> Page:
        """Filter on the members, order and cut the page here.

        Cost: every entry matching ``equals`` with an id after the cursor crosses the wire
        for each page (O(matches after cursor), not O(limit)); fine for catalog-sized
        filters, an index on the filtered field keeps the member side cheap.
        """
        from hazelcast import predicate as p

        if limit < 1:
            raise ValueError("limit must be >= 1")
        conditions = [p.equal(field, value) for field, value in (equals or {}).items()]
        after_sk = _sort_key(after) if after is not None else None
        if after_sk is not None:
            conditions.append(p.greater(SORT_FIELD, after_sk))
        pred = p.true() if not conditions else conditions[0] if len(conditions) == 1 else p.and_(*conditions)
        entries = await self._aio.on_map(map_name, lambda m: m.entry_set(pred))
        rows = [(k, v) for k, v in entries]
        if after is not None:
            cursor = id_order(after)
            rows = [(k, v) for k, v in rows if id_order(k) > cursor]
        rows.sort(key=lambda kv: id_order(kv[0]))
        page = rows[:limit]
        more = len(rows) > limit
        return Page(items=[_decode(v) for _, v in page],  # type: ignore[misc]
                    next_cursor=page[-1][0] if more and page else None)

    async def entries(self, map_name: str, batch: int = 1000) -> AsyncIterator[tuple[str, Value]]:
        """All keys first (one call), then values in ``batch``-sized get_all calls."""
        keys = await self._aio.on_map(map_name, lambda m: m.key_set())
        for i in range(0, len(keys), batch):
            chunk = keys[i : i + batch]
            values = await self._aio.get_stored(map_name, chunk)
            for k in chunk:
                if k in values:
                    yield k, _decode(values[k])  # type: ignore[misc]

    async def size(self, map_name: str) -> int:
        return int(await self._aio.on_map(map_name, lambda m: m.size()))

    # ---- single-key writes ---------------------------------------------------------------
    async def put(self, map_name: str, key: str, value: Value, ttl_s: float | None = None) -> None:
        data = _encode(key, value)
        await self._aio.on_map(map_name, lambda m: m.set(key, data, ttl=ttl_s))

    async def put_if_absent(
        self, map_name: str, key: str, value: Value, ttl_s: float | None = None
    ) -> Value | None:
        data = _encode(key, value)
        return _decode(await self._aio.on_map(map_name, lambda m: m.put_if_absent(key, data, ttl=ttl_s)))

    async def replace_if_same(self, map_name: str, key: str, expected: Value, new: Value) -> bool:
        old_data, new_data = _encode(key, expected), _encode(key, new)
        return bool(await self._aio.on_map(map_name, lambda m: m.replace_if_same(key, old_data, new_data)))

    async def delete(self, map_name: str, key: str) -> None:
        await self._aio.on_map(map_name, lambda m: m.delete(key))

    async def put_all(self, map_name: str, entries: Mapping[str, Value]) -> None:
        if not entries:
            return
        data = {k: _encode(k, v) for k, v in entries.items()}
        await self._aio.on_map(map_name, lambda m: m.put_all(data))

    # ---- ids and transactions ------------------------------------------------------------------
    async def new_id(self) -> str:
        return str(await self._call(lambda c: c.get_flake_id_generator(self.names.id_generator).new_id()))

    async def transact(self, work: Callable[[Tx], T], timeout_s: float = 5.0) -> T:
        """Run ``work`` in a TWO_PHASE transaction, entirely on one worker thread."""
        client = self._live_client()

        def run() -> T:
            from hazelcast.transaction import TWO_PHASE

            tx = client.new_transaction(timeout=timeout_s, durability=1, type=TWO_PHASE)
            tx.begin()
            try:
                result = work(_HazelcastTx(self, tx))
            except BaseException:
                _rollback_quietly(tx)
                raise
            try:
                tx.commit()
            except BaseException as e:
                # the commit may have been applied on the members (or part-applied, then
                # finished from the backup log): never a "conflict, safe to retry" -- a
                # retried unit of work could apply the change twice. Reported as failed
                # (503); if it did commit, its change records are in the outbox and ship.
                _rollback_quietly(tx)
                if isinstance(e, Exception):
                    raise GridUnavailable(f"transaction commit failed, outcome unknown: {type(e).__name__}: {e}") from e
                raise
            return result

        return await self._on_thread(self._tx_pool, run)

    # ---- outbox -------------------------------------------------------------------------------
    async def backlog(self) -> int:
        asked_at = time.monotonic()
        sizes = await asyncio.gather(
            *(self._call(lambda c, q=q: c.get_queue(q).size()) for q in self.names.outboxes)
        )
        for stripe, size in enumerate(sizes):
            self._stripe_snapshot[stripe] = (asked_at, int(size))
            self._offered_since_snapshot[stripe] = 0
        return int(sum(sizes))

    def _far_below_bound(self, stripe: int) -> bool:
        """Whether a transaction may skip its stripe-size round trip (a G7 fast path).

        True only when a snapshot from :meth:`backlog` (which the unit's write gate
        refreshes every 200 ms under writes) is at most SNAPSHOT_TTL_S old and the stripe
        then held, plus what this process offered since, less than half its bound. The
        bound can then only be passed if other processes add more than half a stripe's
        bound (default 12,500 records) to one stripe within that second; the queue's
        ``max-size`` on the members stays the hard limit. Small bounds (tests, a limit
        of one record per stripe) always take the exact path.
        """
        snapshot = self._stripe_snapshot.get(stripe)
        if snapshot is None or time.monotonic() - snapshot[0] > SNAPSHOT_TTL_S:
            return False
        return snapshot[1] + self._offered_since_snapshot[stripe] < self.stripe_bound // 2

    def _release_held(self, stripe: int, raw: list[bytes]) -> None:
        with self._taker_lock:
            held = self._held.get(stripe)
            if held is not None:
                held.subtract(raw)
                for item in [k for k, n in held.items() if n <= 0]:
                    del held[item]

    async def take_changes(self, stripe: int, max_items: int) -> ChangeBatch:
        """Read up to ``max_items`` records at the head of a stripe without removing them.

        Why not a transactional ``poll``: a transactional poll *reserves* the item on the
        partition owner, and when the taking client is SIGKILLed while a poll is in flight,
        the member rolls the client's transaction back before that poll's reservation
        lands; the reservation then belongs to no live transaction and the record is gone
        for good (invisible to ``size``, ``iterator`` and every later poll). Measured: 10-12
        of 20,000 records lost over 15 SIGKILLs of a taker. So the taker reads the head
        (``iterator``: the whole stripe, at most its bound) and :meth:`ChangeBatch.commit`
        removes the shipped records once Kafka acknowledged them: by position
        (``drain_to``, checked against what was shipped; anything removed that the batch
        had not taken comes back in :class:`OutboxDisturbed`) when the batch was the head
        of the stripe, else by value (``remove_all``, O(queue x batch) on the member: 0.47 s
        for 8 x 2,500 records, against O(batch) by position). A taker that dies leaves its
        records where they were.

        The price: records are not hidden from *other processes* while a batch is open, so
        each stripe needs a single taker at a time (the pumps' stripe ownership ensures
        it); within this process, records of open batches are skipped by later takes.
        Undecodable records come back in ``poison`` (they are removed on commit as well);
        so do items that are not byte[] records: they are never deserialized (the client
        would unpickle them).
        """
        from hazelcast.protocol.codec import queue_iterator_codec

        queue_name = self.names.outbox(stripe)
        items = await self._queue_call(queue_name, queue_iterator_codec)
        stored: list[bytes] = []
        with self._taker_lock:
            held = self._held.setdefault(stripe, Counter())
            at_head = not held  # nothing of an open batch precedes what this take reads
            skip = Counter(held)
            for data in items:
                item = bytes(data.buffer)
                if skip[item] > 0:
                    skip[item] -= 1
                    continue
                stored.append(item)
                if len(stored) >= max_items:
                    break
            held.update(stored)
        return _HazelcastChangeBatch(self, stripe, stored, at_head)

    async def _queue_call(self, queue_name: str, codec: Any, *args: Any) -> Any:
        """One queue operation on serialized items (``Data``), skipping the client's
        deserialization: outbox records are read as bytes, never unpickled, and the pump
        does not pay two object conversions per record (iterator and drain)."""

        def start(client: Any) -> Any:
            proxy = client.get_queue(queue_name)
            return proxy._invoke(codec.encode_request(queue_name, *args), codec.decode_response)

        return await self._call(start)
