"""Serve an app with a graceful SIGTERM drain (readiness 503 first, in-flight finish, exit).

aiohttp's ``run_app`` stops listening at once on SIGTERM; behind a load balancer that
drops requests the balancer still routes here. This sequence lets the balancer's health
check see 503 before the listener closes.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import signal
import socket
from typing import Awaitable, Callable

from aiohttp import web

from processing_unit import parser_log
from processing_unit.keys import RUNTIME, SETTINGS
from service_kit.exits import Unavailable

#: called once the listener is up, with the host and the port it listens on
OnServing = Callable[[str, int], Awaitable[None]]

log = logging.getLogger("spacegrid.unit")


async def serve_until_signal(
    app: web.Application,
    host: str,
    port: int,
    drain_grace_s: float,
    shutdown_timeout_s: float,
    stop: asyncio.Event | None = None,
    on_serving: OnServing | None = None,
    sock: socket.socket | None = None,
) -> None:
    """Serve ``app`` until SIGTERM/SIGINT (or ``stop`` is set), then drain and clean up.

    ``sock``: a listener bound beforehand by :func:`bind` (so a taken port fails before the
    app starts anything); bound here otherwise.
    """
    stop = stop or asyncio.Event()
    sock = sock or bind(host, port)
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
        site = web.SockSite(runner, sock, shutdown_timeout=shutdown_timeout_s)
        await site.start()
        port = sock.getsockname()[1]
        log.info("unit serving", extra={"host": host, "port": port})
        if on_serving is not None:
            await on_serving(host, port)
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


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``; :class:`Unavailable` (one line) when it is taken."""
    try:
        return socket.create_server((host, port), backlog=1024)
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise Unavailable(f"port {port} on {host} is already in use (set --port or SPACEGRID_HTTP_PORT)") from e
        raise Unavailable(f"cannot listen on {host}:{port}: {e.strerror or e}") from e


def serve(
    app: web.Application,
    host: str,
    port: int,
    drain_grace_s: float,
    shutdown_timeout_s: float,
    on_serving: OnServing | None = None,
    sock: socket.socket | None = None,
) -> int:
    """Bind (failing fast and plainly when the port is taken), then serve until a signal."""
    sock = sock or bind(host, port)
    asyncio.run(serve_until_signal(app, host, port, drain_grace_s, shutdown_timeout_s, None, on_serving, sock))
    return 0
