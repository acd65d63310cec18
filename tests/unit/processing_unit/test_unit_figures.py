"""The p99 a unit announces (the dashboard's per-route figure) from its latency histogram:
interpolated inside its bucket as Prometheus's ``histogram_quantile`` does, over the
requests since the previous announcement only."""

from __future__ import annotations

import pytest

from processing_unit.figures import UnitFigures
from processing_unit.live.hub import LiveHub
from processing_unit.metrics import UnitMetrics


def _served(metrics: UnitMetrics, seconds: list[float]) -> None:
    for s in seconds:
        metrics.observe_request("orders.place", "POST", 201, s)


def _p99(figures: UnitFigures) -> float:
    return figures()["routes"]["POST orders.place"]["p99_ms"]


@pytest.fixture
def unit() -> tuple[UnitMetrics, UnitFigures]:
    metrics = UnitMetrics()
    figures = UnitFigures(metrics, LiveHub())
    figures()  # the first call only takes the starting counts
    return metrics, figures


def test_p99_lies_inside_its_bucket_not_at_its_upper_bound(unit) -> None:
    metrics, figures = unit
    # 90 fast requests and 10 in the 100-250 ms bucket: the 99th of 100 is the 9th of those
    # 10, so 100 + 150 * 9/10 = 235 ms (the bucket's bound alone said 250)
    _served(metrics, [0.002] * 90 + [0.12] * 10)
    assert _p99(figures) == pytest.approx(235.0)


def test_p99_counts_only_the_requests_since_the_last_figures(unit) -> None:
    metrics, figures = unit
    _served(metrics, [3.0] * 100)  # slow ones, announced with the first figures
    assert _p99(figures) == pytest.approx(2500 + 2500 * 0.99)
    _served(metrics, [0.0015] * 100)  # then only 1-2.5 ms ones
    assert 1.0 < _p99(figures) <= 2.5


def test_p99_beyond_the_last_bucket_is_the_last_bound(unit) -> None:
    metrics, figures = unit
    _served(metrics, [60.0] * 10)
    assert _p99(figures) == 10_000.0
