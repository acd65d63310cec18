"""Where benchmark results go: one JSON file per run under ``bench-results/`` (git-ignored)."""

from __future__ import annotations

import math
import platform
import time
from pathlib import Path
from typing import Any

import orjson


def percentile(samples: list[float], q: float) -> float:
    """The q-th percentile (0..100) by nearest rank: the smallest sample with at least q % of
    the samples at or below it (never an interpolated value no request had); 0.0 for none."""
    if not samples:
        return 0.0
    ordered = sorted(samples)
    # ceil, not round: round(2.5) is 2, which made the median of 5 samples the 2nd
    rank = math.ceil(round(q * len(ordered) / 100, 9))
    return ordered[min(len(ordered), max(1, rank)) - 1]


def save(name: str, result: dict[str, Any], directory: Path = Path("bench-results")) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}-{time.strftime('%Y%m%dT%H%M%S')}.json"
    meta = {"machine": platform.machine(), "python": platform.python_version(), "cpus": _cpus()}
    path.write_bytes(orjson.dumps({"benchmark": name, "meta": meta, **result}, option=orjson.OPT_INDENT_2))
    return path


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))
