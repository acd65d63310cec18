"""The stock entry processors' contract (G5), one suite for every implementation.

Subclasses provide a ``space`` fixture: a :class:`StockSpace` over one implementation,
the Java processors on real Hazelcast members or the pure functions of
:mod:`grid_config.entry_processors` over dicts. Both must behave the same, answers included.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from grid_config.entry_processors import StockAnswer, StockHold, StockProcessor, StockRelease, StockSettle

Value = dict[str, Any]
PID = "101"  # a decimal id, as products have (Hazelcast stores it with its sort key)
NOW = 1_760_000_000_000


class StockSpace(Protocol):
    """One products map (the processors' stock part of each entry), as the contract needs it."""

    async def seed(self, product_id: str, value: Value) -> None: ...

    async def get(self, product_id: str) -> Value | None: ...

    async def run(self, product_id: str, processor: StockProcessor) -> StockAnswer: ...


def held_total(value: Value) -> int:
    return sum(h["qty"] for h in value.get("holds", {}).values())


class StockProcessorContract:
    """Every test gets a fresh, empty products map through the ``space`` fixture.

    Entries are seeded with their stock part only: the processors read nothing else, and
    :meth:`test_other_fields_of_the_entry_are_kept` holds them to keeping the rest (the
    catalog fields of a real product entry).
    """

    async def test_hold_reduces_available_and_records_the_hold(self, space: StockSpace) -> None:
        await space.seed(PID, {"stock": 10, "version": 1})
        answer = await space.run(PID, StockHold("o-1", 3, NOW))
        assert answer == StockAnswer("held", available=7, qty=3)
        assert await space.get(PID) == {"stock": 7, "version": 2, "holds": {"o-1": {"qty": 3, "at": NOW}}}

    async def test_second_hold_for_the_same_order_changes_nothing(self, space: StockSpace) -> None:
        await space.seed(PID, {"stock": 10, "version": 1})
        first = await space.run(PID, StockHold("o-1", 3, NOW))
        after_first = await space.get(PID)
        # a retry, even with another quantity and clock, gets the first hold's answer
        again = await space.run(PID, StockHold("o-1", 5, NOW + 1000))
        assert again == first == StockAnswer("held", available=7, qty=3)
        assert await space.get(PID) == after_first

    async def test_short_refuses_and_changes_nothing(self, space: StockSpace) -> None:
        await space.seed(PID, {"stock": 2, "version": 4})
        assert await space.run(PID, StockHold("o-1", 3, NOW)) == StockAnswer("short", available=2)
        assert await space.get(PID) == {"stock": 2, "version": 4}
        # exactly what is left can still be held
        assert await space.run(PID, StockHold("o-2", 2, NOW)) == StockAnswer("held", available=0, qty=2)
        assert await space.run(PID, StockHold("o-3", 1, NOW)) == StockAnswer("short", available=0)
        assert (await space.get(PID))["stock"] == 0

    async def test_release_returns_the_stock_exactly_once(self, space: StockSpace) -> None:
        await space.seed(PID, {"stock": 10, "version": 1})
        await space.run(PID, StockHold("o-1", 4, NOW))
        await space.run(PID, StockHold("o-2", 1, NOW))
        assert await space.run(PID, StockRelease("o-1")) == StockAnswer("released", available=9, qty=4)
        after = await space.get(PID)
        assert after == {"stock": 9, "version": 4, "holds": {"o-2": {"qty": 1, "at": NOW}}}
        assert await space.run(PID, StockRelease("o-1")) == StockAnswer("absent", available=9)
        assert await space.get(PID) == after
        assert await space.run(PID, StockRelease("o-2")) == StockAnswer("released", available=10, qty=1)
        # the last hold gone: the entry is back to the shape without holds
        assert await space.get(PID) == {"stock": 10, "version": 5}

    async def test_settle_keeps_stock_reduced_and_removes_the_hold(self, space: StockSpace) -> None:
        await space.seed(PID, {"stock": 10, "version": 1})
        await space.run(PID, StockHold("o-1", 4, NOW))
        assert await space.run(PID, StockSettle("o-1")) == StockAnswer("settled", available=6, qty=4)
        settled = await space.get(PID)
        assert settled == {"stock": 6, "version": 3}
        # a settled hold can be neither settled nor released again
        assert await space.run(PID, StockSettle("o-1")) == StockAnswer("absent", available=6)
        assert await space.run(PID, StockRelease("o-1")) == StockAnswer("absent", available=6)
        assert await space.get(PID) == settled

    async def test_release_or_settle_without_a_hold_is_absent(self, space: StockSpace) -> None:
        await space.seed(PID, {"stock": 3, "version": 7})
        assert await space.run(PID, StockRelease("nobody")) == StockAnswer("absent", available=3)
        assert await space.run(PID, StockSettle("nobody")) == StockAnswer("absent", available=3)
        assert await space.get(PID) == {"stock": 3, "version": 7}

    async def test_missing_entry_is_never_created(self, space: StockSpace) -> None:
        assert await space.run("404", StockHold("o-1", 1, NOW)) == StockAnswer("missing")
        assert await space.run("404", StockRelease("o-1")) == StockAnswer("absent")
        assert await space.run("404", StockSettle("o-1")) == StockAnswer("absent")
        assert await space.get("404") is None

    async def test_other_fields_of_the_entry_are_kept(self, space: StockSpace) -> None:
        await space.seed(PID, {"stock": 5, "version": 1, "note": "kept", "nested": {"b": 1, "a": [1, 2.5]}})
        await space.run(PID, StockHold("o-1", 1, NOW))
        await space.run(PID, StockSettle("o-1"))
        assert await space.get(PID) == {"stock": 4, "version": 3, "note": "kept", "nested": {"b": 1, "a": [1, 2.5]}}

    async def test_concurrent_holds_never_oversell(self, space: StockSpace) -> None:
        """50 in stock, 80 orders of 1 at once: exactly 50 held, 30 short, stock conserved."""
        await space.seed(PID, {"stock": 50, "version": 1})
        answers = await asyncio.gather(*(space.run(PID, StockHold(f"o-{i}", 1, NOW + i)) for i in range(80)))
        outcomes = [a.outcome for a in answers]
        assert outcomes.count("held") == 50 and outcomes.count("short") == 30
        final = await space.get(PID)
        assert final is not None
        assert final["stock"] == 0 and final["version"] == 51
        held_by = {f"o-{i}" for i, a in enumerate(answers) if a.outcome == "held"}
        assert set(final["holds"]) == held_by
        assert all(final["holds"][o] == {"qty": 1, "at": NOW + int(o[2:])} for o in held_by)

    async def test_concurrent_hold_release_settle_conserve_stock(self, space: StockSpace) -> None:
        """G5's invariant under interleaving: initial = available + held + settled, releases once."""
        await space.seed(PID, {"stock": 30, "version": 1})
        orders = [f"o-{i}" for i in range(20)]
        holds = await asyncio.gather(*(space.run(PID, StockHold(o, 2, NOW)) for o in orders))
        held = [o for o, a in zip(orders, holds) if a.outcome == "held"]
        assert len(held) == 15
        steps = [StockRelease(o) if i % 2 else StockSettle(o) for i, o in enumerate(held)]
        # every step twice, all at once: each hold ends exactly once
        answers = await asyncio.gather(*(space.run(PID, s) for s in steps + steps))
        done = [a for a in answers if a.outcome in ("released", "settled")]
        assert len(done) == len(held)
        assert sum(1 for a in answers if a.outcome == "absent") == len(held)
        released = sum(a.qty for a in done if a.outcome == "released")  # type: ignore[misc]
        settled = sum(a.qty for a in done if a.outcome == "settled")  # type: ignore[misc]
        final = await space.get(PID)
        assert final is not None
        assert "holds" not in final
        assert final["stock"] + held_total(final) + settled == 30
        assert released == 2 * sum(1 for s in steps if isinstance(s, StockRelease))
        assert final["version"] == 1 + 15 + 15
