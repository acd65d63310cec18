"""The embedded mode's wiring function: one process, the same code as the distributed mode.

``build_app(settings)`` returns the unit's aiohttp application over an in-process grid,
with the embedded pump (grid outbox -> in-process channel) running beside it as a
cleanup-context task. Only adapters differ from the distributed mode.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import AsyncIterator

from aiohttp import web

from data_pump.embedded import run_embedded
from data_pump.local_channel import LocalChannel
from grid_config.local_grid import LocalGrid
from grid_config.names import Names
from processing_unit.app import create_app
from processing_unit.keys import RUNTIME
from processing_unit.settings import UnitSettings, load_unit_settings

#: records between pump and writer; full -> the pump waits -> the outbox fills -> 503 (G7)
CHANNEL_SIZE = 10_000
CHANNEL: web.AppKey[LocalChannel] = web.AppKey("channel", LocalChannel)


def build_app(settings: UnitSettings) -> web.Application:
    names = Names(namespace=settings.namespace, stripes=settings.outbox_stripes)
    grid = LocalGrid(names, settings.backlog_limit)
    app = create_app(settings, grid, own_grid=True, loaded=False)
    channel = LocalChannel(CHANNEL_SIZE)
    app[CHANNEL] = channel

    async def pump_ctx(app: web.Application) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = asyncio.create_task(run_embedded(grid, channel, stop), name="embedded-pump")
        app[RUNTIME].loaded.set()
        try:
            yield
        finally:
            stop.set()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 30)

    app.cleanup_ctx.append(pump_ctx)
    return app


def serve(**overrides: object) -> int:
    """Run the embedded mode until SIGINT/SIGTERM (then drain, ship, flush, exit)."""
    from processing_unit.logs import configure_logging
    from processing_unit.server import serve as serve_app

    configure_logging()
    settings = load_unit_settings(**overrides)
    return serve_app(
        build_app(settings), settings.http_host, settings.http_port, settings.drain_grace_s, settings.shutdown_timeout_s
    )
