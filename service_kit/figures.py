"""Read figures back out of a Prometheus registry (for the process records the dashboard shows).

Each process already counts everything in its registry; its announced figures are taken
from there, so ``/metrics`` and the dashboard can never disagree.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry


def samples(registry: CollectorRegistry, name: str) -> list[tuple[dict[str, str], float]]:
    """Every sample called ``name`` (e.g. ``spacegrid_pump_shipped_total``): (labels, value)."""
    out = []
    for metric in registry.collect():
        for s in metric.samples:
            if s.name == name:
                out.append((dict(s.labels), float(s.value)))
    return out


def total(registry: CollectorRegistry, name: str) -> float:
    return sum(v for _, v in samples(registry, name))


def by_label(registry: CollectorRegistry, name: str, label: str) -> dict[str, Any]:
    return {labels.get(label, ""): v for labels, v in samples(registry, name)}
