"""What a writer announces in the grid (grid_config.processes): rows/s, lag, dead letters."""

from __future__ import annotations

from typing import Any

from data_writer.metrics import WriterMetrics
from service_kit.figures import by_label, total


def writer_figures(metrics: WriterMetrics) -> dict[str, Any]:
    r = metrics.registry
    return {
        "rows_per_s": round(metrics.refresh_rate(), 2),
        # the batch being written, else how old the last committed batch's oldest change was
        "lag_s": round(max(metrics.refresh_lag(), metrics.recent_delay()), 3),
        "rows_total": by_label(r, "spacegrid_writer_rows_total", "outcome").get("written", 0.0),
        "dead_letters_total": total(r, "spacegrid_writer_deadletters_total"),
        "deferred": total(r, "spacegrid_writer_deferred_orders"),
    }
