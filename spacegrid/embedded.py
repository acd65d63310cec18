"""The embedded mode's wiring function: one process, the same code as the distributed mode.

``build_app(settings)`` returns the unit's aiohttp application over an in-process grid,
with the embedded pump (map journals -> in-process channel) and the embedded writer
(channel -> the same :class:`~data_writer.pipeline.BatchWriter` -> SQLite) running
beside it. On start the database is loaded into the grid before the unit is ready; on
shutdown the journals and the channel are drained into the database before exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import AsyncIterator

from aiohttp import web

from data_pump.embedded import run_embedded as run_pump
from data_pump.figures import pump_figures
from data_pump.metrics import PumpMetrics
from data_pump.local_channel import LocalChannel
from data_pump.shipping import unshipped
from data_reader.loader import load_grid
from data_writer.embedded import run_embedded as run_writer
from data_writer.figures import writer_figures
from data_writer.metrics import WriterMetrics
from data_writer.pipeline import BatchWriter, SinkDeadLetters
from data_writer.ports import Sink
from data_writer.settings import WriterSettings
from grid_config.processes import Announcer
from grid_config.settings import load
from processing_unit.app import create_app
from processing_unit.live.local_source import LocalSource
from processing_unit.settings import UnitSettings, load_unit_settings
from spacegrid.bootstrap import open_grid, open_sink
from spacegrid.operator_route import add_drift_route
from service_kit.exits import Unavailable

log = logging.getLogger("spacegrid.up")

#: records between pump and writer; full -> the pump waits -> the journals fill -> 503 (G7)
CHANNEL_SIZE = 10_000
#: how long a shutdown waits for the journals and the channel to reach the database
DRAIN_TIMEOUT_S = 30.0

CHANNEL: web.AppKey[LocalChannel] = web.AppKey("channel", LocalChannel)
SINK: web.AppKey[Sink] = web.AppKey("sink", Sink)


def build_app(settings: UnitSettings, writer_settings: WriterSettings | None = None) -> web.Application:
    writer_settings = writer_settings or load(WriterSettings)
    grid = open_grid(settings)
    sink = open_sink(settings, writer_settings.deferral)

    async def load_database() -> None:
        await sink.migrate()
        started = time.monotonic()
        report = await load_grid(grid, sink)
        log.info("grid loaded from the database: %s in %.1fs", report.loaded, time.monotonic() - started)

    live = LocalSource(grid.names)  # GET /ws reads what the pump puts in the channel
    app = create_app(settings, grid, own_grid=True, loaded=False, preload=load_database, live_source=live)
    channel = LocalChannel(CHANNEL_SIZE, tap=live.offer)
    app[CHANNEL] = channel
    app[SINK] = sink

    pump_metrics, writer_metrics = PumpMetrics(), WriterMetrics()
    address = f"{settings.http_host}:{settings.http_port}"
    announcers = [Announcer(grid, "pump", address, lambda: pump_figures(pump_metrics, grid.names)),
                  Announcer(grid, "writer", address, lambda: writer_figures(writer_metrics))]

    async def pipeline_ctx(app: web.Application) -> AsyncIterator[None]:
        pump_stop, writer_stop = asyncio.Event(), asyncio.Event()
        writer = BatchWriter(sink, SinkDeadLetters(sink), writer_metrics)
        announcing = [asyncio.create_task(a.run(), name=f"announce-{a.kind}") for a in announcers]
        writer_task = asyncio.create_task(
            run_writer(
                channel,
                writer,
                writer_stop,
                batch_size=writer_settings.write_batch_size,
                interval_s=writer_settings.write_interval_ms / 1000,
            ),
            name="embedded-writer",
        )
        pump_task = asyncio.create_task(run_pump(grid, channel, pump_stop, metrics=pump_metrics), name="embedded-pump")
        try:
            yield
        finally:
            for t in announcing:
                t.cancel()
            await asyncio.gather(*announcing, return_exceptions=True)
            # HTTP is closed by now: ship what is left, then let the writer empty the channel.
            deadline = time.monotonic() + DRAIN_TIMEOUT_S
            while await unshipped(grid.change_log) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            pump_stop.set()
            await _finish(pump_task, deadline)
            writer_stop.set()
            await _finish(writer_task, deadline)
            left = await unshipped(grid.change_log) + channel.qsize()
            if left:
                log.error("shutdown: %d changes did not reach the database in %.0fs", left, DRAIN_TIMEOUT_S)
            await sink.close()

    app.cleanup_ctx.append(pipeline_ctx)
    add_drift_route(app, grid, grid.names, sink, settings.cache_dir)  # `spacegrid verify` asks here (G4)
    return app


async def _finish(task: asyncio.Task, deadline: float) -> None:
    try:
        await asyncio.wait_for(task, max(0.1, deadline - time.monotonic()))
    except asyncio.TimeoutError:
        log.error("%s did not finish in time", task.get_name())
    except Exception:  # noqa: BLE001 - log and go on shutting down
        log.exception("%s failed", task.get_name())
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def serve(demo: bool = False, **overrides: object) -> int:
    """Run the embedded mode until SIGINT/SIGTERM (then drain, ship, flush, exit).

    In order: take this cache dir's and database's lock (a second ``up`` stops here,
    touching nothing), keep the token secret, bind the port, load, serve, print the
    banner (``demo``: after seeding a sample catalog through the API).
    """
    from service_kit.logs import configure_logging
    from processing_unit.server import bind, serve as serve_app
    from spacegrid import demo as first_run
    from spacegrid.instance import AlreadyRunning, UpLock, kept_token_secret

    configure_logging()
    overrides = {**overrides, "grid": "embedded"}  # `up` is always embedded
    probe = load(UnitSettings, **overrides)
    lock = UpLock.for_instance(probe.cache_dir, probe.database_url)
    try:
        lock.acquire()
    except AlreadyRunning as e:
        raise Unavailable(str(e)) from None
    if not probe.token_secret:  # kept in the cache dir: a restart keeps every session (decision 0021)
        overrides["token_secret"] = kept_token_secret(probe.cache_dir)
    admin, admin_from_env = None, bool(probe.bootstrap_admin)
    if probe.bootstrap_admin_credentials:
        admin = first_run.Account(*probe.bootstrap_admin_credentials)
    elif demo:
        admin, shopper = first_run.demo_accounts(probe.cache_dir)
        overrides["bootstrap_admin"] = f"{admin.email}:{admin.password}"
    settings = load_unit_settings(**overrides)
    sock = bind(settings.http_host, settings.http_port)
    lock.note(sock.getsockname()[1])

    async def on_serving(host: str, port: int) -> None:
        base = f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}"
        first = None
        if demo and admin is not None:
            try:
                first = await first_run.seed(base, admin, first_run.demo_accounts(settings.cache_dir)[1])
            except (first_run.SeedError, OSError) as e:
                log.error("demo seeding failed: %s", e)
        first_run.print_banner(first_run.banner(base, settings.database_url, admin, admin_from_env, first))

    try:
        return serve_app(
            build_app(settings), settings.http_host, settings.http_port, settings.drain_grace_s,
            settings.shutdown_timeout_s, on_serving, sock,
        )
    finally:
        lock.release()
