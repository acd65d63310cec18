"""Hazelcast adapter of the grid port, on the hazelcast-python-client's asyncio API (5.7).

One client, on the event loop itself (:mod:`grid_config.hazelcast_asyncio`): no thread
hop, no classic client, no transactions (decision 0020). Every write is one single-key
operation: ``set``, ``put_if_absent``, ``replace_if_same`` (the compare-and-set under
:meth:`HazelcastGrid.update`) or an entry processor (``execute_on_key``: the Java classes of
grid_config/member/, run on the key's partition thread). Every entity write appends its
change record to its map's event journal in the same partition operation (read by
:mod:`grid_config.hazelcast_change_log`). No map is near-cached (decision 0017).

The client runs with ``fail_on_indeterminate_operation_state``: a write whose backups did
not all acknowledge raises :class:`~grid_config.errors.Indeterminate` instead of passing
as done, and callers retry only idempotent steps.

G7: before a write to a journaled map, it spends one journal credit for the (map,
partition) entry it will append (decision 0018), so no journal ever holds more than its
bound of un-shipped entries; a refused credit refuses the write with BacklogFull. Credits
are leased from the grid :data:`CREDIT_LEASE` at a time (decision 0020): a leased credit is
taken, so the bound holds across clients; a lease unused for :data:`LEASE_IDLE_S` and all
leases at close go back. A write that turned out to change nothing (a ``put_if_absent``
that found a value, a processor that answered a no-op) returns its credit to the lease.
A client that dies keeps its leased credits taken (at most a lease per journal it wrote
to): the bound gets tighter until the pump's reconciliation restores them (decision 0031).

Values are stored as :class:`~hazelcast.core.HazelcastJsonValue` (canonical orjson, sorted
keys) so members evaluate predicates server-side. Paging orders by numeric id: for keys
that are decimal ids below 2^63 the stored JSON carries a reserved field ``_sk`` (the key
as a JSON integer) that the cursor predicate compares; it is stripped on read.

Every hazelcast exception is translated in :func:`_translate` (``raise ... from e``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from typing import Any, AsyncIterator, Iterable, Mapping, Sequence

import orjson

from grid_config.credit_gives import CreditGives
from grid_config.credit_processors import CreditAnswer, CreditsGive, CreditsTake
from grid_config.entry_processors import MemberStep, NoFields
from grid_config.errors import BacklogFull, Disconnected, GridError, GridUnavailable, Indeterminate, WriteConflict
from grid_config.events import stamped, unstamped
from grid_config.hazelcast_asyncio import HazelcastConnection
from grid_config.journal import credit_key
from grid_config.member_status import EXECUTOR as STATUS_EXECUTOR, MemberStatusTask
from grid_config.names import Names
from grid_config.ports import A, Change, Grid, Page, Value
from grid_config.settings import CommonSettings

#: synchronous backups of every map (hazelcast.yaml: backup-count 1)
BACKUPS = 1
log = logging.getLogger(__name__)
#: compare-and-set rounds of one ``update`` before it reports a WriteConflict
UPDATE_ROUNDS = 16
#: compare-and-sets of one ``update`` with an unknown outcome before it reports one (503)
UNKNOWN_ROUNDS = 3
#: journal credits taken from the grid at a time and spent locally (G7, decision 0020)
CREDIT_LEASE = 8
#: a lease not drawn on for this long goes back to the grid (decision 0034: at 0.5 s, writes
#: spread over 271 partitions found their lease gone and took a new one, a round trip before
#: nearly every order's put_if_absent)
LEASE_IDLE_S = 5.0


class _Lease:
    """Credits of one (map, partition) this client took and has not spent yet."""

    __slots__ = ("map_name", "left", "used", "refill")

    def __init__(self, map_name: str) -> None:
        self.map_name, self.left, self.used = map_name, 0, False
        self.refill = asyncio.Lock()

    def spend(self) -> bool:
        """Spend one leased credit if there is one."""
        if self.left > 0:
            self.left -= 1
            self.used = True
            return True
        return False

SORT_FIELD = "_sk"
_MAX_SK = 2**63


# ---- value encoding ------------------------------------------------------------------
def _sort_key(key: str) -> int | None:
    if key.isascii() and key.isdigit():
        n = int(key)
        if n < _MAX_SK:
            return n
    return None


#: io.spacegrid.member.MemberFactory.ID_ORDER (a wire contract: never reuse or renumber)
ID_ORDER_CLASS_ID = 10


class IdOrder(NoFields):
    """``io.spacegrid.member.IdOrder``: the order of a query's page, by key in id order
    (:func:`~grid_config.ports.id_order`), applied by the members."""

    CLASS_ID = ID_ORDER_CLASS_ID


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
    if isinstance(e, he.IndeterminateOperationStateError):
        return Indeterminate(f"Hazelcast: a backup did not acknowledge in time: {e}")
    if isinstance(e, (he.TargetDisconnectedError, he.MemberLeftError)):
        return Disconnected(f"Hazelcast: the connection of the call closed before its answer: {type(e).__name__}: {e}")
    if isinstance(e, he.IllegalStateError) and "connect" in str(e).lower():
        return GridUnavailable(f"cannot reach the Hazelcast cluster: {e}")
    if isinstance(
        e,
        (
            he.ClientOfflineError,
            he.HazelcastClientNotActiveError,
            he.OperationTimeoutError,
            he.HazelcastTimeoutError,
            he.SplitBrainProtectionError,
            he.HazelcastInstanceNotActiveError,
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


class HazelcastGrid(Grid):
    """The grid on a Hazelcast cluster, through one asyncio client."""

    def __init__(
        self,
        settings: CommonSettings,
        names: Names,
        *,
        connect_timeout_s: float = 5.0,
        operation_timeout_s: float = 5.0,
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
        self._op_timeout_s = operation_timeout_s
        self._journal_guard = journal_guard
        self._aio = HazelcastConnection(settings, connect_timeout_s, operation_timeout_s, _translate, _is_driver_error)
        self._ids: Any = None
        self._leases: dict[str, _Lease] = {}
        self._keeper: asyncio.Task[None] | None = None
        self._gives = CreditGives(self._send_gives)
        #: the change-log port over the entity maps' event journals (shares the client)
        self.change_log = HazelcastChangeLog(self, names.journaled_maps if journaled_maps is None else journaled_maps)

    @property
    def connection(self) -> HazelcastConnection:
        """The client (the change log reads journals through it)."""
        return self._aio

    @property
    def operation_timeout_s(self) -> float:
        return self._op_timeout_s

    # ---- lifecycle ------------------------------------------------------------------
    async def start(self) -> None:
        await self._aio.start()
        # the map proxies a request uses, made now: made on first use, a burst of first
        # requests would all wait for one creation (and share its failure)
        n = self.names
        await self._aio.call(lambda: asyncio.gather(*(self._aio.map(m) for m in (
            *n.journaled_maps, n.users_by_email, n.products_by_sku, n.journal_credits))))
        self._keeper = asyncio.get_running_loop().create_task(self._lease_keeper())

    async def members(self) -> list[dict[str, Any]]:
        """Members with the partitions each owns and backs up, as each member tells itself
        (the member-side ``MemberStatus`` task, ``grid_config/member_status.py``). A cluster
        without that task (an older member jar) gets the client's view: owners from its
        partition table, backups estimated (``backups_estimated``: the client does not see
        replicas) as every partition's ``BACKUPS`` spread evenly over the other members."""
        client = self._aio.client()
        try:
            executor = await client.get_executor(STATUS_EXECUTOR)
            async with asyncio.timeout(self._op_timeout_s):
                answers = [json.loads(a) for a in await executor.execute_on_all_members(MemberStatusTask())]
            return sorted(({"address": a["address"], "owned": a["owned_partitions"], "backups": a["backup_partitions"]}
                           for a in answers), key=lambda m: m["address"])
        except Exception as e:  # noqa: BLE001 - fall back to what the client knows
            log.debug("member status task unavailable: %r", e)
        members = client.cluster_service.get_members()
        table = client.partition_service
        count = table.get_partition_count()
        owners: dict[Any, int] = {}
        for p in range(count):
            owner = table.get_partition_owner(p)
            owners[owner] = owners.get(owner, 0) + 1
        replicas = min(BACKUPS, max(len(members) - 1, 0)) * count
        return [{"address": f"{m.address.host}:{m.address.port}", "owned": owners.get(m.uuid, 0),
                 "backups": round(replicas / len(members)), "backups_estimated": True} for m in members]

    async def close(self) -> None:
        if self._keeper is not None:
            self._keeper.cancel()
            await asyncio.gather(self._keeper, return_exceptions=True)
        try:
            await self._return_leases(idle_only=False)
        except GridError as e:
            log.warning("leased journal credits not given back at close: %s", e)
        self._ids = None
        await self._aio.close()

    # ---- reads -----------------------------------------------------------------------------
    async def get(self, map_name: str, key: str) -> Value | None:
        return _decode(await self._aio.read(map_name, lambda m: m.get(key)))

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
        *,
        below: Mapping[str, int] | None = None,
    ) -> Page:
        """Filter, order and cut the page on the members: a paging predicate ordered by
        :class:`IdOrder` brings back ``limit + 1`` entries, however many match. (It used to
        bring every match after the cursor and cut here: a shopper with 1,450 orders paid for
        all of them on every page of "my orders", docs/benchmarks.md §1.) An index on the
        filtered fields keeps the members' side cheap too.
        """
        from hazelcast import predicate as p

        if limit < 1:
            raise ValueError("limit must be >= 1")
        conditions = [p.equal(field, value) for field, value in (equals or {}).items()]
        conditions += [p.less(field, value) for field, value in (below or {}).items()]
        if after is not None:
            after_sk = _sort_key(after)
            if after_sk is None:  # not an id: nothing sorts after it in a page of ids
                return Page(items=[], next_cursor=None)
            conditions.append(p.greater(SORT_FIELD, after_sk))
        pred = p.true() if not conditions else conditions[0] if len(conditions) == 1 else p.and_(*conditions)
        # a fresh paging predicate per call: its first page (our cursor is the filter above)
        rows = await self._aio.read(map_name, lambda m: m.entry_set(p.paging(pred, limit + 1, IdOrder())))
        page = rows[:limit]
        return Page(items=[_decode(v) for _, v in page],  # type: ignore[misc]
                    next_cursor=page[-1][0] if len(rows) > limit and page else None)

    async def entries(self, map_name: str, batch: int = 1000) -> AsyncIterator[tuple[str, Value]]:
        """All keys first (one call), then values in ``batch``-sized get_all calls."""
        keys = await self._aio.read(map_name, lambda m: m.key_set())
        for i in range(0, len(keys), batch):
            chunk = keys[i : i + batch]
            values = await self._aio.get_stored(map_name, chunk)
            for k in chunk:
                if k in values:
                    yield k, _decode(values[k])  # type: ignore[misc]

    async def size(self, map_name: str) -> int:
        return int(await self._aio.read(map_name, lambda m: m.size()))

    # ---- single-key writes ---------------------------------------------------------------
    def _document(self, map_name: str, key: str, value: Value, request_id: str) -> Any:
        if map_name in self.change_log.journaled_maps:
            value = stamped(value, request_id)
        return _encode(key, value)

    async def put(
        self, map_name: str, key: str, value: Value, ttl_s: float | None = None, *, request_id: str = ""
    ) -> None:
        data = self._document(map_name, key, value, request_id)
        await self._take_credit(map_name, key)
        await self._aio.on_map(map_name, lambda m: m.set(key, data, ttl=ttl_s))

    async def put_if_absent(
        self, map_name: str, key: str, value: Value, ttl_s: float | None = None, *, request_id: str = ""
    ) -> Value | None:
        return _decode(await self._put_if_absent(map_name, key, self._document(map_name, key, value, request_id), ttl_s))

    async def _put_if_absent(self, map_name: str, key: str, data: Any, ttl_s: float | None = None) -> Any:
        await self._take_credit(map_name, key)
        existing = await self._aio.on_map(map_name, lambda m: m.put_if_absent(key, data, ttl=ttl_s))
        if existing is not None:
            await self._give_credit(map_name, key)  # nothing was written
        return existing

    async def replace_if_same(self, map_name: str, key: str, expected: Value, new: Value) -> bool:
        old_data, new_data = _encode(key, expected), _encode(key, new)
        return await self._replace(map_name, key, old_data, new_data)

    async def _replace(self, map_name: str, key: str, old_data: Any, new_data: Any) -> bool:
        await self._take_credit(map_name, key)
        replaced = bool(await self._aio.on_map(map_name, lambda m: m.replace_if_same(key, old_data, new_data)))
        if not replaced:
            await self._give_credit(map_name, key)
        return replaced

    async def update(self, map_name: str, key: str, change: Change, *, request_id: str = "") -> Value | None:
        """Read the stored document, apply ``change``, write it back with ``replace_if_same``
        on exactly what was read (or ``put_if_absent`` when absent); rerun on a lost race.

        A compare-and-set whose outcome is unknown (a backup's acknowledgement missed, or its
        connection closed: a member died) is read back on a journaled map (decisions 0035,
        0036). Our own document (stamped with the request's id and time, so no other write
        stores the same bytes) means it was applied: it is the answer. The very document it
        was to replace means it was not applied, or not yet: it is sent again, which is safe
        either way, since only one of two compare-and-sets from one document can land. Any
        other document leaves it unknown (ours may have landed and been replaced since), and
        so does a map without stamps (a counter of the login limiter, where another writer
        may store the very same bytes) or :data:`UNKNOWN_ROUNDS` unknown outcomes in a row:
        raised (503).
        """
        mine: set[str] = set()  # our documents whose compare-and-set outcome is unknown
        unknown: Indeterminate | None = None
        base: str | None = None  # the document the unknown ones were to replace
        for round_ in range(UPDATE_ROUNDS):
            stored = await self._aio.read(map_name, lambda m: m.get(key))
            if unknown is not None:
                now = None if stored is None else stored.to_string()
                if now in mine:
                    log.warning("%s[%s]: compare-and-set answered %r; read back: applied", map_name, key, unknown)
                    return _decode(stored)
                if now != base or len(mine) >= UNKNOWN_ROUNDS:
                    raise unknown
                log.warning("%s[%s]: compare-and-set answered %r; read back: not applied, sent again",
                            map_name, key, unknown)
            current = _decode(stored)
            new = change(current)
            if new is None:
                return current
            data = self._document(map_name, key, new, request_id)
            if stored is None:
                if await self._put_if_absent(map_name, key, data) is None:
                    return _decode(data)
            else:
                try:
                    if await self._replace(map_name, key, stored, data):
                        return _decode(data)
                except Indeterminate as e:
                    if map_name not in self.change_log.journaled_maps:
                        raise
                    base, unknown = stored.to_string(), e
                    mine.add(data.to_string())
                    continue  # read back at once (a read waits for the partition's new owner)
            await asyncio.sleep(random.uniform(0, 0.002 * (round_ + 1)))
        if unknown is not None:  # not a WriteConflict, which callers retry as is: ours may have landed
            raise unknown
        raise WriteConflict(f"{map_name}[{key}] kept changing under {UPDATE_ROUNDS} compare-and-sets")

    async def execute(self, map_name: str, key: str, step: MemberStep[A]) -> A:
        await self._take_credit(map_name, key)
        answer = step.decode(await self._aio.on_map(map_name, lambda m: m.execute_on_key(key, step)))
        if step.changed_nothing(answer):
            await self._give_credit(map_name, key)
        return answer

    async def delete(self, map_name: str, key: str) -> None:
        await self._take_credit(map_name, key)
        if await self._aio.on_map(map_name, lambda m: m.remove(key)) is None:
            await self._give_credit(map_name, key)  # nothing was there: nothing journaled

    async def put_all(self, map_name: str, entries: Mapping[str, Value]) -> None:
        if not entries:
            return
        data = {k: _encode(k, v) for k, v in entries.items()}
        await self._aio.on_map(map_name, lambda m: m.put_all(data))

    # ---- ids -------------------------------------------------------------------------------
    async def new_id(self) -> str:
        """A Flake id (the generator hands out batches, so most calls make no round trip)."""
        async def next_id() -> Any:
            if self._ids is None:
                self._ids = await self._aio.client().get_flake_id_generator(self.names.id_generator)
            return await self._ids.new_id()

        return str(await self._aio.call(next_id))

    # ---- G7 journal credits (decision 0018) ----------------------------------------------
    def _bound(self, map_name: str) -> int:
        return self.change_log.bound(map_name)

    def _credit_key(self, map_name: str, key: str) -> str | None:
        """The credit entry a write of ``key`` draws on; None when it needs none."""
        if not self._journal_guard or map_name not in self.change_log.journaled_maps:
            return None
        return credit_key(map_name, self.change_log.partition_of(key))

    async def _take_credit(self, map_name: str, key: str) -> None:
        """One credit for a write to a journaled map, or BacklogFull (nothing written).

        Credits are leased from the grid :data:`CREDIT_LEASE` at a time and spent here one
        by one (a round trip per write would cost as much CPU as the write itself); near
        the bound, where a whole lease is refused, one credit is asked for.
        """
        ckey = self._credit_key(map_name, key)
        if ckey is None:
            return
        lease = self._leases.get(ckey)
        if lease is None:
            lease = self._leases[ckey] = _Lease(map_name)
        if lease.spend():
            return
        async with lease.refill:  # one refill at a time: concurrent writers must not each lease
            if lease.spend():  # refilled while this one waited
                return
            for n in (CREDIT_LEASE, 1):
                step = CreditsTake(n, self._bound(map_name))
                answer = CreditAnswer.from_json(
                    await self._aio.on_map(self.names.journal_credits, lambda m: m.execute_on_key(ckey, step)))
                if answer.taken:
                    lease.left += n - 1
                    lease.used = True
                    return
        raise BacklogFull(f"journal {ckey} holds its bound of un-shipped changes")

    async def _give_credit(self, map_name: str, key: str) -> None:
        """Return the credit of a write that appended nothing (to the lease: given back to
        the grid with the lease's other unused credits)."""
        ckey = self._credit_key(map_name, key)
        if ckey is not None:
            self._leases.setdefault(ckey, _Lease(map_name)).left += 1

    async def _return_leases(self, idle_only: bool) -> None:
        """Give unused leased credits back to the grid: those of leases not used since the
        last call (``idle_only``), or all of them (closing). A failed give-back is logged:
        it only makes the journal's bound tighter, never looser."""
        returns = []
        for ckey, lease in list(self._leases.items()):
            if lease.left > 0 and not (idle_only and lease.used):
                returns.append((ckey, lease.left, lease.map_name))
                lease.left = 0
            lease.used = False
        results = await asyncio.gather(*(self._give(c, n, m) for c, n, m in returns), return_exceptions=True)
        for (ckey, n, _), r in zip(returns, results):
            if isinstance(r, Exception):
                log.warning("%d leased journal credits of %s not given back: %s", n, ckey, r)

    async def _lease_keeper(self) -> None:
        """Every :data:`LEASE_IDLE_S`, idle leases go back, so credits do not sit in a quiet unit."""
        while True:
            await asyncio.sleep(LEASE_IDLE_S)
            try:
                await self._return_leases(idle_only=True)
            except GridError as e:  # pragma: no cover - logged per lease above
                log.warning("returning idle journal credits failed: %s", e)

    async def _give(self, ckey: str, count: int, map_name: str) -> None:
        if (await self._gives.give(ckey, count, self._bound(map_name))).capped:
            log.debug("journal %s: gave back more credits than were taken", ckey)

    async def _send_gives(self, keys: Sequence[str], step: CreditsGive) -> dict[str, Any]:
        """One ``execute_on_keys`` of the gives of one loop turn (:class:`CreditGives`)."""
        if len(keys) == 1:
            answer = await self._aio.on_map(self.names.journal_credits, lambda m: m.execute_on_key(keys[0], step))
            return {keys[0]: answer}
        return dict(await self._aio.on_map(self.names.journal_credits, lambda m: m.execute_on_keys(list(keys), step)))

    async def give_credits(self, map_name: str, partition: int, count: int) -> None:
        """The pump shipped ``count`` entries of this journal: their credits return."""
        await self._give(credit_key(map_name, partition), count, map_name)
