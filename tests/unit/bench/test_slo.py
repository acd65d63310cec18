"""The capacity rule: the highest offered rate with p99 under the SLO, no errors or drops, >= 95 % served."""

from __future__ import annotations

from tools.bench.slo import capacity, meets_slo, ratio


def step(rate: float, p99: float, errors: int = 0, dropped: int = 0, achieved: float | None = None) -> dict:
    return {"offered_rps": rate, "achieved_rps": rate if achieved is None else achieved, "p99_ms": p99,
            "errors": errors, "dropped": dropped}


def test_a_step_meets_the_slo_only_on_all_counts() -> None:
    assert meets_slo(step(400, 49.9), 50)
    assert not meets_slo(step(400, 50.0), 50)  # strictly under
    assert not meets_slo(step(400, 10, errors=1), 50)
    assert not meets_slo(step(400, 10, dropped=1), 50)
    assert meets_slo(step(400, 10, achieved=380), 50)  # exactly 95 %
    assert not meets_slo(step(400, 10, achieved=379.9), 50)


def test_achieved_is_judged_against_what_the_schedule_offered() -> None:
    # a Poisson schedule drew 5 % fewer arrivals than the nominal 400/s: all of them answered
    lucky = {**step(400, 10, achieved=376), "scheduled_rps": 380}
    assert meets_slo(lucky, 50)
    assert not meets_slo({**lucky, "achieved_rps": 360}, 50)


def test_capacity_is_the_highest_rate_served() -> None:
    steps = [step(100, 5), step(200, 8), step(400, 20), step(800, 90), step(1600, 2000, achieved=900)]
    assert capacity(steps, 50) == 400
    assert capacity(steps, 100) == 800


def test_capacity_is_the_highest_served_even_above_a_noisy_miss() -> None:
    steps = [step(100, 5), step(200, 70), step(400, 20), step(800, 10, errors=3)]
    assert capacity(steps, 50) == 400


def test_capacity_when_nothing_was_served_and_the_ratio() -> None:
    assert capacity([step(100, 60)], 50) == 0.0
    assert capacity([], 50) == 0.0
    assert ratio(800, 400) == 2.0
    assert ratio(400, 0.0) is None
