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
