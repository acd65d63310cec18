"""The open-loop arrival schedule: its rate, its bounds, and that it depends on nothing but the rate."""

from __future__ import annotations

import pytest

from tools.bench.arrivals import arrival_offsets


def test_uniform_is_evenly_spaced_at_the_rate() -> None:
    offsets = list(arrival_offsets(200, 2.0, "uniform"))
    assert len(offsets) == 400
    assert offsets[0] == 0.0
    assert all(b - a == pytest.approx(1 / 200) for a, b in zip(offsets, offsets[1:]))
    assert offsets[-1] < 2.0


def test_poisson_has_the_offered_rate_on_average() -> None:
    offsets = list(arrival_offsets(1000, 20.0, "poisson", seed=7))
    assert len(offsets) == pytest.approx(20_000, rel=0.03)
    assert offsets == sorted(offsets)
    assert 0.0 <= offsets[0] and offsets[-1] < 20.0
    gaps = [b - a for a, b in zip(offsets, offsets[1:])]
    # exponential gaps: mean 1/rate, and bursts (gaps far below the mean) do happen
    assert sum(gaps) / len(gaps) == pytest.approx(1 / 1000, rel=0.03)
    assert min(gaps) < 0.1 / 1000


def test_a_seed_repeats_the_schedule_so_both_sides_get_the_same_one() -> None:
    assert list(arrival_offsets(300, 1.0, "poisson", seed=3)) == list(arrival_offsets(300, 1.0, "poisson", seed=3))
    assert list(arrival_offsets(300, 1.0, "poisson", seed=3)) != list(arrival_offsets(300, 1.0, "poisson", seed=4))


def test_nothing_to_offer_and_unknown_kinds() -> None:
    assert list(arrival_offsets(0, 10.0)) == []
    assert list(arrival_offsets(100, 0.0)) == []
    with pytest.raises(ValueError):
        list(arrival_offsets(100, 1.0, "bursty"))
