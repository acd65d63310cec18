"""The distributed pump: a Faust app around the shipping functions (``build(settings, grid)``).

- The **control topic** (one partition per pump shard) is consumed by a thin agent;
  Kafka's group assignment of its partitions decides which shards this pump ships
  (:class:`PumpRuntime` follows ``on_partitions_revoked`` / ``on_partitions_assigned``).
- Each owned shard's journals are shipped by :func:`~data_pump.shipping.ship_shard` through
  :class:`~data_pump.kafka_publisher.FaustPublisher` (idempotent producer, acks=all).
- A timer refreshes the un-shipped and journal-fill gauges; ``/metrics`` and ``/health/*`` are served by
  Faust's web server, bound to ``SPACEGRID_HTTP_HOST:SPACEGRID_HTTP_PORT``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from typing import Any, AbstractSet

from mode import Service
from tenacity import AsyncRetrying, retry_if_exception_type, wait_random_exponential

from data_pump.control import OwnershipNote, acquired, parse_note
from data_pump.figures import pump_figures
from data_pump.kafka_publisher import FaustPublisher
from data_pump.metrics import CONTENT_TYPE, PumpMetrics
from data_pump.ownership import SHARDS, ShardDrainer
from data_pump.publisher import Publisher
from data_pump.reconcile import CreditReconciler
from data_pump.settings import PumpSettings
from data_pump.shipping import refresh_unshipped, shard_partitions, ship_shard
from grid_config.errors import GridError
from grid_config.ports import Grid
from grid_config.processes import HEARTBEAT_S, Announcer
from service_kit.faust_app import ReliableApp, app_options

log = logging.getLogger("spacegrid.pump")


class PumpRuntime(Service):
    """Connects the grid, ships the journals of the shards this pump owns, keeps the gauges fresh."""

    def __init__(
        self,
        settings: PumpSettings,
        grid: Grid,
        publisher: Publisher,
        metrics: PumpMetrics,
        pump_id: str,
        **kwargs: Any,
    ) -> None:
        self.settings = settings
        self.grid = grid
        self.publisher = publisher
        self.metrics = metrics
        self.pump_id = pump_id
        self.grid_ready = asyncio.Event()
        self.owners: dict[int, OwnershipNote] = {}
        self.drainer = ShardDrainer(self._shard_loop, on_change=metrics.owned.set)
        self.reconciler = CreditReconciler(grid.change_log, settings.pump_credit_quiet_s,
                                           on_restored=lambda m, n: metrics.credits_restored.labels(map=m).inc(n))
        super().__init__(**kwargs)

    @Service.task
    async def _connect(self) -> None:
        """Connect to the grid, retrying with backoff: a pump may start before the cluster."""
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(GridError),
            wait=wait_random_exponential(multiplier=0.2, max=5),
        ):
            with attempt:
                await self.grid.start()
        self.grid_ready.set()
        log.info("grid connected")

    async def on_stop(self) -> None:
        await self.drainer.release_all()
        if self.grid_ready.is_set():
            await self.grid.close()

    async def _shard_loop(self, shard: int, stop: asyncio.Event) -> None:
        ready = asyncio.ensure_future(self.grid_ready.wait())
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait({ready, stopped}, return_when=asyncio.FIRST_COMPLETED)
        ready.cancel()
        stopped.cancel()
        if stop.is_set():
            return
        s = self.settings
        await ship_shard(
            self.grid.change_log,
            s.names,
            self.publisher,
            shard,
            SHARDS,
            stop,
            batch_size=s.pump_batch_size,
            max_backoff_s=s.pump_max_backoff_s,
            metrics=self.metrics,
            on_shipped=self.grid.change_log.shipped,
        )

    # ---- ownership, driven by the control topic's assignment ------------------------
    async def own(self, shards: AbstractSet[int]) -> list[int]:
        """Ship exactly ``shards``; return the newly acquired ones."""
        before = self.drainer.owned
        await self.drainer.own(shards)
        gained = sorted(set(shards) - before)
        log.info("pump %s owns shards %s (new: %s)", self.pump_id, sorted(shards), gained)
        return gained

    async def release(self, shards: AbstractSet[int]) -> None:
        await self.drainer.release(shards)

    def note(self, note: OwnershipNote) -> None:
        self.owners[note.shard] = note

    async def refresh_metrics(self) -> None:
        """Un-shipped entries and journal fill of the owned shards (one bounds call per journal)."""
        if self.grid_ready.is_set():
            try:
                await refresh_unshipped(self.grid.change_log, self.metrics, self.drainer.owned, SHARDS)
            except GridError as e:
                log.warning("cannot read the journals' bounds: %s", e)

    async def reconcile(self) -> None:
        """Restore the leaked credits of the owned journals (data_pump/reconcile.py)."""
        if self.grid_ready.is_set():
            await self.reconciler.sweep([j for shard in sorted(self.drainer.owned)
                                         for j in shard_partitions(self.grid.change_log, shard, SHARDS)])

    @property
    def ready(self) -> bool:
        return self.grid_ready.is_set()


def pump_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def build(settings: PumpSettings, grid: Grid) -> ReliableApp:
    """Wire the pump over ``grid`` (not started yet): Faust app, control agent, ownership
    callbacks, timer, web pages."""
    names = settings.names
    app = ReliableApp(
        settings.app_id,
        **app_options(settings, "pump", settings.app_id, settings.pump_session_timeout_s),
        broker_rebalance_timeout=max(30.0, 2 * settings.pump_request_timeout_s),
        producer_request_timeout=settings.pump_request_timeout_s,
        consumer_auto_offset_reset="latest",
        topic_partitions=SHARDS,
        topic_replication_factor=settings.kafka_replication,
    )
    metrics = PumpMetrics()
    runtime = PumpRuntime(settings, grid, FaustPublisher(app), metrics, pump_id())
    app.service(runtime)
    app.pump_runtime = runtime  # type: ignore[attr-defined]
    control = app.topic(
        names.pump_control_topic,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=SHARDS,
    )

    @app.agent(control, name="shard-control")
    async def shard_control(stream: Any) -> Any:
        """Read ownership notes of the owned control partitions (an audit trail, see control.py)."""
        async for raw in stream:
            note = parse_note(raw)
            if note is not None:
                runtime.note(note)
            yield note

    def control_shards(tps: AbstractSet[Any]) -> set[int]:
        return {tp.partition for tp in tps if tp.topic == names.pump_control_topic}

    @app.on_partitions_revoked.connect
    async def on_revoked(sender: Any, revoked: AbstractSet[Any], **kwargs: Any) -> None:
        # awaited by Faust before the rebalance completes: no new owner starts before we stop
        await runtime.release(control_shards(revoked))

    @app.on_partitions_assigned.connect
    async def on_assigned(sender: Any, assigned: AbstractSet[Any], **kwargs: Any) -> None:
        gained = await runtime.own(control_shards(set(app.consumer.assignment())))
        for shard in gained:
            note = acquired(shard, runtime.pump_id)
            try:
                await app.producer.send(control.get_topic_name(), note.pump.encode(), note.to_bytes(), shard, None, None)
            except Exception as e:  # an audit note must never block shipping
                log.warning("cannot write the ownership note of shard %s: %s", shard, e)

    @app.timer(settings.pump_metrics_interval_s)
    async def refresh_metrics() -> None:
        await runtime.refresh_metrics()

    @app.timer(settings.pump_reconcile_interval_s)
    async def reconcile_credits() -> None:
        await runtime.reconcile()

    announcer = Announcer(grid, "pump", f"{settings.http_host}:{settings.http_port}",
                          lambda: pump_figures(metrics, grid.names))

    @app.timer(HEARTBEAT_S)
    async def announce() -> None:
        """This pump's record in the grid's process registry (the dashboard finds it there)."""
        if runtime.ready:
            await announcer.tick()

    @app.page("/metrics")
    async def metrics_page(web: Any, request: Any) -> Any:
        return web.bytes(metrics.render(), content_type=CONTENT_TYPE)

    # the same body shape as a unit's and a writer's health pages: {"status", "checks"}
    @app.page("/health/live")
    async def live(web: Any, request: Any) -> Any:
        return web.json({"status": "live", "checks": {}})

    @app.page("/health/ready")
    async def ready(web: Any, request: Any) -> Any:
        checks = {
            "grid": "reachable" if runtime.ready else "not connected yet",
            "owned_shards": ",".join(map(str, sorted(runtime.drainer.owned))) or "none",
        }
        body = {"status": "ready" if runtime.ready else "unready", "checks": checks}
        return web.json(body, status=200 if runtime.ready else 503)

    @app.page("/shards")
    async def shards(web: Any, request: Any) -> Any:
        return web.json(
            {
                "pump": runtime.pump_id,
                "owned": sorted(runtime.drainer.owned),
                "notes": {s: n.__dict__ for s, n in sorted(runtime.owners.items())},
            }
        )

    return app
