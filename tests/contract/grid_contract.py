"""The grid port's contract, written once and run against every adapter.

``GridContract`` is not collected by itself (no ``Test`` prefix); each adapter's test
module subclasses it as ``TestXxxGridContract`` and provides the ``grid_factory``
fixture: an async callable ``make(names) -> Grid`` returning a *started*
grid, closing whatever it made at teardown. Tests use the ``namespace`` fixture for
unique map and queue names.
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

import pytest

from grid_config.change_log import JournalChange
from grid_config.entry_processors import StockAnswer, StockHold
from grid_config.errors import BacklogFull, WriteConflict
from grid_config.events import META_FIELD, unstamped
from grid_config.names import Names
from grid_config.ports import Grid, Value, id_order
from tests.support.eventually import eventually_async

GridFactory = Callable[[Names], Awaitable[Grid]]
#: a stock step's clock and change time (the caller fixes them: processors are deterministic)
NOW_MS = 1_760_000_000_000
CHANGED_AT = "2025-10-09T08:53:20.000Z"


def same_partition(grid: Grid, map_name: str, count: int, start: int = 1000) -> list[str]:
    """Decimal ids that all live in one partition (the first id's)."""
    log = grid.change_log
    found = [str(start)]
    i = start + 1
    while len(found) < count:
        if log.partition_of(str(i)) == log.partition_of(found[0]):
            found.append(str(i))
        i += 1
    return found


async def journal(grid: Grid, map_name: str, key: str, only_key: bool = True) -> list[JournalChange]:
    """The entries still in the journal of ``key``'s partition of ``map_name``, oldest first:
    those about ``key``, or (``only_key=False``) every key's."""
    log = grid.change_log
    partition = log.partition_of(key)
    bounds = await log.bounds(map_name, partition)
    out: list[JournalChange] = []
    seq = bounds.oldest
    while seq <= bounds.newest:
        read = await log.read(map_name, partition, seq, 500)
        out += read.changes
        seq = read.next_seq
    return [c for c in out if c.key == key] if only_key else out


class GridContract:
    """Behaviour every Grid adapter must show. Subclass with a ``grid_factory`` fixture."""

    @pytest.fixture
    def names(self, namespace: str) -> Names:
        return Names(namespace=namespace)

    @pytest.fixture
    async def grid(self, grid_factory: GridFactory, names: Names) -> Grid:
        return await grid_factory(names)

    # ---- single-key operations ------------------------------------------------------
    async def test_get_missing_is_none(self, grid: Grid) -> None:
        assert await grid.get(grid.names.products, "404") is None

    async def test_put_then_get_returns_an_independent_copy(self, grid: Grid) -> None:
        m = grid.names.products
        value = {"id": "1", "name": "lamp", "tags": ["a"], "price_cents": 1299}
        await grid.put(m, "1", value)
        value["tags"].append("mutated-after-put")
        got = await grid.get(m, "1")
        assert got == {"id": "1", "name": "lamp", "tags": ["a"], "price_cents": 1299}
        got["name"] = "mutated-after-get"
        assert (await grid.get(m, "1"))["name"] == "lamp"

    async def test_get_many_returns_only_present_keys(self, grid: Grid) -> None:
        m = grid.names.users
        for k in ("1", "2", "3"):
            await grid.put(m, k, {"id": k})
        assert await grid.get_many(m, ["1", "3", "99"]) == {"1": {"id": "1"}, "3": {"id": "3"}}
        assert await grid.get_many(m, []) == {}

    async def test_put_if_absent(self, grid: Grid) -> None:
        m = grid.names.users_by_email
        assert await grid.put_if_absent(m, "a@x.io", {"user_id": "1"}) is None
        assert await grid.put_if_absent(m, "a@x.io", {"user_id": "2"}) == {"user_id": "1"}
        assert await grid.get(m, "a@x.io") == {"user_id": "1"}

    async def test_put_with_ttl_expires(self, grid: Grid) -> None:
        m = grid.names.login_attempts
        await grid.put(m, "k", {"n": 1}, ttl_s=1)
        await grid.put(m, "forever", {"n": 1})
        assert await grid.get(m, "k") == {"n": 1}

        async def gone() -> None:
            assert await grid.get(m, "k") is None

        await eventually_async(gone, timeout=15)
        assert await grid.get(m, "forever") == {"n": 1}

    async def test_put_if_absent_with_ttl_frees_the_key_after_expiry(self, grid: Grid) -> None:
        m = grid.names.users_by_email
        assert await grid.put_if_absent(m, "key", {"first": True}, ttl_s=1) is None
        assert await grid.put_if_absent(m, "key", {"first": False}, ttl_s=1) == {"first": True}

        async def free_again() -> None:
            assert await grid.put_if_absent(m, "key", {"second": True}) is None

        await eventually_async(free_again, timeout=15)
        assert await grid.get(m, "key") == {"second": True}

    async def test_replace_if_same_is_compare_and_set_on_the_value(self, grid: Grid) -> None:
        m = grid.names.products_by_sku  # a helper map: what is stored is exactly what was written
        await grid.put(m, "1", {"id": "1", "version": 1, "name": "a"})
        # same value, other key order: still "same"
        assert await grid.replace_if_same(m, "1", {"name": "a", "version": 1, "id": "1"},
                                          {"id": "1", "version": 2, "name": "b"})
        assert not await grid.replace_if_same(m, "1", {"id": "1", "version": 1, "name": "a"},
                                              {"id": "1", "version": 3, "name": "c"})
        assert await grid.get(m, "1") == {"id": "1", "version": 2, "name": "b"}
        assert not await grid.replace_if_same(m, "missing", {"id": "x"}, {"id": "y"})
        assert await grid.get(m, "missing") is None

    async def test_delete(self, grid: Grid) -> None:
        m = grid.names.products
        await grid.put(m, "1", {"id": "1"})
        await grid.delete(m, "1")
        assert await grid.get(m, "1") is None
        await grid.delete(m, "never-there")  # no error

    async def test_put_all_and_size(self, grid: Grid) -> None:
        m = grid.names.orders
        assert await grid.size(m) == 0
        await grid.put_all(m, {str(i): {"id": str(i), "n": i} for i in range(1, 251)})
        assert await grid.size(m) == 250
        got = await grid.get_many(m, ["1", "250"])
        assert got == {"1": {"id": "1", "n": 1}, "250": {"id": "250", "n": 250}}
        await grid.put_all(m, {})

    async def test_entries_yields_every_entry_once(self, grid: Grid) -> None:
        m = grid.names.orders
        expected = {str(i): {"id": str(i)} for i in range(1, 38)}
        await grid.put_all(m, expected)
        seen: dict[str, Any] = {}
        async for key, value in grid.entries(m, batch=10):
            assert key not in seen
            seen[key] = value
        assert seen == expected

    # ---- query ------------------------------------------------------------------------
    async def test_query_pages_in_numeric_id_order_with_cursor(self, grid: Grid) -> None:
        m = grid.names.products
        keys = ["9", "10", "11", "99", "100", "101", "1000", "5", "12345678901234567"]
        await grid.put_all(m, {k: {"id": k, "category": "c"} for k in keys})
        ordered = sorted(keys, key=id_order)
        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            page = await grid.query(m, after=cursor, limit=4)
            pages += 1
            seen += [v["id"] for v in page.items]
            if page.next_cursor is None:
                break
            assert page.next_cursor == page.items[-1]["id"]
            cursor = page.next_cursor
        assert seen == ordered
        assert pages == 3

    async def test_query_exact_last_page_has_no_cursor(self, grid: Grid) -> None:
        m = grid.names.products
        await grid.put_all(m, {str(i): {"id": str(i)} for i in range(1, 5)})
        page = await grid.query(m, limit=4)
        assert [v["id"] for v in page.items] == ["1", "2", "3", "4"]
        assert page.next_cursor is None
        empty = await grid.query(m, after="4", limit=4)
        assert empty.items == [] and empty.next_cursor is None

    async def test_query_filters_by_equal_fields(self, grid: Grid) -> None:
        m = grid.names.products
        data = {}
        for i in range(1, 31):
            data[str(i)] = {"id": str(i), "category": "books" if i % 3 == 0 else "toys",
                            "price_cents": 100 if i % 2 == 0 else 200}
        await grid.put_all(m, data)
        books = await grid.query(m, equals={"category": "books"}, limit=200)
        assert [v["id"] for v in books.items] == [str(i) for i in range(3, 31, 3)]
        first = await grid.query(m, equals={"category": "books"}, limit=4)
        assert [v["id"] for v in first.items] == ["3", "6", "9", "12"]
        rest = await grid.query(m, equals={"category": "books"}, after=first.next_cursor, limit=50)
        assert [v["id"] for v in rest.items] == ["15", "18", "21", "24", "27", "30"]
        assert rest.next_cursor is None
        cheap_books = await grid.query(m, equals={"category": "books", "price_cents": 100})
        assert [v["id"] for v in cheap_books.items] == ["6", "12", "18", "24", "30"]
        assert (await grid.query(m, equals={"category": "none"})).items == []

    async def test_query_filters_by_fields_below_a_number(self, grid: Grid) -> None:
        m = grid.names.orders
        data = {str(i): {"id": str(i), "status": "placed" if i % 2 else "paid", "placed_at_ms": 1000 * i}
                for i in range(1, 21)}
        data["21"] = {"id": "21", "status": "placed"}  # no such field: never below anything
        await grid.put_all(m, data)
        old = await grid.query(m, {"status": "placed"}, below={"placed_at_ms": 9000}, limit=100)
        assert [v["id"] for v in old.items] == ["1", "3", "5", "7"]
        first = await grid.query(m, {"status": "placed"}, below={"placed_at_ms": 9000}, limit=3)
        rest = await grid.query(m, {"status": "placed"}, after=first.next_cursor, below={"placed_at_ms": 9000})
        assert [v["id"] for v in first.items + rest.items] == ["1", "3", "5", "7"]
        assert rest.next_cursor is None
        every = await grid.query(m, below={"placed_at_ms": 3001}, limit=100)
        assert [v["id"] for v in every.items] == ["1", "2", "3"]

    async def test_query_with_generated_ids(self, grid: Grid) -> None:
        m = grid.names.orders
        ids = [await grid.new_id() for _ in range(7)]
        await grid.put_all(m, {i: {"id": i, "user_id": "u1"} for i in ids})
        page1 = await grid.query(m, equals={"user_id": "u1"}, limit=5)
        page2 = await grid.query(m, equals={"user_id": "u1"}, after=page1.next_cursor, limit=5)
        assert [v["id"] for v in page1.items + page2.items] == sorted(ids, key=id_order)

    # ---- ids ----------------------------------------------------------------------------
    async def test_new_id_unique_decimal_and_time_ordered(self, grid: Grid) -> None:
        first = [await grid.new_id() for _ in range(300)]
        more = await asyncio.gather(*(grid.new_id() for _ in range(200)))
        assert all(i.isdigit() and not i.startswith("0") for i in first + list(more))
        assert len(set(first) | set(more)) == 500
        await asyncio.sleep(0.05)  # ids are roughly time-ordered: a later call gets a larger id
        later = await grid.new_id()
        assert id_order(later) > max(id_order(i) for i in first + list(more))

    # ---- atomic single-key writes, their journal entries and the G7 guard ---------------
    async def test_update_commits_and_journals_it_stamped_with_its_request_id(self, grid: Grid) -> None:
        n = grid.names
        await grid.put(n.products, "1", {"id": "1", "version": 1}, request_id="req-0")
        seen: list[Value | None] = []

        def bump(current: Value | None) -> Value:
            seen.append(current)
            assert current is not None
            return {**current, "version": current["version"] + 1}

        assert await grid.update(n.products, "1", bump, request_id="req-1") == {"id": "1", "version": 2}
        assert seen and all(s == {"id": "1", "version": 1} for s in seen)  # the change never sees the stamp
        assert await grid.get(n.products, "1") == {"id": "1", "version": 2}  # read without the stamp
        first, second = await journal(grid, n.products, "1")
        assert (unstamped(first.value), first.old) == ({"id": "1", "version": 1}, None)
        assert unstamped(second.value) == {"id": "1", "version": 2}
        assert unstamped(second.old) == {"id": "1", "version": 1}
        assert first.value[META_FIELD]["request_id"] == "req-0"
        assert second.value[META_FIELD]["request_id"] == "req-1"
        assert second.value[META_FIELD]["changed_at"].endswith("Z")

    async def test_update_whose_change_raises_writes_and_journals_nothing(self, grid: Grid) -> None:
        n = grid.names
        await grid.put(n.products, "1", {"id": "1", "version": 1})

        class Boom(Exception):
            pass

        def refuse(current: Value | None) -> Value:
            raise Boom("business rule says no")

        with pytest.raises(Boom):
            await grid.update(n.products, "1", refuse)
        with pytest.raises(Boom):
            await grid.update(n.products, "2", refuse)  # absent: not created either
        assert await grid.get(n.products, "1") == {"id": "1", "version": 1}
        assert await grid.get(n.products, "2") is None
        assert len(await journal(grid, n.products, "1")) == 1 and await journal(grid, n.products, "2") == []

    async def test_update_of_an_absent_key_gets_none_and_may_create_it(self, grid: Grid) -> None:
        n = grid.names
        seen: list[Value | None] = []

        def create(current: Value | None) -> Value:
            seen.append(current)
            return {"id": "5", "version": 1}

        assert await grid.update(n.orders, "5", lambda current: None) is None  # nothing to write
        assert await journal(grid, n.orders, "5") == []
        assert await grid.update(n.orders, "5", create, request_id="req-5") == {"id": "5", "version": 1}
        assert seen and all(s is None for s in seen)
        assert await grid.get(n.orders, "5") == {"id": "5", "version": 1}
        (entry,) = await journal(grid, n.orders, "5")
        assert (unstamped(entry.value), entry.old) == ({"id": "5", "version": 1}, None)
        assert entry.value[META_FIELD]["request_id"] == "req-5"
        # a change answering None keeps the value: update returns it, journals nothing
        assert await grid.update(n.orders, "5", lambda current: None) == {"id": "5", "version": 1}
        assert len(await journal(grid, n.orders, "5")) == 1

    async def test_delete_is_journaled(self, grid: Grid) -> None:
        n = grid.names
        await grid.put(n.orders, "7", {"id": "7", "version": 1})
        await grid.delete(n.orders, "7")
        assert await grid.get(n.orders, "7") is None
        entries = await journal(grid, n.orders, "7")
        assert len(entries) == 2 and entries[-1].value is None  # the removal is journaled
        assert unstamped(entries[-1].old) == {"id": "7", "version": 1}

    async def test_concurrent_updates_lose_no_increment(self, grid: Grid) -> None:
        n = grid.names
        await grid.put(n.products, "42", {"id": "42", "stock": 0, "version": 0})

        def increment(current: Value | None) -> Value:
            assert current is not None
            new = current["stock"] + 1
            return {"id": "42", "stock": new, "version": new}

        async def one() -> int:
            while True:  # a WriteConflict wrote nothing: safe to retry, as the units do
                try:
                    return (await grid.update(n.products, "42", increment))["stock"]
                except WriteConflict:
                    await asyncio.sleep(0.01)

        results = await asyncio.gather(*(one() for _ in range(50)))
        assert sorted(results) == list(range(1, 51))  # each increment saw the one before it
        assert await grid.get(n.products, "42") == {"id": "42", "stock": 50, "version": 50}
        versions = [e.value["version"] for e in await journal(grid, n.products, "42")]
        assert versions == list(range(0, 51))  # write order = journal order, no increment lost

    async def test_execute_runs_a_stock_hold_and_journals_it_stamped(self, grid: Grid) -> None:
        n = grid.names
        pid = "301"
        await grid.put(n.products, pid, {"id": pid, "name": "lamp", "stock": 10, "version": 1}, request_id="seed")
        step = StockHold("o-1", "a-1", 3, NOW_MS, "req-hold", CHANGED_AT)
        assert await grid.execute(n.products, pid, step) == StockAnswer("held", available=7, qty=3)
        assert await grid.get(n.products, pid) == {
            "id": pid, "name": "lamp", "stock": 7, "version": 2,
            "holds": {"o-1": {"at": NOW_MS, "by": "a-1", "qty": 3}}}
        entries = await journal(grid, n.products, pid)
        assert len(entries) == 2
        assert unstamped(entries[1].value) == await grid.get(n.products, pid)
        assert unstamped(entries[1].old) == {"id": pid, "name": "lamp", "stock": 10, "version": 1}
        assert entries[1].value[META_FIELD] == {"changed_at": CHANGED_AT, "request_id": "req-hold"}
        # a repeat, a refusal and a missing product change nothing and journal nothing
        assert await grid.execute(n.products, pid, step) == StockAnswer("held", available=7, qty=3)
        short = StockHold("o-2", "a-2", 8, NOW_MS, "req-short", CHANGED_AT)
        assert await grid.execute(n.products, pid, short) == StockAnswer("short", available=7)
        assert await grid.execute(n.products, "404", short) == StockAnswer("missing")
        assert len(await journal(grid, n.products, pid)) == 2
        assert await grid.get(n.products, "404") is None

    async def test_put_and_put_if_absent_on_journaled_maps_stamp_with_the_request_id(self, grid: Grid) -> None:
        n = grid.names
        await grid.put(n.users, "1", {"id": "1", "version": 1}, request_id="req-put")
        assert await grid.put_if_absent(n.orders, "2", {"id": "2", "version": 1}, request_id="req-pia") is None
        assert await grid.get(n.users, "1") == {"id": "1", "version": 1}  # reads never show the stamp
        assert await grid.get_many(n.orders, ["2"]) == {"2": {"id": "2", "version": 1}}
        assert (await grid.query(n.orders)).items == [{"id": "2", "version": 1}]
        assert [v async for _, v in grid.entries(n.users)] == [{"id": "1", "version": 1}]
        assert await grid.put_if_absent(n.orders, "2", {"id": "2", "version": 9}) == {"id": "2", "version": 1}
        (put,) = await journal(grid, n.users, "1")
        (created,) = await journal(grid, n.orders, "2")
        assert put.value[META_FIELD]["request_id"] == "req-put"
        assert created.value[META_FIELD]["request_id"] == "req-pia"
        assert put.value[META_FIELD]["changed_at"].endswith("Z")
        # helper maps carry no stamp: compare-and-set on exactly what was written succeeds
        await grid.put(n.users_by_email, "a@x.io", {"user_id": "1"}, request_id="req-helper")
        assert await grid.replace_if_same(n.users_by_email, "a@x.io", {"user_id": "1"}, {"user_id": "2"})

    async def test_writes_that_change_nothing_give_their_journal_credit_back(self, grid: Grid) -> None:
        """G7 credits: a put_if_absent that found a value, a stock step answering a no-op, an
        update writing nothing and a delete that found nothing append nothing, so they must
        keep no credit: with the journal one entry short of its bound, many of them leave
        room for one real write."""
        n, log = grid.names, grid.change_log
        bound = log.capacity(n.products) // 2
        key, absent = same_partition(grid, n.products, 2)
        for version in range(1, bound):  # the pump is stopped: bound - 1 entries wait
            await grid.put(n.products, key, {"id": key, "stock": 1, "version": version})
        for i in range(bound + 5):
            assert await grid.put_if_absent(n.products, key, {"id": key, "version": -1}) is not None
            short = StockHold(f"o-{i}", "a", 5, NOW_MS, "req-short", CHANGED_AT)
            assert (await grid.execute(n.products, key, short)).outcome == "short"
            assert (await grid.update(n.products, key, lambda current: None))["version"] == bound - 1
            await grid.delete(n.products, absent)  # removes nothing
        partition = log.partition_of(key)
        bounds = await log.bounds(n.products, partition)
        assert bounds.newest + 1 - bounds.oldest == bound - 1  # the no-ops appended nothing
        await grid.put(n.products, key, {"id": key, "stock": 1, "version": bound})  # the last credit
        with pytest.raises(BacklogFull):  # the guard is on: the journal is at its bound now
            await grid.put(n.products, key, {"id": key, "stock": 1, "version": bound + 1})
        assert (await grid.get(n.products, key))["version"] == bound

    async def test_journal_keeps_successive_versions_in_write_order(self, grid: Grid) -> None:
        n = grid.names
        a, b = same_partition(grid, n.products, 2)
        expected: list[tuple[str, int]] = []
        for version in range(1, 11):
            await grid.put(n.products, a, {"id": a, "version": version})
            await grid.update(n.products, b, lambda current, v=version: {"id": b, "version": v})
            expected += [(a, version), (b, version)]
        entries = await journal(grid, n.products, a, only_key=False)
        assert [(e.key, e.value["version"]) for e in entries] == expected
        for key in (a, b):
            mine = [e for e in entries if e.key == key]
            assert mine[0].old is None
            assert all(unstamped(later.old) == unstamped(earlier.value) for earlier, later in zip(mine, mine[1:]))

    async def test_g7_a_write_past_a_journal_bound_is_refused_and_writes_nothing(self, grid: Grid) -> None:
        n, log = grid.names, grid.change_log
        bound = log.capacity(n.products) // 2
        full, also = same_partition(grid, n.products, 2)
        other = next(k for k in (str(i) for i in range(5000, 9000)) if log.partition_of(k) != log.partition_of(full))
        for version in range(1, bound + 1):  # the pump is stopped: un-shipped entries pile up
            await grid.put(n.products, full, {"id": full, "stock": 10, "version": version})

        def bump(current: Value | None) -> Value:
            assert current is not None
            return {**current, "version": current["version"] + 1}

        hold = StockHold("o-1", "a-1", 3, NOW_MS, "req-hold", CHANGED_AT)
        with pytest.raises(BacklogFull):
            await grid.update(n.products, full, bump)
        with pytest.raises(BacklogFull):
            await grid.put(n.products, full, {"id": full, "stock": 10, "version": bound + 1})
        with pytest.raises(BacklogFull):
            await grid.execute(n.products, full, hold)
        with pytest.raises(BacklogFull):
            await grid.delete(n.products, full)
        with pytest.raises(BacklogFull):  # another key of the full journal's partition
            await grid.put(n.products, also, {"id": also, "version": 99})
        with pytest.raises(BacklogFull):
            await grid.put_if_absent(n.products, also, {"id": also, "version": 99})
        assert await grid.get(n.products, full) == {"id": full, "stock": 10, "version": bound}  # nothing written
        assert await grid.get(n.products, also) is None
        await grid.put(n.products, other, {"id": other, "version": 99})  # other journals still accept
        partition = log.partition_of(full)
        bounds = await log.bounds(n.products, partition)
        assert bounds.newest + 1 - bounds.oldest == bound  # never more than the bound waits
        await log.store_position(n.products, partition, bounds.newest + 1)  # the pump shipped them
        await log.shipped(n.products, partition, bound)
        # room again once shipped
        assert (await grid.update(n.products, full, bump))["version"] == bound + 1
        assert (await grid.execute(n.products, full, hold)).outcome == "held"
        await grid.put(n.products, also, {"id": also, "version": 99})
        assert (await grid.get(n.products, full))["stock"] == 7
        assert (await grid.get(n.products, also))["version"] == 99
