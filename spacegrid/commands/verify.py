"""``spacegrid verify``: grid vs database drift check; exit 0 only when converged (G4).

Against Hazelcast (``SPACEGRID_GRID=hazelcast``) it opens the grid and the database
itself. In the embedded mode the grid lives inside the ``spacegrid up`` process, so it
asks that process (``GET /admin/drift`` on SPACEGRID_HTTP_HOST:PORT) with the operator
token ``up`` wrote into ``SPACEGRID_CACHE_DIR/operator-token``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

EXIT_CONVERGED, EXIT_DRIFT, EXIT_ERROR = 0, 1, 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--wait", type=float, default=0.0, metavar="S",
                        help="re-check until converged or S seconds passed (write-behind needs a moment)")


def run(args: argparse.Namespace) -> int:
    from data_writer.settings import WriterSettings
    from grid_config.settings import load

    settings = load(WriterSettings)
    try:
        report = asyncio.run(_check_until(settings, args.wait))
    except Exception as e:  # noqa: BLE001 - one clear line for the operator
        print(f"verify failed: {e}", file=sys.stderr)
        return EXIT_ERROR
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print("\n".join(report.lines()))
    return EXIT_CONVERGED if report.converged else EXIT_DRIFT


async def _check_until(settings, wait_s: float):  # type: ignore[no-untyped-def]
    import time

    deadline = time.monotonic() + wait_s
    while True:
        report = await (_hazelcast(settings) if settings.grid == "hazelcast" else _embedded(settings))
        if report.converged or time.monotonic() >= deadline:
            return report
        await asyncio.sleep(1.0)


async def _hazelcast(settings):  # type: ignore[no-untyped-def]
    from data_writer.drift import drift
    from spacegrid.bootstrap import open_grid, open_sink

    grid = open_grid(settings)
    sink = open_sink(settings, retry_budget_s=10.0)
    await grid.start()
    try:
        return await drift(grid, settings.names, sink)
    finally:
        await sink.close()
        await grid.close()


async def _embedded(settings):  # type: ignore[no-untyped-def]
    import aiohttp

    from data_writer.drift import ADMIN_DRIFT_ROUTE, OPERATOR_TOKEN_FILE, DriftReport

    token_file = settings.cache_dir / OPERATOR_TOKEN_FILE
    if not token_file.exists():
        raise RuntimeError(f"no operator token at {token_file}: is `spacegrid up` running with this SPACEGRID_CACHE_DIR?")
    token = token_file.read_text().strip()
    url = f"http://{settings.http_host}:{settings.http_port}{ADMIN_DRIFT_ROUTE}"
    timeout = aiohttp.ClientTimeout(total=120, connect=5)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        async with session.get(url, headers={"Authorization": f"Bearer {token}"}) as resp:
            if resp.status != 200:
                raise RuntimeError(f"{url} answered {resp.status}: {(await resp.text())[:300]}")
            return DriftReport.from_dict(await resp.json())
