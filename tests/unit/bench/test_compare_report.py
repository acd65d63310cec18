"""bench compare's pure parts: rate parsing, per-route capacities and the side-by-side table."""

from __future__ import annotations

import pytest

from tools.bench.compare import capacities, parse_rates, table


def _step(side: str, route: str, rate: float, p99: float, errors: int = 0) -> dict:
    return {"side": side, "route": route, "offered_rps": rate, "achieved_rps": rate, "errors": errors,
            "dropped": 0, "p50_ms": p99 / 4, "p95_ms": p99 / 2, "p99_ms": p99, "send_lag_p99_ms": 0.1}


def test_parse_rates() -> None:
    assert parse_rates("100, 200,400") == [100.0, 200.0, 400.0]
    for bad in ("", "200,100", "100,100", "0,100", "-5"):
        with pytest.raises(ValueError):
            parse_rates(bad)


def test_capacities_and_table() -> None:
    steps = [
        _step("space", "get", 100, 5), _step("database", "get", 100, 3),
        _step("space", "get", 200, 20), _step("database", "get", 200, 80),
        _step("space", "post", 100, 60), _step("database", "post", 100, 10),
        _step("database", "post", 200, 12, errors=2),
    ]
    caps = capacities(steps, ["get", "post"], 50)
    assert caps == {"get": {"space": 200, "database": 100, "ratio": 2.0},
                    "post": {"space": 0.0, "database": 100, "ratio": 0.0}}
    text = table(steps, caps, {"get": "GET /products/[id]", "post": "POST /orders"}, 50)
    lines = text.splitlines()
    row = next(line for line in lines if line.startswith("POST /orders") and " 200 |" in line)
    assert row.split("|")[1].strip() == "-"  # space was not offered 200/s on that route
    assert "space/database 2.00" in text
    assert "space/database 0.00" in text


def test_steps_alternate_sides_share_seeds_and_stop_when_both_sides_missed(monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse
    import os

    from tools.bench import compare
    from tools.bench.process_cpu import CpuMeter, fixed

    # p99 per side and rate: space misses at 100 and 200 (noise) but serves 400; the
    # database serves up to 200; both miss from 800 on
    p99 = {"space": {100: 80, 200: 90, 400: 20, 800: 300, 1600: 900, 3200: 999},
           "database": {100: 10, 200: 20, 400: 70, 800: 200, 1600: 900, 3200: 999}}
    calls: list[tuple[str, str, float, int]] = []

    def fake_offer(side, route, rate, seconds, seed, args):
        calls.append((side.name, route, rate, seed))
        return {"offered_rps": rate, "scheduled_rps": rate, "achieved_rps": rate, "errors": 0, "dropped": 0,
                "p50_ms": 1.0, "p95_ms": 2.0, "p99_ms": float(p99[side.name][int(rate)]), "send_lag_p99_ms": 0.0}

    monkeypatch.setattr(compare, "_offer", fake_offer)
    sides = [compare.Side("space", "http://s", lambda: None), compare.Side("database", "http://d", lambda: None)]
    args = argparse.Namespace(step_seconds=1, slo_ms=50, max_misses=2)
    steps: list[dict] = []
    meter = CpuMeter({"this test": fixed(os.getpid())})
    assert compare._measure(sides, ["get"], [100, 200, 400, 800, 1600, 3200], args, steps, meter) == 0
    # every step says what the measured processes used meanwhile
    assert all(set(step["cpu"]["this test"]) == {"cores", "waiting"} for step in steps)
    # every rate offered to both sides until both missed twice in a row (after 1600)
    assert [(c[0], c[2]) for c in calls] == [
        ("space", 100), ("database", 100), ("database", 200), ("space", 200), ("space", 400), ("database", 400),
        ("database", 800), ("space", 800), ("space", 1600), ("database", 1600)]
    # the same seed for both sides at a step: the same schedule
    seeds = {}
    for side, _, rate, seed in calls:
        seeds.setdefault(rate, set()).add(seed)
    assert all(len(s) == 1 for s in seeds.values())
    caps = compare.capacities(steps, ["get"], 50)
    assert caps["get"] == {"space": 400, "database": 200, "ratio": 2.0}
