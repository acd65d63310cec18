"""In-process adapter of the grid port: the embedded mode's space and the unit tests' grid.

Everything lives in dicts guarded by one lock; values are stored as canonical orjson
bytes (sorted keys), so callers can never mutate what is stored and compare-and-set
compares the same canonical form the Hazelcast adapter compares.

Every write is one critical section: atomic and serial, which makes the in-process
adapter the reference the contract suite holds the Hazelcast adapter to. Entry processors
run their in-process twin (``step.apply``, the same semantics as the Java class).

Change record (G2): every write to a journaled map appends to that map's journal in the
same critical section (:mod:`grid_config.local_change_log`, the same semantics as the
members' event journal), stamped with its time and request id; readers of the space
never see the stamp. G7: a write that would append to a journal holding its bound of
un-shipped entries takes no credit and fails with :class:`BacklogFull` (decision 0018).
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, AsyncIterator, Iterable, Mapping, Sequence

import orjson

from grid_config.events import stamped, unstamped
from grid_config.local_change_log import DEFAULT_CAPACITY, DEFAULT_PARTITIONS, LocalChangeLog
from grid_config.names import Names
from grid_config.ports import A, Change, Grid, Page, Value, below_all, id_order

if TYPE_CHECKING:
    from grid_config.entry_processors import MemberStep

#: Flake-style ids: milliseconds since this epoch (2018-01-01 UTC, like Hazelcast) << 22 | counter
_EPOCH_MS = 1514764800000
_SEQ_BITS = 22


def _encode(value: Value) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def _decode(data: bytes) -> Value:
    """A stored value as the space's readers see it (without its change stamp)."""
    return unstamped(orjson.loads(data))


@dataclass
class _Entry:
    data: bytes
    expires_at: float | None = None  # time.monotonic() deadline

    def alive(self, now: float) -> bool:
        return self.expires_at is None or now < self.expires_at


