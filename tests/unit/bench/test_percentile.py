"""Nearest-rank percentiles, as every bench reports them: always a latency some request had."""

from __future__ import annotations

import random

from tools.bench.results import percentile


def test_nearest_rank_on_small_samples() -> None:
    assert percentile([5, 1, 4, 2, 3], 50) == 3  # the median, not the 2nd (round(2.5) == 2)
    assert percentile([1, 2, 3, 4], 50) == 2
    assert percentile([1, 2, 3, 4], 75) == 3
    assert percentile([7.5], 99) == 7.5
    assert percentile([3, 1, 2], 0) == 1
    assert percentile([3, 1, 2], 100) == 3


def test_tail_percentiles_of_a_hundred_and_a_thousand() -> None:
    samples = list(range(1, 101))
    random.Random(1).shuffle(samples)
    assert (percentile(samples, 50), percentile(samples, 95), percentile(samples, 99)) == (50, 95, 99)
    assert percentile(list(range(1, 1001)), 99.9) == 999


def test_one_slow_request_in_a_hundred_is_the_p99_not_above_it() -> None:
    samples = [1.0] * 99 + [500.0]
    assert percentile(samples, 99) == 1.0
    assert percentile(samples + [500.0], 99) == 500.0


def test_no_samples() -> None:
    assert percentile([], 99) == 0.0
