"""Where benchmark results go: one JSON file per run under ``bench-results/`` (git-ignored)."""

from __future__ import annotations

import platform
import time
from pathlib import Path
from typing import Any

import orjson


def percentile(samples: list[float], q: float) -> float:
    """The q-th percentile (0..100) by nearest rank; 0.0 for no samples."""
    if not samples:
        return 0.0
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))
    return ordered[index]


def save(name: str, result: dict[str, Any], directory: Path = Path("bench-results")) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}-{time.strftime('%Y%m%dT%H%M%S')}.json"
    meta = {"machine": platform.machine(), "python": platform.python_version(), "cpus": _cpus()}
    path.write_bytes(orjson.dumps({"benchmark": name, "meta": meta, **result}, option=orjson.OPT_INDENT_2))
    return path


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))
