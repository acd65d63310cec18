"""``spacegrid reader``: load the Hazelcast space from the database, with a progress line."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--batch", type=int, default=1000, help="entities per put_all (default 1000)")


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_run(args.batch))


async def _run(batch: int) -> int:
    from data_reader.loader import load_grid
    from grid_config.settings import CommonSettings, load
    from spacegrid.bootstrap import open_grid, open_sink

    settings = load(CommonSettings)
    if settings.grid != "hazelcast":
        print("spacegrid reader loads a Hazelcast grid (SPACEGRID_GRID=hazelcast); "
              "`spacegrid up` loads its embedded grid itself", file=sys.stderr)
        return 2
    grid = open_grid(settings)
    sink = open_sink(settings)
    started = time.monotonic()

    def progress(kind: str, count: int) -> None:
        rate = count / max(time.monotonic() - started, 1e-6)
        print(f"\r{kind:<9} {count:>10,} loaded  ({rate:,.0f}/s)", end="", file=sys.stderr, flush=True)

    await grid.start()
    try:
        await sink.migrate()
        report = await load_grid(grid, sink, batch=batch, progress=progress)
    finally:
        await sink.close()
        await grid.close()
    elapsed = time.monotonic() - started
    print(f"\nloaded {report.total:,} entities {report.loaded} in {elapsed:.1f}s "
          f"({report.total / max(elapsed, 1e-6):,.0f}/s); {report.tombstones} tombstones skipped", file=sys.stderr)
    return 0
