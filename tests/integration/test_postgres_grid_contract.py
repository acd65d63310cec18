"""The grid contract on the PostgreSQL adapter (bench compare's direct-to-database side).

Everything but the journals: that adapter keeps no change record by design (the database
is the system of record, ``change_log`` is None; see tools/bench/postgres_grid.py), so
the contract tests about journals run here without their journal half, and G7 (a bound
on un-shipped journal entries) does not apply.
"""

from __future__ import annotations

import asyncio
from typing import AsyncIterator, Callable

import pytest

from grid_config.entry_processors import StockAnswer, StockHold
from grid_config.names import Names
from grid_config.ports import Grid, Value
from tools.bench.postgres_grid import PostgresGrid
from tests.contract.grid_contract import CHANGED_AT, NOW_MS, GridContract, GridFactory

NO_JOURNAL = "no journals on PostgresGrid: the database is the system of record"


class TestPostgresGridContract(GridContract):
    @pytest.fixture
    async def grid_factory(self, postgres_dsn: str) -> AsyncIterator[GridFactory]:
        made: list[Grid] = []

        async def make(names: Names, *_: object, **__: object) -> Grid:
            grid = PostgresGrid(postgres_dsn, names, connections=4)
            await grid.start()
            made.append(grid)
            return grid

        yield make
        for grid in made:
            await grid.close()

    @pytest.mark.skip(reason=NO_JOURNAL)
    async def test_journal_keeps_successive_versions_in_write_order(self) -> None: ...

    @pytest.mark.skip(reason=NO_JOURNAL + " (no journal, no G7 bound, no credits)")
    async def test_writes_that_change_nothing_give_their_journal_credit_back(self) -> None: ...

    @pytest.mark.skip(reason=NO_JOURNAL + " (no journal, no G7 bound)")
    async def test_g7_a_write_past_a_journal_bound_is_refused_and_writes_nothing(self) -> None: ...

    async def test_update_commits_and_journals_it_stamped_with_its_request_id(self, grid: Grid) -> None:
        """The contract's version without its journal half: the update commits, the change
        sees the current value."""
        n = grid.names
        await grid.put(n.products, "1", {"id": "1", "version": 1}, request_id="req-0")
        seen: list[Value | None] = []

        def bump(current: Value | None) -> Value:
            seen.append(current)
            assert current is not None
            return {**current, "version": current["version"] + 1}

        assert await grid.update(n.products, "1", bump, request_id="req-1") == {"id": "1", "version": 2}
        assert seen == [{"id": "1", "version": 1}]
        assert await grid.get(n.products, "1") == {"id": "1", "version": 2}

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
            await grid.update(n.products, "2", refuse)
        assert await grid.get(n.products, "1") == {"id": "1", "version": 1}
        assert await grid.get(n.products, "2") is None

    async def test_update_of_an_absent_key_gets_none_and_may_create_it(self, grid: Grid) -> None:
        n = grid.names
        assert await grid.update(n.orders, "5", lambda current: None) is None
        assert await grid.get(n.orders, "5") is None
        seen: list[Value | None] = []

        def create(current: Value | None) -> Value:
            seen.append(current)
            return {"id": "5", "version": 1}

        assert await grid.update(n.orders, "5", create) == {"id": "5", "version": 1}
        assert seen == [None]
        assert await grid.update(n.orders, "5", lambda current: None) == {"id": "5", "version": 1}
        assert await grid.get(n.orders, "5") == {"id": "5", "version": 1}

    async def test_delete_is_journaled(self, grid: Grid) -> None:
        n = grid.names
        await grid.put(n.orders, "7", {"id": "7", "version": 1})
        await grid.delete(n.orders, "7")
        assert await grid.get(n.orders, "7") is None

    async def test_concurrent_updates_lose_no_increment(self, grid: Grid) -> None:
        """The contract's version without its journal half: 50 racing increments, none lost
        (each update holds the row's lock: nothing to retry)."""
        n = grid.names
        await grid.put(n.products, "42", {"id": "42", "stock": 0})

        def increment(current: Value | None) -> Value:
            assert current is not None
            return {"id": "42", "stock": current["stock"] + 1}

        results = await asyncio.gather(*(grid.update(n.products, "42", increment) for _ in range(50)))
        assert sorted(r["stock"] for r in results) == list(range(1, 51))  # type: ignore[index]
        assert await grid.get(n.products, "42") == {"id": "42", "stock": 50}

    async def test_execute_runs_a_stock_hold_and_journals_it_stamped(self, grid: Grid) -> None:
        """The contract's version without its journal half: the hold is applied (and stored
        without the step's stamp: nothing here reads it), no-ops change nothing."""
        n = grid.names
        pid = "301"
        await grid.put(n.products, pid, {"id": pid, "name": "lamp", "stock": 10, "version": 1})
        step = StockHold("o-1", "a-1", 3, NOW_MS, "req-hold", CHANGED_AT)
        held = {"id": pid, "name": "lamp", "stock": 7, "version": 2,
                "holds": {"o-1": {"at": NOW_MS, "by": "a-1", "qty": 3}}}
        assert await grid.execute(n.products, pid, step) == StockAnswer("held", available=7, qty=3)
        assert await grid.get(n.products, pid) == held
        assert await grid.execute(n.products, pid, step) == StockAnswer("held", available=7, qty=3)
        short = StockHold("o-2", "a-2", 8, NOW_MS, "req-short", CHANGED_AT)
        assert await grid.execute(n.products, pid, short) == StockAnswer("short", available=7)
        assert await grid.execute(n.products, "404", short) == StockAnswer("missing")
        assert await grid.get(n.products, pid) == held
        assert await grid.get(n.products, "404") is None

    async def test_put_and_put_if_absent_on_journaled_maps_stamp_with_the_request_id(self, grid: Grid) -> None:
        """The contract's version without its journal half: a request id changes nothing a
        reader sees."""
        n = grid.names
        await grid.put(n.users, "1", {"id": "1", "version": 1}, request_id="req-put")
        assert await grid.put_if_absent(n.orders, "2", {"id": "2", "version": 1}, request_id="req-pia") is None
        assert await grid.get(n.users, "1") == {"id": "1", "version": 1}
        assert await grid.get_many(n.orders, ["2"]) == {"2": {"id": "2", "version": 1}}
        assert (await grid.query(n.orders)).items == [{"id": "2", "version": 1}]
        assert await grid.put_if_absent(n.orders, "2", {"id": "2", "version": 9}) == {"id": "2", "version": 1}
        await grid.put(n.users_by_email, "a@x.io", {"user_id": "1"}, request_id="req-helper")
        assert await grid.replace_if_same(n.users_by_email, "a@x.io", {"user_id": "1"}, {"user_id": "2"})


