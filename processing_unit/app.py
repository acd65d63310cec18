"""The unit's wiring function: ``create_app(settings, grid)`` -> aiohttp application.

The grid is passed in, not built here, so ``spacegrid up`` can share one in-process grid
between this app and the pump; ``spacegrid unit`` passes a Hazelcast grid (see
:mod:`spacegrid.bootstrap`). The app starts and closes only what it owns.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import AsyncIterator, Awaitable, Callable, Iterable

from aiohttp import web

from grid_config.ports import Grid
from grid_config.processes import Announcer
from processing_unit.keys import (
    BACKPRESSURE,
    GRID,
    LIVE,
    METRICS,
    RUNTIME,
    SERVICES,
    SETTINGS,
    STREAMING,
    Runtime,
)
from processing_unit.figures import UnitFigures
from processing_unit.live.hub import LiveHub
from processing_unit.live.source import ChangeSource
from processing_unit.metrics import UnitMetrics
from processing_unit.middleware import observe, problem_mapping
from processing_unit.openapi import build_openapi
from processing_unit.operator import OPERATOR, OperatorToken
from processing_unit.passwords import HashGate, Passwords
from processing_unit.routes import dashboard, docs, health, live, orders, products, users
from processing_unit.routes.spec import RouteSpec
from processing_unit.sagas import OrderSagas
from processing_unit.services import build_services
from processing_unit.settings import UnitSettings

#: argon2 is CPU- and memory-heavy: a small pool bounds both (queued hashes wait their turn)
HASH_THREADS = 2


def all_routes() -> list[RouteSpec]:
    return [*users.ROUTES, *products.ROUTES, *orders.ROUTES, *health.ROUTES, *docs.ROUTES, *live.ROUTES, *dashboard.ROUTES]


def build_hub(settings: UnitSettings, metrics: UnitMetrics) -> LiveHub:
    """The unit's live hub, sized by the ``SPACEGRID_WS_*`` / ``SPACEGRID_LIVE_*`` settings."""
    return LiveHub(
        low_stock=settings.low_stock,
        retention_s=settings.live_retention_s,
        retention_events=settings.live_retention_events,
        max_connections=settings.ws_max_connections,
        max_per_user=settings.ws_max_per_user,
        queue_size=settings.ws_queue,
        on_drop=metrics.ws_dropped.inc,
    )


def create_app(
    settings: UnitSettings,
    grid: Grid,
    *,
    own_grid: bool = False,
    loaded: bool = True,
    preload: Callable[[], Awaitable[object]] | None = None,
    sagas: type[OrderSagas] = OrderSagas,
    live_source: ChangeSource | None = None,
) -> web.Application:
    """Build the unit's HTTP application over ``grid``.

    ``own_grid``: start the grid with the app and close it on cleanup (``spacegrid unit``).
    ``loaded``: readiness waits for ``app[RUNTIME].loaded`` when False, so a caller that
    first loads the grid from the database (``spacegrid up``) sets it when done.
    ``preload``: awaited once the grid is up and before the admin account is bootstrapped
    (``spacegrid up`` loads its database there); readiness follows when it returns.
    ``sagas``: how orders span keys (the benchmark's database side passes its own).
    ``live_source``: the change stream ``GET /ws`` reads (Kafka or the embedded channel);
    without one, sockets are refused with 1013 (nothing to notify from).
    """
    app = web.Application(
        middlewares=[observe, problem_mapping], client_max_size=settings.max_body_bytes
    )
    executor = ThreadPoolExecutor(HASH_THREADS, thread_name_prefix="argon2")
    gate = HashGate(HASH_THREADS + settings.hash_queue, settings.hash_per_client)
    passwords = Passwords(
        settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism, executor, gate
    )
    services = build_services(settings, grid, passwords, sagas)
    runtime = Runtime()
    if loaded:
        runtime.loaded.set()
    routes = all_routes()
    app[SETTINGS] = settings
    app[GRID] = grid
    app[SERVICES] = services
    app[BACKPRESSURE] = services.backpressure
    app[METRICS] = metrics = UnitMetrics()
    app[RUNTIME] = runtime
    app[OPERATOR] = OperatorToken(settings.operator_token)
    app[LIVE] = hub = build_hub(settings, metrics)
    app[STREAMING] = frozenset(r.name for r in routes if r.streaming)
    announcer = Announcer(grid, "unit", f"{settings.http_host}:{settings.http_port}", UnitFigures(metrics, hub))
    app[docs.OPENAPI] = build_openapi(routes)
    _register(app, routes)
    docs.add_assets(app)

    async def grid_ctx(app: web.Application) -> AsyncIterator[None]:
        if own_grid:
            await grid.start()
        if preload is not None:
            await preload()
            runtime.loaded.set()
        try:
            yield
        finally:
            if own_grid:
                await grid.close()

    async def executor_ctx(app: web.Application) -> AsyncIterator[None]:
        try:
            yield
        finally:
            executor.shutdown(wait=True, cancel_futures=True)

    async def bootstrap_admin_ctx(app: web.Application) -> AsyncIterator[None]:
        creds = settings.bootstrap_admin_credentials
        if creds is not None:
            await services.identity.ensure_admin(*creds, request_id="bootstrap")
        yield

    async def sagas_ctx(app: web.Application) -> AsyncIterator[None]:
        """The reaper runs while the unit does; settles in flight finish before the grid closes."""
        reaper = asyncio.get_running_loop().create_task(services.reaper.run(), name="reaper")
        try:
            yield
        finally:
            reaper.cancel()
            await asyncio.gather(reaper, return_exceptions=True)
            await services.stock.drain()

    async def live_ctx(app: web.Application) -> AsyncIterator[None]:
        """One reader of the change stream per unit, fanned out to its sockets; and the
        unit's record in the grid's process registry (the dashboard finds units there)."""
        loop = asyncio.get_running_loop()
        tasks = [loop.create_task(announcer.run(), name="announce")]
        if live_source is not None:
            tasks.append(loop.create_task(live_source.run(hub), name="live-source"))
        try:
            yield
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def close_sockets(app: web.Application) -> None:
        hub.close_all(1001, "the unit is shutting down")

    app.cleanup_ctx.extend([grid_ctx, executor_ctx, bootstrap_admin_ctx, sagas_ctx, live_ctx])
    app.on_shutdown.append(close_sockets)
    return app


def _register(app: web.Application, routes: Iterable[RouteSpec]) -> None:
    for r in routes:
        app.router.add_route(r.method, r.path, r.handler, name=r.name)
