"""Hazelcast adapter of the change-log port: the IMap event journals, read over the grid's asyncio client.

``HazelcastGrid(...).change_log`` is one of these; it shares the grid's asyncio client
(:class:`~grid_config.hazelcast_asyncio.HazelcastConnection`) and speaks the journal protocol
through :mod:`grid_config.hazelcast_journal` (the one module touching client internals).

* Partitions are the cluster's (271 by default); a key's partition is the member's own
  hash of the serialized key, so it is only known once the client is connected.
* Values come back as the ``HazelcastJsonValue`` documents the grid stores; they are
  decoded like :func:`grid_config.hazelcast_grid._decode` (the sort field dropped).
* A waiting read (``wait=True``) is a long poll on the member with no deadline here; the
  protocol cannot cancel it: cancelling the awaiting task leaves the operation parked on
  the member until the next write to that partition (harmless, it answers nobody).
* Positions live in the IMap ``Names.journal_positions`` (not journaled, one synchronous
  backup, no TTL), key ``"<map>#<partition>"``, value ``{"next": n}``.
* ``keys_in_partition`` lists the whole map's keys and filters by partition: the 5.7
  Python client has no partition predicate (``hazelcast.predicate`` offers none) and no
  per-partition key listing. O(map size) per call, acceptable for a rare gap repair; a
  repair of several partitions of one map should list once and group.
* ``reship`` rewrites each key's value unchanged with ``replace_if_same(key, v, v)``: the
  member journals that as an UPDATED entry with old == new (checked by the contract
  suite). ``v`` is read through the classic client, which has no near cache: a stale
  near-cached ``v`` would make the compare-and-set fail without any newer entry
  guaranteeing the key ships.

Driver errors become grid errors as in the grid (``_translate``); a client version this
module does not support raises :class:`~grid_config.hazelcast_journal.JournalClientUnsupported`
(a deployment error, never "retry later").
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Iterable, Mapping, Sequence, TypeVar

import orjson

from grid_config import hazelcast_journal as journal
from grid_config.change_log import ChangeLog, CreditCount, JournalBounds, JournalChange, JournalRead
from grid_config.errors import GridError, GridUnavailable
from grid_config.hazelcast_grid import _decode, _is_driver_error, _load, _translate
from grid_config.journal import credit_key, journal_of
from grid_config.ports import Value
from service_kit.bounded import keep

if TYPE_CHECKING:
    from grid_config.hazelcast_grid import HazelcastGrid

T = TypeVar("T")
log = logging.getLogger(__name__)

#: keys per fresh read and round of compare-and-sets in :meth:`HazelcastChangeLog.reship`
RESHIP_CHUNK = 200
#: keys whose partition is remembered (the oldest forgotten first)
PARTITIONS_MEMO = 65_536


def position_key(map_name: str, partition: int) -> str:
    return f"{map_name}#{partition}"


class HazelcastChangeLog(ChangeLog):
    """The event journals of ``journaled_maps`` on the grid's cluster, and the pump's positions."""

    def __init__(self, grid: "HazelcastGrid", journaled_maps: Iterable[str]) -> None:
        self.journaled_maps = tuple(journaled_maps)
        self._grid = grid
        self._aio = grid.connection
        self._positions = grid.names.journal_positions
        self._deadline_s = grid.operation_timeout_s + 1.0
        #: key -> partition: fixed for a cluster's life (the key's hash, the partition count),
        #: and hashing in Python was ~3% of a unit's CPU per order (a write's credit entry)
        self._partitions: dict[str, int] = {}

    # ---- plumbing -------------------------------------------------------------------------
    def _client(self) -> Any:
        return self._aio.client()

    def _check(self, map_name: str, partition: int | None = None) -> None:
        if map_name not in self.journaled_maps:
            raise ValueError(f"map {map_name!r} has no journal (journaled: {', '.join(self.journaled_maps)})")
        if partition is not None and not 0 <= partition < self.partition_count:
            raise ValueError(f"partition {partition} is not in [0, {self.partition_count})")

    async def _run(self, op: Callable[[], Awaitable[T]], deadline: bool = True) -> T:
        """Await one client operation (with the grid's deadline unless a long poll)."""
        try:
            if not deadline:
                return await op()
            async with asyncio.timeout(self._deadline_s):
                return await op()
        except (journal.JournalClientUnsupported, journal.JournalDecodeError, GridError):
            raise
        except BaseException as e:
            if _is_driver_error(e) or isinstance(e, TimeoutError):
                raise _translate(e) from e
            raise

    # ---- the port ----------------------------------------------------------------------------
    @property
    def partition_count(self) -> int:
        return _partition_table(lambda: journal.partition_count(self._client()))

    def partition_of(self, key: str) -> int:
        known = self._partitions.get(key)
        if known is None:
            known = keep(self._partitions, key,
                         _partition_table(lambda: journal.partition_of(self._client(), key)), PARTITIONS_MEMO)
        return known

    async def bounds(self, map_name: str, partition: int) -> JournalBounds:
        self._check(map_name, partition)
        client = self._client()
        got = await self._run(lambda: journal.subscribe(client, map_name, partition))
        return JournalBounds(got.oldest, got.newest)

    async def read(
        self, map_name: str, partition: int, start_seq: int, max_items: int = 500, wait: bool = False
    ) -> JournalRead:
        """At most ``min(max_items, 1000)`` entries (the member's cap per read)."""
        self._check(map_name, partition)
        if start_seq < 0 or max_items < 1:
            raise ValueError("need start_seq >= 0 and max_items >= 1")
        client = self._client()
        batch = await self._run(
            lambda: journal.read(client, map_name, partition, start_seq,
                                 min_size=1 if wait else 0, max_size=min(max_items, journal.MAX_BATCH)),
            deadline=not wait,
        )
        changes: list[JournalChange] = []
        for e in batch.events:
            if e.key is None:  # no such event on a map journal today; never guess a key
                log.warning("journal %s#%s: event %s of type %s without a key skipped",
                            map_name, partition, e.seq, e.type)
                continue
            if not isinstance(e.key, str):  # written behind the units' back: poison, dead-lettered
                changes.append(JournalChange(seq=e.seq, key=f"<key of serializer type {e.key.type_id}>",
                                             value=_not_a_document(e.key), old=None))  # type: ignore[arg-type]
                continue
            changes.append(JournalChange(seq=e.seq, key=e.key, value=_document(e.new_value, map_name, e.seq),
                                         old=_document(e.old_value, map_name, e.seq)))
        return JournalRead(start_seq=batch.start_seq, next_seq=batch.next_seq, changes=changes, lost=batch.lost)

    def capacity(self, map_name: str) -> int:
        self._check(map_name)
        return journal_of(map_name, self._grid.names.namespace).slots

    async def shipped(self, map_name: str, partition: int, count: int) -> None:
        self._check(map_name, partition)
        await self._grid.give_credits(map_name, partition, count)

    def bound(self, map_name: str) -> int:
        self._check(map_name)
        return journal_of(map_name, self._grid.names.namespace).bound

    async def credits(self, map_name: str, partition: int) -> CreditCount | None:
        self._check(map_name, partition)
        key = credit_key(map_name, partition)
        stored = await self._aio.on_map(self._grid.names.journal_credits, lambda m: m.get(key))
        if stored is None:
            return None
        return CreditCount(int(orjson.loads(stored.to_string())["credits"]), stored)

    async def restore_credits(self, map_name: str, partition: int, seen: CreditCount) -> bool:
        """``remove_if_same`` on the stored document exactly as read (the processors write it)."""
        self._check(map_name, partition)
        key = credit_key(map_name, partition)
        return bool(await self._aio.on_map(self._grid.names.journal_credits,
                                           lambda m: m.remove_if_same(key, seen.seen)))

    async def position(self, map_name: str, partition: int) -> int | None:
        self._check(map_name, partition)
        key = position_key(map_name, partition)
        found = await self._aio.get_stored(self._positions, [key])
        stored = _decode(found.get(key))
        return None if stored is None else int(stored["next"])

    async def positions(self, journals: Sequence[tuple[str, int]]) -> dict[tuple[str, int], int]:
        for map_name, partition in journals:
            self._check(map_name, partition)
        keys = {position_key(m, p): (m, p) for m, p in journals}
        found = await self._aio.get_stored(self._positions, list(keys))
        return {keys[k]: int(doc["next"]) for k, v in found.items() if (doc := _decode(v)) is not None}

    async def store_positions(self, positions: Mapping[tuple[str, int], int]) -> None:
        from hazelcast.core import HazelcastJsonValue

        for (map_name, partition), next_seq in positions.items():
            self._check(map_name, partition)
            if next_seq < 0:
                raise ValueError("next_seq must be >= 0")
        docs = {position_key(m, p): HazelcastJsonValue(orjson.dumps({"next": n}).decode())
                for (m, p), n in positions.items()}
        if docs:
            await self._aio.on_map(self._positions, lambda m: m.put_all(docs))

    async def store_position(self, map_name: str, partition: int, next_seq: int) -> None:
        from hazelcast.core import HazelcastJsonValue

        self._check(map_name, partition)
        if next_seq < 0:
            raise ValueError("next_seq must be >= 0")
        key = position_key(map_name, partition)
        doc = HazelcastJsonValue(orjson.dumps({"next": next_seq}).decode())
        await self._aio.on_map(self._positions, lambda m: m.set(key, doc))

    async def keys_in_partition(self, map_name: str, partition: int) -> list[str]:
        """Every key of the map, filtered here by partition: O(map size), see the module docstring."""
        self._check(map_name, partition)
        keys = await self._aio.on_map(map_name, lambda m: m.key_set())
        client = self._client()
        return [k for k in keys if journal.partition_of(client, k) == partition]

    async def reship(self, map_name: str, keys: Sequence[str]) -> int:
        """``replace_if_same(key, v, v)`` for each present key, ``v`` read fresh.

        A compare-and-set that fails means the key changed after the read: that write
        journaled itself with a newer value, so nothing is lost and nothing steps back.
        """
        self._check(map_name)
        done = 0
        for i in range(0, len(keys), RESHIP_CHUNK):
            chunk = list(keys[i : i + RESHIP_CHUNK])
            stored = await self._aio.get_stored(map_name, chunk)

            async def rewrite(key: str, value: Any) -> bool:
                return bool(await self._aio.on_map(map_name, lambda m: m.replace_if_same(key, value, value)))

            results = await asyncio.gather(*(rewrite(k, v) for k, v in stored.items() if v is not None))
            done += sum(results)
        return done


def _partition_table(ask: Callable[[], int]) -> int:
    """Ask the client's partition table; GridUnavailable while it has none yet."""
    try:
        return ask()
    except journal.JournalClientUnsupported:
        raise
    except RuntimeError as e:
        raise GridUnavailable(f"no partition table yet: {e}") from e


def _document(stored: Any, map_name: str, seq: int) -> Value | None:
    """A journal value as stored: with its change stamp (the pump ships it).

    A value that is not a JSON document (written behind the units' back) comes back as a
    string describing it: not an entity, so the pump dead-letters the entry and its
    journal goes on (raising here would stop the partition for good: every retry reads it
    again)."""
    from hazelcast.core import HazelcastJsonValue

    if stored is None:
        return None
    if not isinstance(stored, HazelcastJsonValue):
        return _not_a_document(stored)  # type: ignore[return-value]
    return _load(stored)


def _not_a_document(stored: Any) -> str:
    if isinstance(stored, journal.Undecodable):
        return f"<not a JSON document: serializer type {stored.type_id}, not deserialized>"
    return f"<not a JSON document: {type(stored).__name__} {stored!r:.200}>"