class LocalGrid(Grid):
    """The grid in one process: dicts, one lock, bounded journals."""

    def __init__(
        self,
        names: Names,
        *,
        journaled_maps: Iterable[str] | None = None,
        partitions: int = DEFAULT_PARTITIONS,
        journal_capacity: int | Mapping[str, int] = DEFAULT_CAPACITY,
        journal_guard: bool = True,
    ) -> None:
        """``journaled_maps`` (default: ``names.journaled_maps``), ``partitions`` and
        ``journal_capacity`` (slots per partition; one int or per map name) shape
        :attr:`change_log`, mirroring the members' ``event-journal`` configuration."""
        self.names = names
        # a threading lock (not asyncio): critical sections never await, and embedded
        # helpers running in worker threads stay safe too
        self._lock = threading.RLock()
        self._maps: dict[str, dict[str, _Entry]] = {}
        self._last_id = 0
        self.change_log = LocalChangeLog(
            self,
            names.journaled_maps if journaled_maps is None else journaled_maps,
            partitions=partitions,
            capacity=journal_capacity,
            guard=journal_guard,
        )

    # ---- internals (call with the lock held) ------------------------------------
    def _map(self, map_name: str) -> dict[str, _Entry]:
        return self._maps.setdefault(map_name, {})

    def _live(self, map_name: str, key: str) -> _Entry | None:
        m = self._map(map_name)
        entry = m.get(key)
        if entry is not None and not entry.alive(time.monotonic()):
            del m[key]
            return None
        return entry

    def _read(self, map_name: str, key: str) -> Value | None:
        entry = self._live(map_name, key)
        return None if entry is None else _decode(entry.data)

    def _live_items(self, map_name: str) -> list[tuple[str, bytes]]:
        now = time.monotonic()
        m = self._map(map_name)
        dead = [k for k, e in m.items() if not e.alive(now)]
        for k in dead:
            del m[k]
        return [(k, e.data) for k, e in m.items()]

    def _journal(self, map_name: str, key: str, new: bytes | None, old: _Entry | None) -> None:
        """Append the write just made to ``map_name``'s journal (a no-op for other maps)."""
        self.change_log.append(map_name, key, new, None if old is None else old.data)

    @staticmethod
    def _deadline(ttl_s: float | None) -> float | None:
        return None if ttl_s is None else time.monotonic() + ttl_s

    # ---- reads -------------------------------------------------------------------
    async def get(self, map_name: str, key: str) -> Value | None:
        with self._lock:
            return self._read(map_name, key)

    async def get_many(self, map_name: str, keys: Sequence[str]) -> dict[str, Value]:
        with self._lock:
            found = {k: self._live(map_name, k) for k in keys}
            return {k: _decode(e.data) for k, e in found.items() if e is not None}

    async def query(
        self,
        map_name: str,
        equals: Mapping[str, Any] | None = None,
        after: str | None = None,
        limit: int = 50,
        *,
        below: Mapping[str, int] | None = None,
    ) -> Page:
        if limit < 1:
            raise ValueError("limit must be >= 1")
        with self._lock:
            items = self._live_items(map_name)
        if after is not None:
            cursor = id_order(after)
            items = [(k, d) for k, d in items if id_order(k) > cursor]
        items.sort(key=lambda kv: id_order(kv[0]))
        page: list[tuple[str, Value]] = []
        wanted = dict(equals or {})
        for key, data in items:
            value = _decode(data)
            if all(value.get(f) == v for f, v in wanted.items()) and below_all(value, below):
                page.append((key, value))
                if len(page) > limit:
                    break
        more = len(page) > limit
        page = page[:limit]
        return Page(items=[v for _, v in page], next_cursor=page[-1][0] if more else None)

    async def members(self) -> list[dict[str, Any]]:
        """One member: this process, owning every partition, no backups."""
        return [{"address": "in-process", "owned": self.change_log.partition_count, "backups": 0}]

    async def entries(self, map_name: str, batch: int = 1000) -> AsyncIterator[tuple[str, Value]]:
        with self._lock:
            items = self._live_items(map_name)
        for i in range(0, len(items), batch):
            for key, data in items[i : i + batch]:
                yield key, _decode(data)
            await asyncio.sleep(0)

    async def size(self, map_name: str) -> int:
        with self._lock:
            return len(self._live_items(map_name))

    # ---- single-key writes ---------------------------------------------------------
    def _stamped(self, map_name: str, value: Value, request_id: str) -> Value:
        return stamped(value, request_id) if map_name in self.change_log.journaled_maps else value

    def _store(self, map_name: str, key: str, data: bytes, old: _Entry | None, expires_at: float | None = None) -> None:
        """Write one entry with its journal credit and entry (call with the lock held)."""
        self.change_log.take_credits([(map_name, key)])
        self._map(map_name)[key] = _Entry(data, expires_at)
        self._journal(map_name, key, data, old)

    async def put(
        self, map_name: str, key: str, value: Value, ttl_s: float | None = None, *, request_id: str = ""
    ) -> None:
        data = _encode(self._stamped(map_name, value, request_id))
        with self._lock:
            self._store(map_name, key, data, self._live(map_name, key), self._deadline(ttl_s))

    async def put_if_absent(
        self, map_name: str, key: str, value: Value, ttl_s: float | None = None, *, request_id: str = ""
    ) -> Value | None:
        data = _encode(self._stamped(map_name, value, request_id))
        with self._lock:
            existing = self._live(map_name, key)
            if existing is not None:
                return _decode(existing.data)
            self._store(map_name, key, data, None, self._deadline(ttl_s))
            return None

    async def update(self, map_name: str, key: str, change: Change, *, request_id: str = "") -> Value | None:
        with self._lock:
            old = self._live(map_name, key)
            current = None if old is None else _decode(old.data)
            new = change(current)
            if new is None:
                return current
            data = _encode(self._stamped(map_name, new, request_id))
            # an update keeps the entry's TTL, as Hazelcast's replace does
            self._store(map_name, key, data, old, None if old is None else old.expires_at)
            return _decode(data)

    async def execute(self, map_name: str, key: str, step: "MemberStep[A]") -> A:
        with self._lock:
            old = self._live(map_name, key)
            new, answer = step.apply(None if old is None else orjson.loads(old.data))
            if new is not None:
                self._store(map_name, key, _encode(new), old, None if old is None else old.expires_at)
            return answer

    async def replace_if_same(self, map_name: str, key: str, expected: Value, new: Value) -> bool:
        old_data, new_data = _encode(expected), _encode(new)
        with self._lock:
            existing = self._live(map_name, key)
            if existing is None or existing.data != old_data:
                return False
            self.change_log.take_credits([(map_name, key)])
            existing.data = new_data  # keeps its TTL, as Hazelcast's replace does
            self.change_log.append(map_name, key, new_data, old_data)
            return True

    async def delete(self, map_name: str, key: str) -> None:
        with self._lock:
            old = self._live(map_name, key)
            if old is not None:
                self.change_log.take_credits([(map_name, key)])
                del self._map(map_name)[key]
                self._journal(map_name, key, None, old)

    async def put_all(self, map_name: str, entries: Mapping[str, Value]) -> None:
        encoded = {k: _Entry(_encode(v)) for k, v in entries.items()}
        with self._lock:
            for key, entry in encoded.items():
                old = self._live(map_name, key)
                self._map(map_name)[key] = entry
                self._journal(map_name, key, entry.data, old)

    # ---- ids ---------------------------------------------------------------------
    async def new_id(self) -> str:
        with self._lock:
            now = (int(time.time() * 1000) - _EPOCH_MS) << _SEQ_BITS
            self._last_id = max(self._last_id + 1, now)
            return str(self._last_id)

