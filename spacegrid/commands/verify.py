"""``spacegrid verify [--repair]``: grid vs database drift check; exit 0 only when converged (G4).

Against Hazelcast (``SPACEGRID_GRID=hazelcast``) it opens the grid and the database
itself. In the embedded mode the grid lives inside the ``spacegrid up`` process, so it
asks that process (``/admin/drift`` at ``--url``, by default SPACEGRID_HTTP_HOST:PORT, as
``up`` serves) with the operator token
``up`` wrote into ``SPACEGRID_CACHE_DIR/operator-token``.

``--repair`` re-ships the grid's current state of every missing or stale entity through
the normal pipeline (journal -> pump -> Kafka -> writer), then re-checks until converged
or ``--wait`` seconds passed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

EXIT_CONVERGED, EXIT_DRIFT, EXIT_ERROR, EXIT_UNAVAILABLE = 0, 1, 2, 3
#: how long --repair waits for the pipeline by default (write-behind needs a moment)
REPAIR_WAIT_S = 60.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--wait", type=float, default=None, metavar="S",
                        help="re-check until converged or S seconds passed "
                             f"(default 0; {REPAIR_WAIT_S:.0f} with --repair)")
    parser.add_argument("--repair", action="store_true",
                        help="re-ship every missing or stale entity from the grid, then re-check")
    parser.add_argument("--url", metavar="URL",
                        help="embedded mode: where `spacegrid up` serves (default "
                             "http://SPACEGRID_HTTP_HOST:SPACEGRID_HTTP_PORT, else http://127.0.0.1:8080)")


def run(args: argparse.Namespace) -> int:
    from data_writer.settings import WriterSettings
    from grid_config.settings import load

    settings = load(WriterSettings)
    wait = args.wait if args.wait is not None else (REPAIR_WAIT_S if args.repair else 0.0)
    side = _Hazelcast(settings) if settings.grid == "hazelcast" else _Embedded(settings, args.url)
    try:
        report = asyncio.run(_verify(side, args.repair, wait))
    except Exception as e:  # noqa: BLE001 - one clear line for the operator
        from service_kit.exits import unavailable_line

        line = unavailable_line(e)
        print(f"verify failed: {line or e}", file=sys.stderr)
        return EXIT_UNAVAILABLE if line else EXIT_ERROR
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print("\n".join(report.lines()))
    return EXIT_CONVERGED if report.converged else EXIT_DRIFT


async def _verify(side: Any, repair: bool, wait_s: float) -> Any:
    deadline = time.monotonic() + wait_s
    async with side:
        report = await side.drift()
        if repair and not report.converged:
            counts = await side.repair()
            print("re-shipped " + ", ".join(f"{n} {kind}" for kind, n in counts.items()), file=sys.stderr)
        while not report.converged and time.monotonic() < deadline:
            await asyncio.sleep(1.0)
            report = await side.drift()
        return report


class _Hazelcast:
    """The grid and the database, opened here."""

    def __init__(self, settings: Any) -> None:
        from spacegrid.bootstrap import open_grid, open_sink

        self.grid = open_grid(settings)
        self.sink = open_sink(settings, retry_budget_s=10.0)
        self.names = settings.names

    async def __aenter__(self) -> "_Hazelcast":
        await self.grid.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.sink.close()
        await self.grid.close()

    async def drift(self) -> Any:
        from data_writer.drift import drift

        return await drift(self.grid, self.names, self.sink)

    async def repair(self) -> dict[str, int]:
        from data_writer.drift import repair

        return await repair(self.grid, self.names, self.sink)


class _Embedded:
    """The ``spacegrid up`` process, asked over its operator routes."""

    def __init__(self, settings: Any, url: str | None) -> None:
        from data_writer.drift import OPERATOR_TOKEN_FILE
        from grid_config.settings import CommonSettings, load

        served = load(CommonSettings)  # the unit's port (8080), not the writer's default
        self.base = (url or f"http://{served.http_host}:{served.http_port}").rstrip("/")
        self.token_file = settings.cache_dir / OPERATOR_TOKEN_FILE
        self.session: Any = None

    async def __aenter__(self) -> "_Embedded":
        import aiohttp

        if not self.token_file.exists():
            raise RuntimeError(f"no operator token at {self.token_file}: "
                               "is `spacegrid up` running with this SPACEGRID_CACHE_DIR?")
        headers = {"Authorization": f"Bearer {self.token_file.read_text().strip()}"}
        self.session = aiohttp.ClientSession(headers=headers, timeout=aiohttp.ClientTimeout(total=120, connect=5))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.session.close()

    async def _call(self, method: str, route: str) -> Any:
        async with self.session.request(method, f"{self.base}{route}") as resp:
            if resp.status != 200:
                raise RuntimeError(f"{self.base}{route} answered {resp.status}: {(await resp.text())[:300]}")
            return await resp.json()

    async def drift(self) -> Any:
        from data_writer.drift import ADMIN_DRIFT_ROUTE, DriftReport

        return DriftReport.from_dict(await self._call("GET", ADMIN_DRIFT_ROUTE))

    async def repair(self) -> dict[str, int]:
        from data_writer.drift import ADMIN_REPAIR_ROUTE

        return (await self._call("POST", ADMIN_REPAIR_ROUTE))["reshipped"]
