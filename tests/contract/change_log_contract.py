"""The change-log port's contract (grid_config/change_log.py), run against every adapter.

``ChangeLogContract`` is not collected by itself (no ``Test`` prefix); each adapter's test
module subclasses it and provides the ``grid_factory`` fixture: an async callable
``make(names, journaled_maps, guard=False) -> Grid`` returning a *started* grid whose
``change_log`` journals exactly ``journaled_maps`` (closing whatever it made at teardown),
taking G7 journal credits only with ``guard=True``. Two kinds of
journaled maps are used: the entity maps (``names.journaled_maps``, at least 128 slots per
partition) and :func:`tiny_map` with exactly :data:`TINY_SLOTS` slots per partition (on
Hazelcast the ``*journal-tiny`` pattern of hazelcast.yaml), to overflow on purpose.

Writes go through the grid port, the way units write; every test has its own namespace,
so every journal starts empty at sequence 0.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Awaitable, Callable, Sequence

import pytest

from grid_config.change_log import ChangeLog, JournalBounds, JournalChange
from grid_config.entry_processors import StockAnswer, StockHold
from grid_config.events import META_FIELD, unstamped
from grid_config.names import Names
from grid_config.ports import Grid, Value
from tests.support.eventually import eventually_async

GridFactory = Callable[..., Awaitable[Grid]]
TINY_SLOTS = 10


def tiny_map(names: Names) -> str:
    return f"{names.namespace}journal-tiny"


def log_of(grid: Grid) -> ChangeLog:
    return grid.change_log  # type: ignore[attr-defined, no-any-return]


def same_partition_keys(log: ChangeLog, count: int, like: str = "7001", start: int = 10_000) -> list[str]:
    """Decimal keys in the partition of ``like`` (``like`` first)."""
    p = log.partition_of(like)
    keys, i = [like], start
    while len(keys) < count:
        if log.partition_of(str(i)) == p and str(i) != like:
            keys.append(str(i))
        i += 1
    return keys


def other_partition_key(log: ChangeLog, than: str, start: int = 50_000) -> str:
    p, i = log.partition_of(than), start
    while log.partition_of(str(i)) == p:
        i += 1
    return str(i)


async def everything(log: ChangeLog, map_name: str, partition: int, start: int = 0) -> list[JournalChange]:
    """Every entry from ``start`` on, in pages; asserts nothing was lost."""
    out: list[JournalChange] = []
    seq = start
    while True:
        got = await log.read(map_name, partition, seq, max_items=100)
        assert got.lost == 0
        if not got.changes:
            return out
        out.extend(got.changes)
        seq = got.next_seq


def shape(changes: Sequence[JournalChange], key: str | None = None) -> list[tuple[Any, Any]]:
    """(new, old) of each entry, without the change stamps writes add (checked apart)."""
    def bare(value: Any) -> Any:
        return unstamped(value) if isinstance(value, dict) else value

    return [(bare(c.value), bare(c.old)) for c in changes if key is None or c.key == key]


class ChangeLogContract:
    """Behaviour every ChangeLog adapter must show. Subclass with a ``grid_factory`` fixture."""

    @pytest.fixture
    def names(self, namespace: str) -> Names:
        return Names(namespace=namespace)

    @pytest.fixture
    async def grid(self, grid_factory: GridFactory, names: Names) -> Grid:
        return await grid_factory(names, (*names.journaled_maps, tiny_map(names)))

    @pytest.fixture
    def log(self, grid: Grid) -> ChangeLog:
        return log_of(grid)

    # ---- shape ------------------------------------------------------------------------
    async def test_journaled_maps_and_partitions(self, grid: Grid, log: ChangeLog, names: Names) -> None:
        assert set(log.journaled_maps) == {*names.journaled_maps, tiny_map(names)}
        assert log.partition_count > 1
        for key in ("1", "7001", "p-42", "4b9a-uuid-like-0001"):
            assert 0 <= log.partition_of(key) < log.partition_count
            assert log.partition_of(key) == log.partition_of(key)
        assert len({log.partition_of(str(i)) for i in range(200)}) > 10  # keys spread

    async def test_a_map_without_journal_or_a_bad_partition_is_refused(self, log: ChangeLog, names: Names) -> None:
        with pytest.raises(ValueError):
            await log.read(names.users_by_email, 0, 0)
        with pytest.raises(ValueError):
            await log.bounds(names.login_attempts, 0)
        with pytest.raises(ValueError):
            await log.read(names.orders, log.partition_count, 0)
        with pytest.raises(ValueError):
            await log.store_position(names.orders, 0, -1)

    # ---- what a write appends -----------------------------------------------------------
    async def test_each_write_appends_once_with_its_new_and_old_value(self, grid: Grid, log: ChangeLog) -> None:
        m, k = grid.names.orders, "7001"
        v = [{"id": k, "version": i} for i in range(7)]

        def to(new: Value) -> Callable[[Value | None], Value]:  # update's change: whatever is stored -> new
            return lambda current: new

        assert await grid.update(m, k, to(v[1]), request_id="r1") == v[1]  # added by an update
        await grid.put(m, k, v[2], request_id="r2")  # updated by a put
        assert await grid.update(m, k, to(v[3]), request_id="r3") == v[3]  # compare-and-set
        await grid.delete(m, k)  # removed
        assert await grid.put_if_absent(m, k, v[4], request_id="r4") is None  # stored again
        await grid.delete(m, k)  # removed again
        await grid.put_all(m, {k: v[5]})  # bulk load

        got = await everything(log, m, log.partition_of(k))
        assert [c.key for c in got] == [k] * 7
        assert [c.seq for c in got] == list(range(7))
        assert shape(got) == [
            (v[1], None), (v[2], v[1]), (v[3], v[2]), (None, v[3]), (v[4], None), (None, v[4]), (v[5], None),
        ]
        # single-key writes stamp what they write (time, request id); a removal's old value
        # is the stamped one it removed; the bulk load stores the values as given
        stamps = [c.value[META_FIELD]["request_id"] for c in got if c.value is not None and META_FIELD in c.value]
        assert stamps == ["r1", "r2", "r3", "r4"]
        assert [c.old[META_FIELD]["request_id"] for c in got if c.value is None] == ["r3", "r4"]
        assert got[-1].value == v[5]

    async def test_put_all_appends_one_entry_per_key(self, grid: Grid, log: ChangeLog) -> None:
        m = grid.names.products
        values = {str(i): {"id": str(i), "version": 1} for i in range(9000, 9020)}
        await grid.put_all(m, values)
        seen: dict[str, list[tuple[Any, Any]]] = {}
        for p in {log.partition_of(k) for k in values}:
            for c in await everything(log, m, p):
                seen.setdefault(c.key, []).append((c.value, c.old))
        assert seen == {k: [(v, None)] for k, v in values.items()}

    async def test_writes_that_change_nothing_append_nothing(self, grid: Grid, log: ChangeLog) -> None:
        m = grid.names.orders
        k, absent = same_partition_keys(log, 2)
        p = log.partition_of(k)
        await grid.put(m, k, {"id": k, "version": 1})
        before = await log.bounds(m, p)
        assert before == JournalBounds(0, 0)

        assert await grid.put_if_absent(m, k, {"id": k, "version": 9}) == {"id": k, "version": 1}
        assert not await grid.replace_if_same(m, k, {"id": k, "version": 8}, {"id": k, "version": 9})
        assert not await grid.replace_if_same(m, absent, {"id": absent}, {"id": absent, "version": 2})
        await grid.delete(m, absent)
        assert await grid.update(m, k, lambda current: None) == {"id": k, "version": 1}  # a change writing nothing
        assert await grid.update(m, absent, lambda current: None) is None

        def refuse(current: Value | None) -> Value:
            raise LookupError("a change that refuses writes nothing")

        with pytest.raises(LookupError):
            await grid.update(m, k, refuse)
        hold = StockHold("o-1", "a-1", 1, 1_760_000_000_000, "r", "2025-10-09T08:53:20.000Z")
        assert await grid.execute(m, absent, hold) == StockAnswer("missing")  # a step answering a no-op
        await grid.put(grid.names.users_by_email, k, {"user_id": k})  # a map without journal

        assert await log.bounds(m, p) == before
        assert shape(await everything(log, m, p)) == [({"id": k, "version": 1}, None)]

    async def test_one_key_keeps_its_order_over_many_updates(self, grid: Grid, log: ChangeLog) -> None:
        m, k = grid.names.orders, "7001"
        for i in range(120):  # below every entity map's slots per partition
            await grid.put(m, k, {"id": k, "version": i})
        got = await everything(log, m, log.partition_of(k))
        assert [c.seq for c in got] == list(range(120))
        assert [c.value["version"] for c in got] == list(range(120))  # type: ignore[index]
        assert got[0].old is None
        assert all(b.old == a.value for a, b in zip(got, got[1:]))

    # ---- bounds and reads ------------------------------------------------------------------
    async def test_bounds_of_an_empty_and_a_written_journal(self, grid: Grid, log: ChangeLog) -> None:
        m, k = grid.names.products, "7001"
        p = log.partition_of(k)
        empty = await log.bounds(m, p)
        assert empty == JournalBounds(0, -1) and empty.newest < empty.oldest
        for i in range(3):
            await grid.put(m, k, {"id": k, "version": i})
        assert await log.bounds(m, p) == JournalBounds(0, 2)
        q = log.partition_of(other_partition_key(log, k))
        assert await log.bounds(m, q) == JournalBounds(0, -1)  # journals are per partition
        assert await log.bounds(grid.names.orders, p) == JournalBounds(0, -1)  # and per map

    async def test_read_from_the_middle_in_pages_and_at_the_end(self, grid: Grid, log: ChangeLog) -> None:
        m, k = grid.names.orders, "7001"
        p = log.partition_of(k)
        for i in range(10):
            await grid.put(m, k, {"id": k, "version": i})

        middle = await log.read(m, p, 4)
        assert [c.seq for c in middle.changes] == list(range(4, 10))
        assert [c.value["version"] for c in middle.changes] == list(range(4, 10))  # type: ignore[index]
        assert (middle.start_seq, middle.next_seq, middle.lost) == (4, 10, 0)

        page = await log.read(m, p, 2, max_items=3)
        assert [c.seq for c in page.changes] == [2, 3, 4]
        assert (page.next_seq, page.lost) == (5, 0)

        at_end = await log.read(m, p, 10)
        assert (at_end.changes, at_end.next_seq, at_end.lost) == ([], 10, 0)
        beyond = await log.read(m, p, 15)  # an empty read cannot tell a reader ahead of the journal
        assert (beyond.changes, beyond.next_seq, beyond.lost) == ([], 15, 0)

    async def test_read_returns_independent_copies(self, grid: Grid, log: ChangeLog) -> None:
        m, k = grid.names.orders, "7001"
        await grid.put(m, k, {"id": k, "tags": ["a"]})
        first = await log.read(m, log.partition_of(k), 0)
        first.changes[0].value["tags"].append("mutated")  # type: ignore[index]
        again = await log.read(m, log.partition_of(k), 0)
        assert shape(again.changes) == [({"id": k, "tags": ["a"]}, None)]
        assert await grid.get(m, k) == {"id": k, "tags": ["a"]}

    async def test_wait_returns_once_a_write_arrives(self, grid: Grid, log: ChangeLog) -> None:
        m, k = grid.names.orders, "7001"
        p = log.partition_of(k)
        await grid.put(m, k, {"id": k, "version": 1})
        ready = await log.read(m, p, 0, wait=True)  # something there: no waiting
        assert [c.seq for c in ready.changes] == [0]

        poll = asyncio.ensure_future(log.read(m, p, 1, wait=True))
        done, _ = await asyncio.wait({poll}, timeout=0.5)
        assert not done, "a waiting read answered before any write"
        await grid.put(m, k, {"id": k, "version": 2})
        got = await asyncio.wait_for(poll, timeout=10)
        assert shape(got.changes) == [({"id": k, "version": 2}, {"id": k, "version": 1})]
        assert (got.changes[0].seq, got.next_seq, got.lost) == (1, 2, 0)

    async def test_a_waiting_read_ahead_of_the_journal_shows_negative_lost(self, grid: Grid, log: ChangeLog) -> None:
        """A reader ahead of the journal (it was recreated) is taken back to its end."""
        m, k = grid.names.orders, "7001"
        p = log.partition_of(k)
        poll = asyncio.ensure_future(log.read(m, p, 5, wait=True))
        done, _ = await asyncio.wait({poll}, timeout=0.5)
        assert not done
        await grid.put(m, k, {"id": k})
        got = await asyncio.wait_for(poll, timeout=10)
        assert [c.seq for c in got.changes] == [0]
        assert (got.next_seq, got.lost) == (1, -5)

    async def test_a_reader_keeping_up_sees_every_write_of_concurrent_writers(
        self, grid: Grid, log: ChangeLog
    ) -> None:
        m = grid.names.orders
        keys = same_partition_keys(log, 4)
        p = log.partition_of(keys[0])
        seen: list[JournalChange] = []

        async def reader() -> None:
            seq = 0
            while True:
                got = await log.read(m, p, seq, max_items=7, wait=True)
                assert got.lost == 0
                seen.extend(got.changes)
                seq = got.next_seq

        async def writer(key: str) -> None:
            for i in range(25):
                await grid.put(m, key, {"id": key, "version": i})

        task = asyncio.ensure_future(reader())
        try:
            await asyncio.gather(*(writer(k) for k in keys))

            async def caught_up() -> None:
                assert len(seen) == 100

            await eventually_async(caught_up, timeout=30, interval=0.05)
        finally:
            task.cancel()
            await grid.put(m, keys[0], {"id": keys[0], "version": 99})  # ends a poll parked on a member
        assert [c.seq for c in seen] == list(range(100))
        for key in keys:
            assert [c.value["version"] for c in seen if c.key == key] == list(range(25))  # type: ignore[index]

    # ---- positions ---------------------------------------------------------------------------
    async def test_positions_round_trip_per_map_and_partition(self, grid: Grid, log: ChangeLog) -> None:
        n = grid.names
        assert await log.position(n.orders, 0) is None
        await log.store_position(n.orders, 0, 5)
        await log.store_position(n.orders, 1, 7)
        await log.store_position(n.products, 0, 9)
        assert await log.position(n.orders, 0) == 5
        assert await log.position(n.orders, 1) == 7
        assert await log.position(n.products, 0) == 9
        assert await log.position(n.products, 1) is None
        assert await log.position(n.users, 0) is None
        await log.store_position(n.orders, 0, 6)
        await log.store_position(n.orders, 1, 0)
        assert (await log.position(n.orders, 0), await log.position(n.orders, 1)) == (6, 0)
        # a position is no entity change: no journal sees it
        for m in log.journaled_maps:
            assert await log.bounds(m, 0) == JournalBounds(0, -1)

    async def test_credits_are_restored_only_if_nothing_took_or_gave_since(
        self, grid_factory: GridFactory, names: Names
    ) -> None:
        """The reconciliation's compare-and-set (G7): no entry is the whole budget; a write
        takes (the entry shows fewer); restoring on what was read removes the entry, but a
        take or give in between makes it refuse and change nothing."""
        grid = await grid_factory(names, names.journaled_maps, guard=True)
        log = log_of(grid)
        m, key = grid.names.products, "7001"
        p = log.partition_of(key)
        assert log.bound(m) > 1
        assert await log.credits(m, p) is None
        await grid.put(m, key, {"id": key, "version": 1})
        first = await log.credits(m, p)
        assert first is not None and first.credits < log.bound(m)
        await log.shipped(m, p, 1)  # the pump gives one back: the entry changes
        now = await log.credits(m, p)
        assert now is not None and now.credits == first.credits + 1
        assert not await log.restore_credits(m, p, first)
        assert (await log.credits(m, p)).credits == now.credits  # type: ignore[union-attr]
        assert await log.restore_credits(m, p, now)
        assert await log.credits(m, p) is None
        assert not await log.restore_credits(m, p, now)  # gone already: nothing to restore

    # ---- repair --------------------------------------------------------------------------------
    async def test_keys_in_partition(self, grid: Grid, log: ChangeLog) -> None:
        m = grid.names.products
        inside = same_partition_keys(log, 4)
        outside = [other_partition_key(log, inside[0], start) for start in (50_000, 60_000)]
        for key in inside + outside:
            await grid.put(m, key, {"id": key})
        await grid.delete(m, inside[3])
        await grid.put(grid.names.orders, inside[3], {"id": inside[3]})  # another map
        p = log.partition_of(inside[0])
        assert sorted(await log.keys_in_partition(m, p)) == sorted(inside[:3])
        assert await log.keys_in_partition(grid.names.users, p) == []

    async def test_reship_appends_each_present_key_once_with_its_current_value(
        self, grid: Grid, log: ChangeLog
    ) -> None:
        m = grid.names.products
        a, b, gone = same_partition_keys(log, 3)
        p = log.partition_of(a)
        await grid.put(m, a, {"id": a, "version": 1}, request_id="ra1")
        await grid.put(m, b, {"id": b, "version": 1}, request_id="rb1")
        await grid.put(m, b, {"id": b, "version": 2}, request_id="rb2")
        assert await grid.get(m, b) == {"id": b, "version": 2}
        start = (await log.bounds(m, p)).newest + 1

        assert await log.reship(m, [a, b, gone]) == 2
        assert await log.reship(m, []) == 0
        got = (await log.read(m, p, start)).changes
        assert [c.key for c in got] == [a, b]
        assert shape(got) == [
            ({"id": a, "version": 1}, {"id": a, "version": 1}),
            ({"id": b, "version": 2}, {"id": b, "version": 2}),
        ]
        # the stored value as it is, stamp included: its event names the change that made it
        assert all(c.value == c.old for c in got)
        assert [c.value[META_FIELD]["request_id"] for c in got] == ["ra1", "rb2"]  # type: ignore[index]
        assert await grid.get_many(m, [a, b, gone]) == {a: {"id": a, "version": 1}, b: {"id": b, "version": 2}}

    async def test_reship_racing_writes_never_steps_a_key_back(self, grid: Grid, log: ChangeLog) -> None:
        """Every journal entry of the key carries a version >= the one before it, and the
        newest value is the key's last entry, whoever won each race."""
        m = grid.names.orders
        keys = same_partition_keys(log, 3)
        p = log.partition_of(keys[0])
        for key in keys:
            await grid.put(m, key, {"id": key, "version": 0})
        writers_left = len(keys)
        # a re-ship that loses every compare-and-set reports 0 (CI once saw all 40 rounds
        # lose to 3 busy writers): until one re-ship landed mid-run, each write leaves the
        # re-shipper a short window, so the race run always includes appended re-ships
        landed = asyncio.Event()

        async def writer(key: str) -> None:
            nonlocal writers_left
            for i in range(1, 31):
                await grid.put(m, key, {"id": key, "version": i})
                await asyncio.sleep(0)  # interleave with the re-shipper (in-process calls never yield)
                if i >= 5 and not landed.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(landed.wait(), 0.05)
            writers_left -= 1

        async def reshipper() -> int:
            total, rounds = 0, 0
            while writers_left and rounds < 40:  # 3 + 90 + <= 120 entries: below the 256 slots
                total += await log.reship(m, keys)
                if total:
                    landed.set()
                rounds += 1
                await asyncio.sleep(0)
            return total

        _, reshipped = await asyncio.gather(asyncio.gather(*(writer(k) for k in keys)), reshipper())
        assert reshipped > 0
        got = await everything(log, m, p)
        assert len(got) == 3 + 90 + reshipped  # a re-ship appends exactly what it reports
        for key in keys:
            versions = [c.value["version"] for c in got if c.key == key]  # type: ignore[index]
            assert versions == sorted(versions), versions
            assert versions[-1] == 30
            assert await grid.get(m, key) == {"id": key, "version": 30}

    # ---- gaps ------------------------------------------------------------------------------------
    async def test_an_overwritten_journal_reports_exactly_what_was_lost(self, grid: Grid, log: ChangeLog) -> None:
        m = tiny_map(grid.names)
        keys = same_partition_keys(log, 25)
        p = log.partition_of(keys[0])
        for i, key in enumerate(keys):
            await grid.put(m, key, {"id": key, "i": i})

        assert await log.bounds(m, p) == JournalBounds(15, 24)  # 10 slots: 0..14 overwritten
        from_zero = await log.read(m, p, 0)
        assert from_zero.lost == 15
        assert [c.seq for c in from_zero.changes] == list(range(15, 25))
        assert [c.key for c in from_zero.changes] == keys[15:]
        assert (from_zero.start_seq, from_zero.next_seq) == (0, 25)
        assert (await log.read(m, p, 12)).lost == 3
        assert (await log.read(m, p, 12, max_items=4)).lost == 3
        assert (await log.read(m, p, 15)).lost == 0
        tail = await log.read(m, p, from_zero.next_seq)
        assert (tail.changes, tail.lost) == ([], 0)

        # one hot key overflowing its partition: the same arithmetic
        for i in range(TINY_SLOTS + 3):
            await grid.put(m, keys[0], {"id": keys[0], "hot": i})
        behind = await log.read(m, p, 25)
        assert behind.lost == 3
        assert [c.value["hot"] for c in behind.changes] == list(range(3, TINY_SLOTS + 3))  # type: ignore[index]

        # a reader that keeps up loses nothing
        for i in range(TINY_SLOTS - 1):
            await grid.put(m, keys[i], {"id": keys[i], "again": i})
        batch = await log.read(m, p, behind.next_seq)
        assert (len(batch.changes), batch.lost) == (TINY_SLOTS - 1, 0)
