"""The PNG writer draws a real PNG (matplotlib, Agg) from a compare result document."""

from __future__ import annotations

from pathlib import Path

from tools.bench.slo_plot import write_png


def _doc() -> dict:
    steps = []
    for route in ("get", "post", "mix"):
        for side, slow in (("space", 1.0), ("database", 2.0)):
            for rate in (100, 200, 400, 800):
                steps.append({"side": side, "route": route, "offered_rps": rate, "achieved_rps": rate * 0.99,
                              "errors": 1 if rate == 800 and side == "space" else 0, "dropped": 0,
                              "p50_ms": slow * rate / 100, "p95_ms": slow * rate / 40, "p99_ms": slow * rate / 20})
    capacity = {"get": {"space": 800, "database": 400, "ratio": 2.0},
                "post": {"space": 400, "database": 0.0, "ratio": None},
                "mix": {"space": 400, "database": 400, "ratio": 1.0}}
    return {"setup": {"slo_ms": 50}, "routes": {"get": "GET /products/[id]", "post": "POST /orders", "mix": "mix"},
            "steps": steps, "capacity": capacity}


def test_writes_a_non_empty_png(tmp_path: Path) -> None:
    path = write_png(_doc(), tmp_path / "sub" / "compare.png")
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 10_000


def test_draws_a_run_with_one_side_missing_and_no_steps(tmp_path: Path) -> None:
    doc = _doc()
    doc["steps"] = [s for s in doc["steps"] if s["side"] == "space" and s["route"] == "get"]
    assert write_png(doc, tmp_path / "one.png").stat().st_size > 0
    assert write_png({"setup": {"slo_ms": 50}, "steps": []}, tmp_path / "none.png").stat().st_size > 0
