"""Credit gives of one loop turn go together (grid_config/credit_gives.py)."""

from __future__ import annotations

import asyncio
from typing import Any, Mapping, Sequence

import pytest

from grid_config.credit_gives import CreditGives
from grid_config.credit_processors import CreditsGive
from grid_config.errors import GridUnavailable

pytestmark = pytest.mark.unit


class CreditsMap:
    """An in-memory credits map: the calls it got, the credits taken per key."""

    def __init__(self, taken: Mapping[str, int], fail: bool = False) -> None:
        self.taken = dict(taken)
        self.calls: list[tuple[list[str], int]] = []
        self.fail = fail

    async def execute_on_keys(self, keys: Sequence[str], step: CreditsGive) -> dict[str, Any]:
        await asyncio.sleep(0)
        self.calls.append((sorted(keys), step.n))
        if self.fail:
            raise GridUnavailable("members gone")
        out = {}
        for k in keys:
            capped = max(0, step.n - self.taken.get(k, 0))
            self.taken[k] = max(0, self.taken.get(k, 0) - step.n)
            out[k] = f'{{"capped":{capped},"credits":{self.taken[k]},"outcome":"given"}}'
        return out


async def test_one_turn_one_call_per_count_and_one_key_summed() -> None:
    credits = CreditsMap({"a": 5, "b": 5, "c": 5})
    gives = CreditGives(credits.execute_on_keys)
    answers = await asyncio.gather(gives.give("a", 1, 64), gives.give("b", 1, 64), gives.give("c", 2, 64),
                                   gives.give("a", 1, 64))
    assert sorted(credits.calls) == [(["a", "c"], 2), (["b"], 1)]  # a's two gives summed
    assert credits.taken == {"a": 3, "b": 4, "c": 3}
    assert [a.capped for a in answers] == [0] * 4
    assert (await gives.give("b", 9, 64)).capped == 5  # a later turn: a call of its own
    assert credits.calls[-1] == (["b"], 9) and credits.taken["b"] == 0


async def test_a_failed_call_fails_every_give_it_carried() -> None:
    credits = CreditsMap({"a": 5, "b": 5}, fail=True)
    gives = CreditGives(credits.execute_on_keys)
    outcomes = await asyncio.gather(gives.give("a", 1, 64), gives.give("b", 1, 64), return_exceptions=True)
    assert [type(o) for o in outcomes] == [GridUnavailable, GridUnavailable]
    assert len(credits.calls) == 1
