"""Hazelcast adapter of the grid port, on the classic hazelcast-python-client (5.7).

Why the classic client: it has transactions (the asyncio client does not), which the
write path still uses for multi-key units of work (the entry-processor work removes
them). Every entity write appends its change record to its map's event journal in the
same partition operation (read by :mod:`grid_config.hazelcast_change_log`). Its non-transactional
calls return ``hazelcast.future.Future``; :func:`_bridge` turns them into asyncio
futures without a thread per call. Its transactions are bound to the thread that began
them, so a whole unit of work (:meth:`HazelcastGrid.transact`) runs in one worker of a
bounded thread pool. Reads, queries and single-key writes go through a second client on
the asyncio API (:mod:`grid_config.hazelcast_asyncio`), on the event loop itself.
No map is near-cached (decision 0017).

G7: before a transaction commits, it takes one journal credit per (map, partition) entry
it will append (decision 0018), so no journal ever holds more than its bound of
un-shipped entries; a refused credit rolls the transaction back with BacklogFull.

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
from typing import Any, AsyncIterator, Callable, Iterable, Mapping, Sequence, TypeVar

import orjson

from grid_config.credit_processors import CreditAnswer, CreditsGive, CreditsTake
from grid_config.errors import BacklogFull, GridError, GridUnavailable, TransactionConflict
from grid_config.events import stamped, unstamped
from grid_config.hazelcast_asyncio import AsyncioSide
from grid_config.journal import credit_key, journal_of
from grid_config.names import Names
from grid_config.ports import Grid, Page, Tx, Value, id_order
from grid_config.settings import CommonSettings

T = TypeVar("T")
log = logging.getLogger(__name__)

SORT_FIELD = "_sk"
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


def _load(stored: Any) -> Value | None:
    """A stored document as stored (with its change stamp): what the journals carry."""
    if stored is None:
        return None
    value = orjson.loads(stored.to_string())
    value.pop(SORT_FIELD, None)
    return value


def _decode(stored: Any) -> Value | None:
    """A stored document as the space's readers see it (without its change stamp)."""
    value = _load(stored)
    return None if value is None else unstamped(value)


