"""``spacegrid bench unit|pump|writer|reader|orders|compare``: side-by-side benchmarks (docs/benchmarks.md).

Each benchmark lives in ``tools/bench/<name>.py`` with ``add_arguments(parser)`` and
``run(args) -> int``; it prints a table and writes JSON under ``bench-results/``.
"""

from __future__ import annotations

import argparse
import importlib

BENCHMARKS = {
    "unit": "unit requests/s vs a bare aiohttp handler doing the same grid calls",
    "pump": "pump changes/s vs a raw aiokafka producer sending the same records",
    "writer": "sink rows/s vs raw executemany; whole writer vs raw consumer; write-behind lag",
    "reader": "cold-start entities/s vs raw put_all",
    "orders": "POST /orders on the space vs the same unit over PostgreSQL; no degradation after N orders",
    "compare": "capacity at a p99 SLO under open-loop load: space-based stack vs a direct-to-database service",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="benchmark", required=True)
    import sys

    selected = next((a for a in sys.argv[2:] if a in BENCHMARKS), None)
    for name, help_text in BENCHMARKS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == selected:
            importlib.import_module(f"tools.bench.{name}").add_arguments(p)


def run(args: argparse.Namespace) -> int:
    return int(importlib.import_module(f"tools.bench.{args.benchmark}").run(args) or 0)
