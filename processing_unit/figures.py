"""What a unit announces in the grid (grid_config.processes): per-route rates and p99, errors, sockets.

Rates and p99 are over the time since the previous call (one heartbeat, about a second),
from the unit's own counters and latency histogram; p99 is interpolated linearly inside the
bucket it falls in, as Prometheus's ``histogram_quantile`` does, so a dashboard and a PromQL
query over ``/metrics`` agree.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from typing import Any

from processing_unit.live.hub import LiveHub
from processing_unit.metrics import UnitMetrics
from service_kit.figures import samples, total

#: long-lived routes (a socket's "request" lasts as long as the socket) are not rates
NOT_A_RATE = {"live.ws"}


class UnitFigures:
    def __init__(self, metrics: UnitMetrics, hub: LiveHub) -> None:
        self._metrics = metrics
        self._hub = hub
        self._prev: tuple[float, dict[tuple[str, str, str], float], dict[tuple[str, str], dict[float, float]]] | None = None

    def __call__(self) -> dict[str, Any]:
        r = self._metrics.registry
        now = time.monotonic()
        counts = {(lb["route"], lb["method"], lb["status"]): v for lb, v in samples(r, "spacegrid_http_requests_total")}
        buckets: dict[tuple[str, str], dict[float, float]] = defaultdict(dict)
        for lb, v in samples(r, "spacegrid_http_request_seconds_bucket"):
            buckets[(lb["route"], lb["method"])][float(lb["le"])] = v
        prev, self._prev = self._prev, (now, counts, dict(buckets))
        figures: dict[str, Any] = {
            "ws_connections": self._hub.connections,
            "ws_sent_total": total(r, "spacegrid_ws_messages_sent_total"),
            "ws_dropped_total": total(r, "spacegrid_ws_messages_dropped_total"),
            "errors_total": sum(v for (_, _, s), v in counts.items() if s.startswith("5")),
            "unavailable_total": sum(v for (_, _, s), v in counts.items() if s == "503"),
        }
        routes: dict[str, dict[str, float]] = {}
        per_s = {"requests_per_s": 0.0, "errors_per_s": 0.0, "unavailable_per_s": 0.0, "client_errors_per_s": 0.0}
        if prev is not None and now > prev[0]:
            dt = now - prev[0]
            for (route, method, status), v in counts.items():
                if route in NOT_A_RATE:
                    continue
                d = (v - prev[1].get((route, method, status), 0.0)) / dt
                per_s["requests_per_s"] += d
                per_s["errors_per_s"] += d if status.startswith("5") else 0.0
                per_s["unavailable_per_s"] += d if status == "503" else 0.0
                per_s["client_errors_per_s"] += d if status.startswith("4") else 0.0
                key = f"{method} {route}"
                routes.setdefault(key, {"rps": 0.0, "p99_ms": 0.0})["rps"] += d
            for (route, method), cumulative in buckets.items():
                key = f"{method} {route}"
                if key in routes:
                    routes[key]["p99_ms"] = _p99_ms(cumulative, prev[2].get((route, method), {}))
        figures.update({k: round(v, 2) for k, v in per_s.items()})
        figures["routes"] = {k: {"rps": round(v["rps"], 2), "p99_ms": v["p99_ms"]} for k, v in routes.items()
                             if v["rps"] > 0}
        return figures


def _p99_ms(now: dict[float, float], before: dict[float, float]) -> float:
    """The 99th percentile of the requests counted between ``before`` and ``now`` (cumulative
    bucket counts by upper bound), in ms. The bucket's upper bound alone made "p99 250 ms"
    mean anything from 100 to 250 ms; beyond the last finite bound it is that bound."""
    deltas = [(le, now[le] - before.get(le, 0.0)) for le in sorted(now)]
    count = deltas[-1][1] if deltas else 0.0
    if count <= 0:
        return 0.0
    rank = 0.99 * count
    lower, below = 0.0, 0.0
    for le, cumulative in deltas:
        if cumulative >= rank:
            if not math.isfinite(le):
                return round(lower * 1000, 1)
            inside = cumulative - below
            return round((lower + (le - lower) * ((rank - below) / inside if inside > 0 else 1.0)) * 1000, 1)
        lower, below = le, cumulative
    return 0.0
