"""What a pump announces in the grid (grid_config.processes): rate, lag, un-shipped, dead letters,
and the journal credits its reconciliation gave back (leaked by writers that died after a take:
a number that keeps rising says writers keep dying mid-write)."""

from __future__ import annotations

from typing import Any

from data_pump.metrics import PumpMetrics
from grid_config.names import Names
from service_kit.figures import by_label, total


def pump_figures(metrics: PumpMetrics, names: Names) -> dict[str, Any]:
    """Figures of the journals this pump owns (the gauges its timer refreshes every second)."""
    r = metrics.registry

    def kinds(values: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for map_name, v in values.items():
            try:
                out[names.kind_of(map_name)] = v
            except ValueError:
                continue
        return out

    oldest = kinds(by_label(r, "spacegrid_pump_oldest_unshipped_age_seconds", "map"))
    return {
        "events_per_s": round(metrics.refresh_rate(), 2),
        "shipped_total": total(r, "spacegrid_pump_shipped_total"),
        "dead_letters_total": total(r, "spacegrid_pump_dead_letters_total"),
        "credits_restored_total": total(r, "spacegrid_journal_credits_restored_total"),
        "owned_shards": total(r, "spacegrid_pump_owned_shards"),
        "unshipped": kinds(by_label(r, "spacegrid_pump_unshipped", "map")),
        "oldest_unshipped_s": oldest,
        "lag_s": round(max(oldest.values(), default=0.0), 3),
    }
