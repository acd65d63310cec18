"""bench compare's picture: p50 and p99 against offered load, both sides, one panel per route.

Why a plot: the capacity figure is one number per side, but where and how steeply each
side's latency turns up (the knee) is what says whether the result is robust or a step
away from flipping. The SLO is drawn as a line; steps that failed the SLO on errors,
drops or throughput rather than on latency are marked with a cross.

Works on the saved JSON document (``bench-results/compare-<time>.json``), so an old run
can be drawn again: ``python -m tools.bench.slo_plot RESULT.json OUT.png``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tools.bench.slo import meets_slo

SIDES = {"space": "tab:blue", "database": "tab:orange"}


def write_png(doc: dict[str, Any], path: Path) -> Path:
    """Draw ``doc`` (setup.slo_ms, steps, capacity, routes) to ``path`` with the Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    slo_ms = float(doc["setup"]["slo_ms"])
    labels: dict[str, str] = doc.get("routes", {})
    order = list(dict.fromkeys(s["route"] for s in doc["steps"])) or ["(no steps)"]
    fig, axes = plt.subplots(1, len(order), figsize=(5.2 * len(order), 4.6), squeeze=False)
    for ax, route in zip(axes[0], order):
        for side, colour in SIDES.items():
            steps = sorted((s for s in doc["steps"] if s["route"] == route and s["side"] == side),
                           key=lambda s: s["offered_rps"])
            if not steps:
                continue
            x = [s["offered_rps"] for s in steps]
            ax.plot(x, [max(s["p99_ms"], 0.1) for s in steps], "-o", color=colour, label=f"{side} p99")
            ax.plot(x, [max(s["p50_ms"], 0.1) for s in steps], "--", marker=".", color=colour, alpha=0.7,
                    label=f"{side} p50")
            failed = [s for s in steps if not meets_slo(s, slo_ms) and s["p99_ms"] < slo_ms]
            if failed:
                ax.plot([s["offered_rps"] for s in failed], [max(s["p99_ms"], 0.1) for s in failed], "x",
                        color="black", markersize=10, label="errors/drops/<95 % served")
        ax.axhline(slo_ms, color="tab:red", linestyle=":", label=f"SLO p99 < {slo_ms:g} ms")
        cap = doc.get("capacity", {}).get(route, {})
        title = labels.get(route, route)
        if cap:
            title += f"\ncapacity: space {cap.get('space', 0):g}, database {cap.get('database', 0):g} req/s"
            if cap.get("ratio") is not None:
                title += f" (space/db x{cap['ratio']:.2f})"
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("offered load (requests/s)")
        ax.set_ylabel("latency from due time (ms)")
        ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main() -> None:
    import orjson

    ap = argparse.ArgumentParser(description="draw a bench compare result again")
    ap.add_argument("result", type=Path)
    ap.add_argument("png", type=Path)
    args = ap.parse_args()
    print(write_png(orjson.loads(args.result.read_bytes()), args.png))


if __name__ == "__main__":
    main()
