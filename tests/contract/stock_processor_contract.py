"""The stock entry processors' contract (G5), one suite for every implementation.

Subclasses provide a ``space`` fixture: a :class:`StockSpace` over one implementation,
the Java processors on real Hazelcast members or the pure functions of
:mod:`grid_config.entry_processors` over dicts. Both must behave the same, answers included.
``get`` returns the entry as stored, its ``_meta`` stamp included.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any, Protocol

import pytest

from grid_config.entry_processors import (
    StockAnswer,
    StockForget,
    StockHold,
    StockProcessor,
    StockRelease,
    StockReturn,
    StockSettle,
    StockSteps,
)

Value = dict[str, Any]
PID = "101"  # a decimal id, as products have (Hazelcast stores it with its sort key)
NOW = 1_760_000_000_000
T0 = "2026-11-28T10:00:00.000Z"
T1 = "2026-11-28T10:00:01.000Z"


class StockSpace(Protocol):
    """One products map (the processors' stock part of each entry), as the contract needs it."""

    async def seed(self, product_id: str, value: Value) -> None: ...

    async def get(self, product_id: str) -> Value | None: ...

    async def run(self, product_id: str, processor: StockProcessor) -> StockAnswer: ...

    async def run_steps(self, product_id: str, steps: StockSteps) -> list[StockAnswer]: ...


def held_total(value: Value) -> int:
    return sum(h["qty"] for h in value.get("holds", {}).values())


def meta(request_id: str, changed_at: str = T0) -> dict[str, str]:
    """The ``_meta`` a change by (request_id, changed_at) leaves (grid_config.events.stamped)."""
    return {"changed_at": changed_at, "request_id": request_id}


class StockProcessorContract:
    """Every test gets a fresh, empty products map through the ``space`` fixture.

    Entries are seeded with their stock part only: the processors read nothing else, and
    :meth:`test_other_fields_of_the_entry_are_kept` holds them to keeping the rest (the
    catalog fields of a real product entry).
    """

    # ---- hold ------------------------------------------------------------------------------
    async def test_hold_reduces_available_and_records_the_hold(self, space: StockSpace) -> None:
        await space.seed(PID, {"stock": 10, "version": 1})
        answer = await space.run(PID, StockHold("o-1", "a1", 3, NOW, "r-1", T0))
        assert answer == StockAnswer("held", available=7, qty=3)
        assert await space.get(PID) == {"stock": 7, "version": 2, "holds": {"o-1": {"qty": 3, "at": NOW, "by": "a1"}},
                                        "_meta": meta("r-1")}

    async def test_held_answers_carry_the_price(self, space: StockSpace) -> None:
        """The price the line sells at comes with the hold (a placement reads nothing first);
        a price that is not an integer >= 0 is left out."""
        await space.seed(PID, {"stock": 3, "version": 1, "price_cents": 250})
        assert (await space.run(PID, StockHold("o-1", "a1", 1, NOW, "r-1", T0))
                == StockAnswer("held", available=2, qty=1, price_cents=250))
        assert (await space.run(PID, StockHold("o-1", "a1", 1, NOW, "r-2", T0))  # a repeat
                == StockAnswer("held", available=2, qty=1, price_cents=250))
        assert await space.run(PID, StockHold("o-2", "a1", 5, NOW, "r-3", T0)) == StockAnswer("short", available=2)
        assert await space.run(PID, StockHold("o-1", "a2", 1, NOW, "r-4", T0)) == StockAnswer("busy", available=2)
        for i, odd in enumerate((12.5, -1, "250", None)):
            pid = f"{PID}{i}"
            await space.seed(pid, {"stock": 3, "version": 1, "price_cents": odd})
            assert await space.run(pid, StockHold("o-1", "a1", 1, NOW, "r-1", T0)) == StockAnswer("held", 2, 1), odd

    async def test_second_hold_by_the_same_attempt_changes_nothing(self, space: StockSpace) -> None:
        await space.seed(PID, {"stock": 10, "version": 1})
        first = await space.run(PID, StockHold("o-1", "a1", 3, NOW, "r-1", T0))
        after_first = await space.get(PID)
        # a retry, even with another quantity, clock and request, gets the first hold's answer
        again = await space.run(PID, StockHold("o-1", "a1", 5, NOW + 1000, "r-2", T1))
        assert again == first == StockAnswer("held", available=7, qty=3)
        assert await space.get(PID) == after_first

    async def test_hold_by_another_attempt_is_busy_and_changes_nothing(self, space: StockSpace) -> None:
        await space.seed(PID, {"stock": 10, "version": 1})
        await space.run(PID, StockHold("o-1", "a1", 3, NOW, "r-1", T0))
        before = await space.get(PID)
        assert await space.run(PID, StockHold("o-1", "a2", 3, NOW, "r-2", T1)) == StockAnswer("busy", available=7)
        # busy, not short, even for more than is available: the order is taken, not the stock
        assert await space.run(PID, StockHold("o-1", "a2", 50, NOW, "r-2", T1)) == StockAnswer("busy", available=7)
        assert await space.get(PID) == before

    async def test_short_refuses_and_changes_nothing(self, space: StockSpace) -> None:
        await space.seed(PID, {"stock": 2, "version": 4})
        assert await space.run(PID, StockHold("o-1", "a1", 3, NOW, "r-1", T0)) == StockAnswer("short", available=2)
        assert await space.get(PID) == {"stock": 2, "version": 4}
        # exactly what is left can still be held
        assert (await space.run(PID, StockHold("o-2", "a1", 2, NOW, "r-2", T0))
                == StockAnswer("held", available=0, qty=2))
        assert await space.run(PID, StockHold("o-3", "a1", 1, NOW, "r-3", T0)) == StockAnswer("short", available=0)
        assert (await space.get(PID))["stock"] == 0  # type: ignore[index]

    # ---- several steps as one change (StockSteps) -----------------------------------------
    async def test_steps_run_in_order_and_store_one_change(self, space: StockSpace) -> None:
        """Settles carried by the next hold: each step answers as alone, one version, the
        last changing step's _meta."""
        await space.seed(PID, {"stock": 10, "version": 1})
        await space.run(PID, StockHold("o-1", "a1", 1, NOW, "r-1", T0))
        await space.run(PID, StockHold("o-2", "a2", 2, NOW, "r-2", T0))
        answers = await space.run_steps(PID, StockSteps([
            StockSettle("o-1", "a1", "s-1", T0), StockSettle("o-2", "a2", "s-2", T0),
            StockHold("o-3", "a3", 3, NOW + 5, "r-3", T1), StockSettle("o-9", "a9", "s-9", T1)]))
        assert answers == [StockAnswer("settled", available=7, qty=1), StockAnswer("settled", available=7, qty=2),
                           StockAnswer("held", available=4, qty=3), StockAnswer("absent", available=4)]
        assert await space.get(PID) == {"stock": 4, "version": 4, "holds": {"o-3": {"qty": 3, "at": NOW + 5, "by": "a3"}},
                                        "_meta": meta("r-3", T1)}

    async def test_steps_see_what_the_earlier_ones_did(self, space: StockSpace) -> None:
        await space.seed(PID, {"stock": 2, "version": 1})
        answers = await space.run_steps(PID, StockSteps([
            StockHold("o-1", "a1", 2, NOW, "r-1", T0), StockHold("o-2", "a2", 1, NOW, "r-2", T0),
            StockRelease("o-1", "a1", "r-3", T0), StockHold("o-2", "a2", 1, NOW, "r-4", T0),
            StockHold("o-2", "a2", 1, NOW, "r-5", T1)]))
        assert [a.outcome for a in answers] == ["held", "short", "released", "held", "held"]
        assert await space.get(PID) == {"stock": 1, "version": 2, "holds": {"o-2": {"qty": 1, "at": NOW, "by": "a2"}},
                                        "_meta": meta("r-4", T0)}

    async def test_steps_that_change_nothing_write_nothing(self, space: StockSpace) -> None:
        await space.seed(PID, {"stock": 1, "version": 7})
        answers = await space.run_steps(PID, StockSteps([
            StockSettle("o-1", "a1", "s-1", T0), StockHold("o-2", "a2", 5, NOW, "r-2", T0)]))
        assert answers == [StockAnswer("absent", available=1), StockAnswer("short", available=1)]
        assert await space.get(PID) == {"stock": 1, "version": 7}
        missing = await space.run_steps("999", StockSteps([
            StockSettle("o-1", "a1", "s-1", T0), StockHold("o-2", "a2", 1, NOW, "r-2", T0)]))
        assert missing == [StockAnswer("absent"), StockAnswer("missing")]
        assert await space.get("999") is None

    async def test_a_bad_step_refuses_every_step(self, space: StockSpace) -> None:
        await space.seed(PID, {"stock": 5, "version": 1})
        await space.run(PID, StockHold("o-1", "a1", 1, NOW, "r-1", T0))
        before = await space.get(PID)
        with pytest.raises(Exception, match="qty"):
            await space.run_steps(PID, StockSteps([StockSettle("o-1", "a1", "s-1", T0),
                                                   StockHold("o-2", "a2", 0, NOW, "r-2", T0)]))
        with pytest.raises(Exception, match="step"):
            await space.run_steps(PID, StockSteps([]))
        assert await space.get(PID) == before

    # ---- release and settle ----------------------------------------------------------------
    async def test_release_returns_the_stock_exactly_once(self, space: StockSpace) -> None:
        await space.seed(PID, {"stock": 10, "version": 1})
        await space.run(PID, StockHold("o-1", "a1", 4, NOW, "r-1", T0))
        await space.run(PID, StockHold("o-2", "a2", 1, NOW, "r-2", T0))
        assert await space.run(PID, StockRelease("o-1", "a1", "r-3", T1)) == StockAnswer("released", available=9, qty=4)
        after = await space.get(PID)
        assert after == {"stock": 9, "version": 4, "holds": {"o-2": {"qty": 1, "at": NOW, "by": "a2"}},
                         "_meta": meta("r-3", T1)}
        assert await space.run(PID, StockRelease("o-1", "a1", "r-4", T1)) == StockAnswer("absent", available=9)
        assert await space.get(PID) == after
        assert (await space.run(PID, StockRelease("o-2", "a2", "r-5", T1))
                == StockAnswer("released", available=10, qty=1))
        # the last hold gone: the entry is back to the shape without holds
        assert await space.get(PID) == {"stock": 10, "version": 5, "_meta": meta("r-5", T1)}

    async def test_settle_keeps_stock_reduced_and_removes_the_hold(self, space: StockSpace) -> None:
        await space.seed(PID, {"stock": 10, "version": 1})
        await space.run(PID, StockHold("o-1", "a1", 4, NOW, "r-1", T0))
        assert await space.run(PID, StockSettle("o-1", "a1", "r-2", T1)) == StockAnswer("settled", available=6, qty=4)
        settled = await space.get(PID)
        assert settled == {"stock": 6, "version": 3, "_meta": meta("r-2", T1)}
        # a settled hold can be neither settled nor released again
        assert await space.run(PID, StockSettle("o-1", "a1", "r-3", T1)) == StockAnswer("absent", available=6)
        assert await space.run(PID, StockRelease("o-1", "a1", "r-4", T1)) == StockAnswer("absent", available=6)
        assert await space.get(PID) == settled

    async def test_release_or_settle_by_another_attempt_is_absent_and_changes_nothing(
            self, space: StockSpace) -> None:
        """A duplicate request (same derived order id, another attempt) never gives back or
        sells the hold the first request took; the owner still can."""
        await space.seed(PID, {"stock": 10, "version": 1})
        await space.run(PID, StockHold("o-1", "a1", 4, NOW, "r-1", T0))
        before = await space.get(PID)
        for step in (StockRelease("o-1", "a2", "r-2", T1), StockSettle("o-1", "a2", "r-3", T1),
                     StockRelease("o-1", "", "r-4", T1), StockSettle("o-1", "", "r-5", T1)):
            assert await space.run(PID, step) == StockAnswer("absent", available=6)
        assert await space.get(PID) == before
        assert (await space.run(PID, StockRelease("o-1", "a1", "r-6", T1))
                == StockAnswer("released", available=10, qty=4))

    async def test_release_or_settle_without_a_hold_is_absent(self, space: StockSpace) -> None:
        await space.seed(PID, {"stock": 3, "version": 7})
        assert await space.run(PID, StockRelease("nobody", "a1", "r-1", T0)) == StockAnswer("absent", available=3)
        assert await space.run(PID, StockSettle("nobody", "a1", "r-2", T0)) == StockAnswer("absent", available=3)
        assert await space.get(PID) == {"stock": 3, "version": 7}

    async def test_a_hold_without_by_counts_as_attempt_empty(self, space: StockSpace) -> None:
        """Holds written before attempts existed ({"at", "qty"} only) belong to attempt ""."""
        old = {"stock": 5, "version": 3, "holds": {"o-1": {"at": 1, "qty": 2}}}
        await space.seed(PID, old)
        assert await space.run(PID, StockHold("o-1", "", 9, NOW, "r-1", T0)) == StockAnswer("held", available=5, qty=2)
        assert await space.run(PID, StockHold("o-1", "a1", 1, NOW, "r-2", T0)) == StockAnswer("busy", available=5)
        assert await space.run(PID, StockSettle("o-1", "a1", "r-3", T0)) == StockAnswer("absent", available=5)
        assert await space.get(PID) == old
        assert await space.run(PID, StockRelease("o-1", "", "r-4", T1)) == StockAnswer("released", available=7, qty=2)
        assert await space.get(PID) == {"stock": 7, "version": 4, "_meta": meta("r-4", T1)}

    # ---- return and forget -----------------------------------------------------------------
    async def test_return_gives_stock_back_exactly_once(self, space: StockSpace) -> None:
        await space.seed(PID, {"stock": 4, "version": 3})
        assert (await space.run(PID, StockReturn("o-1", 2, NOW, "r-c1", T0))
                == StockAnswer("returned", available=6, qty=2))
        after = await space.get(PID)
        assert after == {"stock": 6, "version": 4, "returns": {"o-1": {"at": NOW, "qty": 2}}, "_meta": meta("r-c1")}
        # a repeated cancel, even with another quantity, clock and request: the first answer's
        # qty, nothing changes
        repeat = await space.run(PID, StockReturn("o-1", 5, NOW + 1, "r-c2", T1))
        assert repeat == StockAnswer("returned", available=6, qty=2)
        assert await space.get(PID) == after
        # another order's return is its own
        assert (await space.run(PID, StockReturn("o-2", 1, NOW + 2, "r-c3", T1))
                == StockAnswer("returned", available=7, qty=1))
        assert await space.get(PID) == {"stock": 7, "version": 5, "_meta": meta("r-c3", T1),
                                        "returns": {"o-1": {"at": NOW, "qty": 2}, "o-2": {"at": NOW + 2, "qty": 1}}}

    async def test_return_leaves_holds_alone(self, space: StockSpace) -> None:
        await space.seed(PID, {"stock": 5, "version": 1})
        await space.run(PID, StockHold("o-1", "a1", 2, NOW, "r-1", T0))
        assert (await space.run(PID, StockReturn("o-1", 3, NOW, "r-2", T0))
                == StockAnswer("returned", available=6, qty=3))
        assert await space.get(PID) == {"stock": 6, "version": 3, "_meta": meta("r-2"),
                                        "holds": {"o-1": {"at": NOW, "by": "a1", "qty": 2}},
                                        "returns": {"o-1": {"at": NOW, "qty": 3}}}
        assert await space.run(PID, StockSettle("o-1", "a1", "r-3", T0)) == StockAnswer("settled", available=6, qty=2)

    async def test_forget_drops_the_marker_once(self, space: StockSpace) -> None:
        await space.seed(PID, {"stock": 4, "version": 1})
        await space.run(PID, StockReturn("o-1", 2, NOW, "r-1", T0))
        assert await space.run(PID, StockForget("o-1", "r-2", T1)) == StockAnswer("forgot", available=6, qty=2)
        forgotten = await space.get(PID)
        assert forgotten == {"stock": 6, "version": 3, "_meta": meta("r-2", T1)}
        assert await space.run(PID, StockForget("o-1", "r-3", T1)) == StockAnswer("absent", available=6)
        assert await space.run(PID, StockForget("never", "r-4", T1)) == StockAnswer("absent", available=6)
        assert await space.get(PID) == forgotten
        # the marker is what makes a return once: without it a return counts again
        assert (await space.run(PID, StockReturn("o-1", 2, NOW, "r-5", T1))
                == StockAnswer("returned", available=8, qty=2))

    async def test_missing_entry_is_never_created(self, space: StockSpace) -> None:
        assert await space.run("404", StockHold("o-1", "a1", 1, NOW, "r", T0)) == StockAnswer("missing")
        assert await space.run("404", StockRelease("o-1", "a1", "r", T0)) == StockAnswer("absent")
        assert await space.run("404", StockSettle("o-1", "a1", "r", T0)) == StockAnswer("absent")
        assert await space.run("404", StockReturn("o-1", 1, NOW, "r", T0)) == StockAnswer("missing")
        assert await space.run("404", StockForget("o-1", "r", T0)) == StockAnswer("absent")
        assert await space.get("404") is None

    # ---- what every change does, and every no-op does not -----------------------------------
    async def test_other_fields_of_the_entry_are_kept(self, space: StockSpace) -> None:
        await space.seed(PID, {"stock": 5, "version": 1, "note": "kept", "nested": {"b": 1, "a": [1, 2.5]},
                               "_meta": meta("seed", "2020-01-01T00:00:00.000Z")})
        await space.run(PID, StockHold("o-1", "a1", 1, NOW, "r-1", T0))
        await space.run(PID, StockSettle("o-1", "a1", "r-2", T1))
        assert await space.get(PID) == {"stock": 4, "version": 3, "note": "kept", "nested": {"b": 1, "a": [1, 2.5]},
                                        "_meta": meta("r-2", T1)}

    async def test_meta_is_set_on_every_change_and_untouched_by_no_ops(self, space: StockSpace) -> None:
        seeded = {"stock": 3, "version": 1, "holds": {"o-1": {"at": 1, "by": "a1", "qty": 1}},
                  "returns": {"o-9": {"at": 1, "qty": 1}}, "_meta": meta("seed", "2020-01-01T00:00:00.000Z")}
        await space.seed(PID, seeded)
        no_ops: list[StockProcessor] = [
            StockHold("o-1", "a1", 1, NOW, "n-1", T1),  # repeat
            StockHold("o-1", "a2", 1, NOW, "n-2", T1),  # busy
            StockHold("o-2", "a1", 9, NOW, "n-3", T1),  # short
            StockRelease("o-1", "a2", "n-4", T1), StockSettle("o-2", "a1", "n-5", T1),  # absent
            StockReturn("o-9", 4, NOW, "n-6", T1),  # repeat
            StockForget("o-1", "n-7", T1),  # absent
        ]
        for step in no_ops:
            await space.run(PID, step)
            assert await space.get(PID) == seeded, step
        changes: list[StockProcessor] = [
            StockHold("o-2", "a1", 1, NOW, "c-1", T0), StockRelease("o-2", "a1", "c-2", T1),
            StockHold("o-3", "a1", 1, NOW, "c-3", T0), StockSettle("o-3", "a1", "c-4", T1),
            StockReturn("o-3", 1, NOW, "c-5", T0), StockForget("o-3", "c-6", T1),
        ]
        for step in changes:
            await space.run(PID, step)
            after = await space.get(PID)
            assert after is not None and after["_meta"] == meta(step.request_id, step.changed_at), step

    async def test_version_bumps_by_one_on_each_change_only(self, space: StockSpace) -> None:
        await space.seed(PID, {"stock": 5, "version": 10})
        steps: list[tuple[StockProcessor, int]] = [
            (StockHold("o-1", "a1", 2, NOW, "r", T0), 11),
            (StockHold("o-1", "a1", 2, NOW, "r", T0), 11),  # repeat
            (StockHold("o-1", "a2", 2, NOW, "r", T0), 11),  # busy
            (StockSettle("o-1", "a1", "r", T0), 12),
            (StockSettle("o-1", "a1", "r", T0), 12),  # absent
            (StockReturn("o-1", 2, NOW, "r", T0), 13),
            (StockReturn("o-1", 2, NOW, "r", T0), 13),  # repeat
            (StockForget("o-1", "r", T0), 14),
            (StockForget("o-1", "r", T0), 14),  # absent
            (StockHold("o-2", "a1", 9, NOW, "r", T0), 14),  # short
            (StockHold("o-2", "a1", 1, NOW, "r", T0), 15),
            (StockRelease("o-2", "a1", "r", T0), 16),
            (StockRelease("o-2", "a1", "r", T0), 16),  # absent
        ]
        for step, version in steps:
            await space.run(PID, step)
            assert (await space.get(PID))["version"] == version, step  # type: ignore[index]

    async def test_stock_is_conserved_over_a_random_sequence(self, space: StockSpace) -> None:
        """initial = available + held + settled - returned after every step of a random mix
        of all five steps (several orders, several attempts per order), where settled and
        returned are what the answers report as done: a "settled" answer, a "returned" answer
        for an order without a marker before. Also checks, step by step: available never
        negative, the answer's available is the stored one, the version moves by one exactly
        on a change, and a change is stamped with its step's _meta."""
        initial = 12
        rng = random.Random(20261128)
        await space.seed(PID, {"stock": initial, "version": 1})
        orders = [f"o-{i}" for i in range(5)]
        attempts = ["a1", "a2", ""]
        settled = returned = 0
        outcomes: set[str] = set()
        for n in range(160):
            order, attempt, rid, at = rng.choice(orders), rng.choice(attempts), f"r-{n}", T0 if n % 2 else T1
            kind = rng.choice(["hold", "hold", "release", "settle", "return", "forget"])
            step: StockProcessor = {
                "hold": lambda: StockHold(order, attempt, rng.randint(1, 5), NOW + n, rid, at),
                "release": lambda: StockRelease(order, attempt, rid, at),
                "settle": lambda: StockSettle(order, attempt, rid, at),
                "return": lambda: StockReturn(order, rng.randint(1, 3), NOW + n, rid, at),
                "forget": lambda: StockForget(order, rid, at),
            }[kind]()
            before = await space.get(PID)
            answer = await space.run(PID, step)
            after = await space.get(PID)
            assert before is not None and after is not None
            outcomes.add(answer.outcome)
            had_hold = order in before.get("holds", {})
            had_marker = order in before.get("returns", {})
            if answer.outcome == "settled":
                settled += answer.qty  # type: ignore[operator]
            if answer.outcome == "returned" and not had_marker:
                returned += answer.qty  # type: ignore[operator]
            expect_change = (answer.outcome in ("released", "settled", "forgot")
                             or (answer.outcome == "held" and not had_hold)
                             or (answer.outcome == "returned" and not had_marker))
            assert after["stock"] >= 0
            assert answer.available == after["stock"], (step, answer)
            assert initial == after["stock"] + held_total(after) + settled - returned, (step, answer)
            if expect_change:
                assert after["version"] == before["version"] + 1, (step, answer)
                assert after["_meta"] == meta(rid, at)
            else:
                assert after == before, (step, answer)
        # the mix really exercised every outcome an existing entry can give
        assert outcomes == {"held", "busy", "short", "released", "settled", "absent", "returned", "forgot"}

    # ---- concurrency -----------------------------------------------------------------------
    async def test_concurrent_holds_never_oversell(self, space: StockSpace) -> None:
        """50 in stock, 80 orders of 1 at once: exactly 50 held, 30 short, stock conserved."""
        await space.seed(PID, {"stock": 50, "version": 1})
        answers = await asyncio.gather(*(space.run(PID, StockHold(f"o-{i}", "a", 1, NOW + i, f"r-{i}", T0))
                                         for i in range(80)))
        outcomes = [a.outcome for a in answers]
        assert outcomes.count("held") == 50 and outcomes.count("short") == 30
        final = await space.get(PID)
        assert final is not None
        assert final["stock"] == 0 and final["version"] == 51
        held_by = {f"o-{i}" for i, a in enumerate(answers) if a.outcome == "held"}
        assert set(final["holds"]) == held_by
        assert all(final["holds"][o] == {"qty": 1, "at": NOW + int(o[2:]), "by": "a"} for o in held_by)

    async def test_concurrent_attempts_for_one_order_hold_once(self, space: StockSpace) -> None:
        """Ten duplicate requests for one order at once: one holds, nine are busy; then every
        attempt settles at once: only the holder's settle does anything."""
        await space.seed(PID, {"stock": 10, "version": 1})
        attempts = [f"a{i}" for i in range(10)]
        answers = await asyncio.gather(*(space.run(PID, StockHold("o-1", a, 3, NOW, f"r-{a}", T0)) for a in attempts))
        winners = [a for a, ans in zip(attempts, answers) if ans.outcome == "held"]
        assert len(winners) == 1 and sum(1 for ans in answers if ans.outcome == "busy") == 9
        settles = await asyncio.gather(*(space.run(PID, StockSettle("o-1", a, f"s-{a}", T1)) for a in attempts))
        assert [s.outcome for s in settles].count("settled") == 1
        assert [s.outcome for s in settles].count("absent") == 9
        assert settles[attempts.index(winners[0])] == StockAnswer("settled", available=7, qty=3)
        assert await space.get(PID) == {"stock": 7, "version": 3, "_meta": meta(f"s-{winners[0]}", T1)}

    async def test_concurrent_hold_release_settle_return_conserve_stock(self, space: StockSpace) -> None:
        """G5's invariant under interleaving: initial = available + held + settled - returned;
        each hold ends once, each return counts once."""
        await space.seed(PID, {"stock": 30, "version": 1})
        orders = [f"o-{i}" for i in range(20)]
        holds = await asyncio.gather(*(space.run(PID, StockHold(o, "a", 2, NOW, "r", T0)) for o in orders))
        held = [o for o, a in zip(orders, holds) if a.outcome == "held"]
        assert len(held) == 15
        steps: list[StockProcessor] = [StockRelease(o, "a", "r", T0) if i % 2 else StockSettle(o, "a", "r", T0)
                                       for i, o in enumerate(held)]
        # every step twice, all at once: each hold ends exactly once
        answers = await asyncio.gather(*(space.run(PID, s) for s in steps + steps))
        done = [a for a in answers if a.outcome in ("released", "settled")]
        assert len(done) == len(held)
        assert sum(1 for a in answers if a.outcome == "absent") == len(held)
        released = sum(a.qty for a in done if a.outcome == "released")  # type: ignore[misc]
        settled = sum(a.qty for a in done if a.outcome == "settled")  # type: ignore[misc]
        assert released == 2 * sum(1 for s in steps if isinstance(s, StockRelease))
        # the settled orders are cancelled, each cancel sent three times at once: returned once
        sold = [s.order_id for s in steps if isinstance(s, StockSettle)]
        returns = [StockReturn(o, 2, NOW, "c", T1) for o in sold]
        answers = await asyncio.gather(*(space.run(PID, r) for r in returns * 3))
        assert all(a.outcome == "returned" and a.qty == 2 for a in answers)
        returned = 2 * len(sold)
        final = await space.get(PID)
        assert final is not None
        assert "holds" not in final and set(final["returns"]) == set(sold)
        assert final["stock"] + held_total(final) + settled - returned == 30
        assert final["stock"] == 30
        assert final["version"] == 1 + 15 + 15 + len(sold)
