"""The journal-credit processors' contract (G7, decision 0018), one suite for every
implementation.

Subclasses provide a ``space`` fixture: a :class:`CreditSpace` over one implementation, the
Java processors on real Hazelcast members or the pure functions of
:mod:`grid_config.credit_processors` over dicts. Both must behave the same, answers included.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any, Protocol

from grid_config.credit_processors import CreditAnswer, CreditsGive, CreditsProcessor, CreditsTake

Value = dict[str, Any]
KEY = "t-stock#17"
B = 50


class CreditSpace(Protocol):
    """One journal-credits map, as the contract needs it."""

    async def seed(self, key: str, value: Value) -> None: ...

    async def get(self, key: str) -> Value | None: ...

    async def run(self, key: str, processor: CreditsProcessor) -> CreditAnswer: ...


class CreditProcessorContract:
    """Every test gets a fresh, empty credits map through the ``space`` fixture."""

    async def test_a_missing_entry_starts_at_the_bound(self, space: CreditSpace) -> None:
        assert await space.run(KEY, CreditsTake(3, B)) == CreditAnswer("taken", B - 3)
        assert await space.get(KEY) == {"credits": B - 3}

    async def test_take_within_budget(self, space: CreditSpace) -> None:
        await space.seed(KEY, {"credits": 5})
        assert await space.run(KEY, CreditsTake(2, B)) == CreditAnswer("taken", 3)
        assert await space.run(KEY, CreditsTake(3, B)) == CreditAnswer("taken", 0)
        assert await space.get(KEY) == {"credits": 0}

    async def test_a_refused_take_leaves_the_entry_unchanged(self, space: CreditSpace) -> None:
        await space.seed(KEY, {"credits": 2})
        assert await space.run(KEY, CreditsTake(3, B)) == CreditAnswer("refused", 2)
        assert await space.get(KEY) == {"credits": 2}
        await space.seed(KEY, {"credits": 0})
        assert await space.run(KEY, CreditsTake(1, B)) == CreditAnswer("refused", 0)
        assert await space.get(KEY) == {"credits": 0}

    async def test_a_refused_take_on_a_missing_entry_creates_nothing(self, space: CreditSpace) -> None:
        assert await space.run(KEY, CreditsTake(B + 1, B)) == CreditAnswer("refused", B)
        assert await space.get(KEY) is None

    async def test_give_never_exceeds_the_bound(self, space: CreditSpace) -> None:
        await space.seed(KEY, {"credits": 45})
        assert await space.run(KEY, CreditsGive(3, B)) == CreditAnswer("given", 48)
        assert await space.run(KEY, CreditsGive(10, B)) == CreditAnswer("given", B, capped=8)
        assert await space.get(KEY) == {"credits": B}
        # at the bound a give is a no-op that reports everything as capped
        assert await space.run(KEY, CreditsGive(4, B)) == CreditAnswer("given", B, capped=4)
        assert await space.get(KEY) == {"credits": B}

    async def test_give_on_a_missing_entry_changes_nothing_and_creates_nothing(self, space: CreditSpace) -> None:
        assert await space.run(KEY, CreditsGive(5, B)) == CreditAnswer("given", B, capped=5)
        assert await space.get(KEY) is None

    async def test_a_count_above_a_lowered_bound_counts_as_the_bound(self, space: CreditSpace) -> None:
        await space.seed(KEY, {"credits": 80})
        assert await space.run(KEY, CreditsTake(51, B)) == CreditAnswer("refused", B)
        assert await space.get(KEY) == {"credits": 80}
        assert await space.run(KEY, CreditsTake(1, B)) == CreditAnswer("taken", B - 1)
        assert await space.get(KEY) == {"credits": B - 1}

    async def test_other_fields_of_the_entry_are_kept(self, space: CreditSpace) -> None:
        await space.seed(KEY, {"credits": 9, "note": "kept", "nested": {"b": 1, "a": [1, 2.5]}})
        await space.run(KEY, CreditsTake(4, B))
        await space.run(KEY, CreditsGive(1, B))
        assert await space.get(KEY) == {"credits": 6, "note": "kept", "nested": {"b": 1, "a": [1, 2.5]}}

    async def test_keys_are_independent(self, space: CreditSpace) -> None:
        await space.run("t-stock#1", CreditsTake(B, B))
        assert await space.run("t-stock#2", CreditsTake(B, B)) == CreditAnswer("taken", 0)
        assert await space.run("t-orders#1", CreditsTake(1, B)) == CreditAnswer("taken", B - 1)

    async def test_concurrent_takes_never_exceed_the_budget(self, space: CreditSpace) -> None:
        """200 takes of 1 at once from a budget of 50: exactly 50 taken, 150 refused."""
        answers = await asyncio.gather(*(space.run(KEY, CreditsTake(1, B)) for _ in range(200)))
        outcomes = [a.outcome for a in answers]
        assert outcomes.count("taken") == B and outcomes.count("refused") == 200 - B
        # every taken answer saw a distinct count: the takes were serialized
        assert sorted(a.credits for a in answers if a.taken) == list(range(B))
        assert all(a.credits == 0 for a in answers if not a.taken)
        assert await space.get(KEY) == {"credits": 0}

    async def test_interleaved_takes_and_gives_stay_within_bounds(self, space: CreditSpace) -> None:
        """Random takes and gives at once: 0 <= c <= B in every answer, and the final count is
        exactly B - taken + (given - capped): nothing lost, nothing invented."""
        rng = random.Random(7)
        steps: list[CreditsProcessor] = [
            CreditsTake(rng.randint(1, 8), B) if rng.random() < 0.6 else CreditsGive(rng.randint(1, 8), B)
            for _ in range(300)
        ]
        answers = await asyncio.gather(*(space.run(KEY, s) for s in steps))
        assert all(0 <= a.credits <= B for a in answers)
        taken = sum(s.n for s, a in zip(steps, answers) if a.taken)
        given = sum(s.n - a.capped for s, a in zip(steps, answers) if a.outcome == "given")
        assert all(0 <= a.capped <= s.n for s, a in zip(steps, answers))
        assert any(a.taken for a in answers) and any(a.outcome == "refused" for a in answers)
        final = await space.get(KEY)
        assert final is not None and final["credits"] == B - taken + given
