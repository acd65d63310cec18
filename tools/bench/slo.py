"""The SLO rule of bench compare: which steps a side served, and so its capacity.

Why a rule and not a throughput figure: under open-loop load a side "serves" any rate it
can queue, at ever worse latency; what matters to a user is the highest rate it serves
while still answering fast and correctly. A step meets the SLO when its p99 is under the
SLO, no request failed or was dropped, and the side answered at least
:data:`MIN_ACHIEVED` of the offered requests per second (a side that falls behind is not serving it,
whatever its p99 says about the requests it did answer).
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

#: achieved / offered rate a step needs to count as served
MIN_ACHIEVED = 0.95


def meets_slo(step: Mapping[str, Any], slo_ms: float, min_achieved: float = MIN_ACHIEVED) -> bool:
    """True when ``step`` (offered_rps, achieved_rps, errors, dropped, p99_ms) met the SLO.

    Achieved is compared with ``scheduled_rps`` when the step has it: a Poisson schedule
    offers a few percent more or less than the nominal rate by chance alone.
    """
    return (
        step["p99_ms"] < slo_ms
        and step["errors"] == 0
        and step.get("dropped", 0) == 0
        and step["achieved_rps"] >= min_achieved * step.get("scheduled_rps", step["offered_rps"])
    )


def capacity(steps: Iterable[Mapping[str, Any]], slo_ms: float, min_achieved: float = MIN_ACHIEVED) -> float:
    """The highest offered rate among ``steps`` that met the SLO; 0.0 when none did."""
    return max((s["offered_rps"] for s in steps if meets_slo(s, slo_ms, min_achieved)), default=0.0)


def ratio(space: float, database: float) -> float | None:
    """space / database capacity; None when the database side served no step (no ratio)."""
    return space / database if database > 0 else None