async def test_no_change_log_the_committed_row_is_the_record(postgres_dsn: str, names: Names) -> None:
    grid = PostgresGrid(postgres_dsn, names, connections=2)
    await grid.start()
    try:
        assert grid.change_log is None
        await grid.update(names.products, "1", lambda current: {"id": "1"}, request_id="r")
        assert await grid.get(names.products, "1") == {"id": "1"}
    finally:
        await grid.close()


async def test_concurrent_creators_of_one_absent_key_are_serialised(postgres_dsn: str, names: Names) -> None:
    """FOR UPDATE cannot lock a missing row; the advisory lock must make one creator see the other."""
    grid = PostgresGrid(postgres_dsn, names, connections=8)
    await grid.start()
    try:
        won: list[int] = []

        def claim(who: int) -> Callable[[Value | None], Value | None]:
            def change(current: Value | None) -> Value | None:
                return {"who": who} if current is None else None  # None: someone else was first
            return change

        async def one(who: int) -> None:
            if (await grid.update(names.users_by_email, "k", claim(who)))["who"] == who:  # type: ignore[index]
                won.append(who)

        await asyncio.gather(*(one(i) for i in range(8)))
        assert len(won) == 1
        assert await grid.get(names.users_by_email, "k") == {"who": won[0]}
    finally:
        await grid.close()