# ---- error translation: the one place ---------------------------------------------------
def _translate(e: BaseException) -> GridError:
    """Map a hazelcast (or timeout) exception onto the grid's error classes."""
    from hazelcast import errors as he

    if isinstance(e, GridError):
        return e
    if isinstance(e, (he.TransactionError, he.TransactionTimedOutError, he.TransactionNotActiveError)):
        return TransactionConflict(f"transaction failed, safe to retry: {e}")
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

    def __init__(self, grid: "HazelcastGrid", tx: Any, request_id: str) -> None:
        self._grid = grid
        self._tx = tx
        self._request_id = request_id
        self._maps: dict[str, Any] = {}
        #: keys written, per map: the journal credits to take before commit (G7)
        self.touched: dict[str, set[str]] = {}

    def _map(self, name: str) -> Any:
        m = self._maps.get(name)
        if m is None:
            m = self._maps[name] = self._tx.get_map(name)
        return m

    def get(self, map_name: str, key: str) -> Value | None:
        return _decode(self._map(map_name).get_for_update(key))

    def put(self, map_name: str, key: str, value: Value) -> None:
        if map_name in self._grid.change_log.journaled_maps:
            value = stamped(value, self._request_id)
        self._map(map_name).set(key, _encode(key, value))
        self.touched.setdefault(map_name, set()).add(key)

    def delete(self, map_name: str, key: str) -> None:
        self._map(map_name).delete(key)
        self.touched.setdefault(map_name, set()).add(key)

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
        journaled_maps: Iterable[str] | None = None,
        journal_guard: bool = True,
    ) -> None:
        """``journaled_maps`` (default ``names.journaled_maps``): the maps :attr:`change_log`
        reads; each needs an ``event-journal`` in the members' configuration.
        ``journal_guard=False`` takes no journal credits (G7 off: only for tests that
        overflow a journal on purpose)."""
        from grid_config.hazelcast_change_log import HazelcastChangeLog  # it imports this module

        self.settings = settings
        self.names = names
        self._connect_timeout_s = connect_timeout_s
        self._op_timeout_s = operation_timeout_s
        self._journal_guard = journal_guard
        self._client: Any = None
        self._tx_pool = concurrent.futures.ThreadPoolExecutor(tx_workers, thread_name_prefix="hz-tx")
        self._taker_lock = threading.Lock()
        self._closed = False
        #: reads, queries and single-key writes: the asyncio client, on the event loop
        self._aio = AsyncioSide(settings, connect_timeout_s, operation_timeout_s, _translate, _is_driver_error)
        #: the change-log port over the entity maps' event journals (shares the asyncio client)
        self.change_log = HazelcastChangeLog(self, names.journaled_maps if journaled_maps is None else journaled_maps)

    @property
    def asyncio_side(self) -> AsyncioSide:
        """The asyncio client half (the change log reads journals through its client)."""
        return self._aio

    @property
    def operation_timeout_s(self) -> float:
        return self._op_timeout_s

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

    async def stored_without_near_cache(self, map_name: str, keys: Sequence[str]) -> dict[str, Any]:
        """Stored values (``HazelcastJsonValue``, absent keys left out) as the members hold
        them now: through the classic client, which has no near cache, with ``get_all``,
        which does not park behind transaction locks. For compare-and-sets that must not
        start from a stale near-cached value (the change log's re-ship)."""
        if not keys:
            return {}
        found = await self._call(lambda c: c.get_map(map_name).get_all(list(keys)))
        return {k: v for k, v in dict(found).items() if v is not None}

    # ---- single-key writes ---------------------------------------------------------------
    async def put(self, map_name: str, key: str, value: Value, ttl_s: float | None = None) -> None:
        data = _encode(key, value)
        await self._take_credit(map_name, key)
        await self._aio.on_map(map_name, lambda m: m.set(key, data, ttl=ttl_s))

    async def put_if_absent(
        self, map_name: str, key: str, value: Value, ttl_s: float | None = None
    ) -> Value | None:
        data = _encode(key, value)
        await self._take_credit(map_name, key)  # may be unused (key present): the safe side
        return _decode(await self._aio.on_map(map_name, lambda m: m.put_if_absent(key, data, ttl=ttl_s)))

    async def replace_if_same(self, map_name: str, key: str, expected: Value, new: Value) -> bool:
        old_data, new_data = _encode(key, expected), _encode(key, new)
        await self._take_credit(map_name, key)
        return bool(await self._aio.on_map(map_name, lambda m: m.replace_if_same(key, old_data, new_data)))

    async def delete(self, map_name: str, key: str) -> None:
        await self._take_credit(map_name, key)
        await self._aio.on_map(map_name, lambda m: m.delete(key))

    async def put_all(self, map_name: str, entries: Mapping[str, Value]) -> None:
        if not entries:
            return
        data = {k: _encode(k, v) for k, v in entries.items()}
        await self._aio.on_map(map_name, lambda m: m.put_all(data))

    # ---- ids and transactions ------------------------------------------------------------------
    async def new_id(self) -> str:
        return str(await self._call(lambda c: c.get_flake_id_generator(self.names.id_generator).new_id()))

    async def transact(self, work: Callable[[Tx], T], timeout_s: float = 5.0, request_id: str = "") -> T:
        """Run ``work`` in a TWO_PHASE transaction, entirely on one worker thread; take the
        journal credits of its writes before committing (G7)."""
        client = self._live_client()

        def run() -> T:
            from hazelcast.transaction import TWO_PHASE

            tx = client.new_transaction(timeout=timeout_s, durability=1, type=TWO_PHASE)
            try:
                tx.begin()
                view = _HazelcastTx(self, tx, request_id)
                result = work(view)
                self._take_credits_blocking(client, view.touched)
            except BaseException as e:
                _rollback_quietly(tx)
                if _is_driver_error(e) and not isinstance(e, TimeoutError):
                    # nothing was committed (e.g. a member left mid-transaction while
                    # partitions migrate): safe to run the unit of work again
                    translated = _translate(e)
                    if isinstance(translated, GridUnavailable):
                        raise TransactionConflict(f"transaction failed before commit, safe to retry: {e}") from e
                raise
            try:
                tx.commit()
            except BaseException as e:
                # the commit may have been applied on the members (or part-applied, then
                # finished from the backup log): never a "conflict, safe to retry" -- a
                # retried unit of work could apply the change twice. Reported as failed
                # (503); if it did commit, its changes are in the journals and ship (the
                # credits it took stay taken: the safe side).
                _rollback_quietly(tx)
                if isinstance(e, Exception):
                    raise GridUnavailable(f"transaction commit failed, outcome unknown: {type(e).__name__}: {e}") from e
                raise
            return result

        return await self._on_thread(self._tx_pool, run)

    # ---- G7 journal credits (decision 0018) ----------------------------------------------
    def _credit_needs(self, client: Any, touched: Mapping[str, Iterable[str]]) -> Counter[tuple[str, int]]:
        """Journal entries a write of ``touched`` keys appends, per (map, partition)."""
        partitions = client.partition_service
        return Counter((m, partitions.get_partition_id(k)) for m, keys in touched.items()
                       if m in self.change_log.journaled_maps for k in keys)

    def _bound(self, map_name: str) -> int:
        return journal_of(map_name, self.names.namespace).bound

    def _take_credits_blocking(self, client: Any, touched: Mapping[str, Iterable[str]]) -> None:
        """Take every credit the writes need, in parallel, all or none (on a worker thread).

        A refusal gives back what was taken and raises BacklogFull: those writes must not
        happen while a journal holds its bound of un-shipped entries.
        """
        needs = self._credit_needs(client, touched) if self._journal_guard else None
        if not needs:
            return
        credits = client.get_map(self.names.journal_credits)
        futures = {mp: credits.execute_on_key(credit_key(*mp), CreditsTake(n, self._bound(mp[0])))
                   for mp, n in needs.items()}
        answers = {mp: CreditAnswer.from_json(f.result()) for mp, f in futures.items()}
        refused = [mp for mp, a in answers.items() if not a.taken]
        if refused:
            for mp, a in answers.items():
                if a.taken:
                    credits.execute_on_key(credit_key(*mp), CreditsGive(needs[mp], self._bound(mp[0]))).result()
            raise BacklogFull("journal " + ", ".join(f"{m}#{p}" for m, p in refused)
                              + " holds its bound of un-shipped changes")

    async def _take_credit(self, map_name: str, key: str) -> None:
        """One credit for a single-key write to a journaled map (BacklogFull when refused)."""
        if map_name in self.change_log.journaled_maps:
            client = self._live_client()
            await self._on_thread(self._tx_pool, lambda: self._take_credits_blocking(client, {map_name: [key]}))

    async def give_credits(self, map_name: str, partition: int, count: int) -> None:
        """The pump shipped ``count`` entries of this journal: their credits return."""
        answer = await self._call(lambda c: c.get_map(self.names.journal_credits).execute_on_key(
            credit_key(map_name, partition), CreditsGive(count, self._bound(map_name))))
        if CreditAnswer.from_json(answer).capped:
            log.debug("journal %s#%s: gave back more credits than were taken", map_name, partition)
