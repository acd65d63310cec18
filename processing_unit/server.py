"""Serve an app with a graceful SIGTERM drain (readiness 503 first, in-flight finish, exit).

aiohttp's ``run_app`` stops listening at once on SIGTERM; behind a load balancer that
drops requests the balancer still routes here. This sequence lets the balancer's health
check see 503 before the listener closes.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from aiohttp import web

from processing_unit import parser_log
from processing_unit.keys import RUNTIME, SETTINGS

log = logging.getLogger("spacegrid.unit")


async def serve_until_signal(
    app: web.Application,
    host: str,
    port: int,
    drain_grace_s: float,
    shutdown_timeout_s: float,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve ``app`` until SIGTERM/SIGINT (or ``stop`` is set), then drain and clean up."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    parser_log.install()
    # aiohttp's keep-alive timer starts when a connection opens and again after each answer,
    # and closes the connection if no whole request head arrived by then: one bound for
    # slow or held headers and for idle keep-alive (aiohttp's own default is 3630 s)
    runner = web.AppRunner(app, access_log=None, keepalive_timeout=app[SETTINGS].http_idle_timeout_s)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, shutdown_timeout=shutdown_timeout_s)
        await site.start()
        log.info("unit serving", extra={"host": host, "port": port})
        await stop.wait()
        runtime = app[RUNTIME]
        runtime.draining = True
        log.info("draining", extra={"grace_s": drain_grace_s, "in_flight": runtime.in_flight})
        await asyncio.sleep(drain_grace_s)  # readiness answers 503 meanwhile; requests still served
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        # stops listening, waits up to shutdown_timeout_s for in-flight requests, runs cleanup_ctx
        await runner.cleanup()
        log.info("unit stopped")


def serve(app: web.Application, host: str, port: int, drain_grace_s: float, shutdown_timeout_s: float) -> int:
    asyncio.run(serve_until_signal(app, host, port, drain_grace_s, shutdown_timeout_s))
    return 0
