"""Memos with a bound: every in-memory dict that grows with traffic keeps at most N entries."""

from __future__ import annotations

from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


def keep(memo: dict[K, V], key: K, value: V, bound: int) -> V:
    """``memo[key] = value``, forgetting the oldest entry first when ``memo`` is full.

    Oldest by insertion: dicts keep that order, so a caller that pops a key before keeping
    it again makes the memo least-recently-used rather than first-in-first-out.
    """
    if key not in memo and len(memo) >= bound:
        del memo[next(iter(memo))]
    memo[key] = value
    return value
