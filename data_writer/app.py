"""The distributed writer: a Faust app of thin agents around :class:`BatchWriter` (``build(settings, sink)``).

One agent per entity topic, consumer group ``spacegrid-writer``. Batches come from
``stream.take_events(SPACEGRID_WRITE_BATCH_SIZE, within=SPACEGRID_WRITE_INTERVAL_MS)``.

Offsets move only after the database committed: Faust's ``take_events`` acknowledges
the buffered events when the loop body ends *however* it ends (also on cancellation at
shutdown or rebalance). :meth:`BatchWriter.write` never raises for database errors (it
retries until the commit), but a stopping stream closes the generator mid-batch; so the
batch's messages are flagged as acknowledged while the write runs (:func:`hold`), which
makes Faust's ack a no-op, and unflagged after the commit: an interrupted batch's
offsets never become committable and Kafka redelivers it (version-guarded: idempotent).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable, Sequence

import faust

from data_writer.batching import Poison
from data_writer.errors import DeadLetterUnavailable
from data_writer.figures import writer_figures
from data_writer.metrics import CONTENT_TYPE, WriterMetrics
from data_writer.pipeline import BatchWriter, DeadLetters
from data_writer.ports import Sink
from data_writer.settings import WriterSettings
from service_kit.faust_app import ReliableApp, app_options
from grid_config.events import dead_letter_headers
from grid_config.names import KINDS
from grid_config.ports import Grid
from grid_config.processes import HEARTBEAT_S, Announcer

log = logging.getLogger("spacegrid.writer")


class KafkaDeadLetters:
    """Poison -> ``spacegrid.deadletter``: original bytes, key = entity id, error in a header."""

    def __init__(self, app: faust.App, topic: str, source: str) -> None:
        self.app = app
        self.topic = topic
        self.source = source

    async def publish(self, poison: Sequence[Poison]) -> None:
        from aiokafka.errors import KafkaError

        try:
            futures = []
            for p in poison:
                headers = dead_letter_headers(p.error, self.source)
                futures.append(await self.app.producer.send(self.topic, p.key, p.payload(), None, None, headers))
            await self.app.producer.flush()
            for fut in futures:
                await fut  # raises if the broker refused: the caller retries the whole publish
        except KafkaError as e:
            raise DeadLetterUnavailable(f"dead-letter topic {self.topic}: {type(e).__name__}: {e}") from e


def build(
    settings: WriterSettings,
    sink: Sink,
    dead_letters: Callable[[str], DeadLetters] | None = None,
    registry: Grid | None = None,
) -> ReliableApp:
    """Wire the writer: Faust app, one agent per entity topic, a deferral timer, web pages.

    ``dead_letters(kind)`` overrides where poison goes (default: the dead-letter topic).
    ``registry``: a grid (not started) to announce this writer in (the dashboard finds it
    there); the writer connects it itself and uses it for nothing else.
    """
    names = settings.names
    app = ReliableApp(
        settings.app_id,
        **app_options(settings, "writer", settings.app_id, settings.writer_session_timeout_s),
        consumer_auto_offset_reset="earliest",  # a new group starts at the beginning: nothing skipped
        stream_wait_empty=False,
    )
    metrics = WriterMetrics()
    app.writer_sink = sink  # type: ignore[attr-defined]
    app.writer_metrics = metrics  # type: ignore[attr-defined]
    migrated = MigrationGate(sink, metrics)
    writers: dict[str, BatchWriter] = {}
    app.writers = writers  # type: ignore[attr-defined]
    interval_s = settings.write_interval_ms / 1000

    for kind in KINDS:
        topic = app.topic(
            names.topic(kind), key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
        )
        dlq = dead_letters(kind) if dead_letters else KafkaDeadLetters(app, names.deadletter_topic, names.topic(kind))
        writer = BatchWriter(sink, dlq, metrics, ready=migrated.wait)
        writers[kind] = writer
        app.agent(topic, name=f"writer-{kind}")(_agent(writer, settings.write_batch_size, interval_s))

    @app.task
    async def migrate() -> None:
        log.info("database schema at version %s", await migrated.wait())

    @app.timer(interval_s)
    async def deferred_orders() -> None:
        if migrated.version is not None:
            await writers["orders"].retry_deferred()

    @app.page("/metrics")
    async def metrics_page(web: Any, request: Any) -> Any:
        return web.bytes(metrics.render(), content_type=CONTENT_TYPE)

    if registry is not None:
        announcer = Announcer(registry, "writer", f"{settings.http_host}:{settings.http_port}",
                              lambda: writer_figures(metrics), start_grid=True)

        @app.timer(HEARTBEAT_S)
        async def announce() -> None:
            await announcer.tick()

    # the same body shape as a unit's and a pump's health pages: {"status", "checks"}
    @app.page("/health/live")
    async def live(web: Any, request: Any) -> Any:
        return web.json({"status": "live", "checks": {}})

    @app.page("/health/ready")
    async def ready(web: Any, request: Any) -> Any:
        ok = migrated.version is not None
        checks = {"database": f"migrated (schema version {migrated.version})" if ok else "not migrated yet"}
        return web.json({"status": "ready" if ok else "unready", "checks": checks}, status=200 if ok else 503)

    return app


class MigrationGate:
    """Migrate once per process (retrying until the database is there); agents wait for it,
    so no batch meets a table that does not exist yet."""

    def __init__(self, sink: Sink, metrics: WriterMetrics | None = None) -> None:
        self.sink = sink
        self.metrics = metrics
        self.version: int | None = None
        self._lock: asyncio.Lock | None = None

    async def wait(self) -> int:
        if self.version is None:
            self._lock = self._lock or asyncio.Lock()
            async with self._lock:
                if self.version is None:
                    self.version = await _until_migrated(self.sink, self.metrics)
        return self.version


def _agent(writer: BatchWriter, batch_size: int, interval_s: float) -> Any:
    async def agent(stream: Any) -> Any:
        async for events in stream.take_events(batch_size, within=interval_s):
            hold(events)
            await writer.write([e.value for e in events])
            release(events)  # committed: take_events' own ack now marks the offsets committable
            yield len(events)

    return agent


def hold(events: Sequence[Any]) -> None:
    """Make any acknowledgement of these messages a no-op until :func:`release`.

    Faust's ``take_events`` acks a batch when the loop body ends however it ends, and a
    stopping stream closes the generator (acking) even while the body still waits for the
    database. A message already flagged ``acked`` is skipped by ``Message.ack``, so the
    consumer never records its offset as committable and Kafka redelivers it.
    """
    for e in events:
        e.message.acked = True


def release(events: Sequence[Any]) -> None:
    for e in events:
        e.message.acked = False


async def _until_migrated(sink: Sink, metrics: WriterMetrics | None = None) -> int:
    """The database may start after us: retry (tenacity, jittered backoff) until migrated."""
    from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_never, wait_random_exponential

    def before_sleep(rs: RetryCallState) -> None:
        if metrics is not None:
            metrics.db_failures.inc()
            metrics.db_up.set(0)
            metrics.refresh_lag()
        log.warning("cannot migrate yet (attempt %d): %s", rs.attempt_number, rs.outcome.exception() if rs.outcome else "?")

    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type(Exception),
        wait=wait_random_exponential(multiplier=0.1, max=5.0),
        stop=stop_never,
        before_sleep=before_sleep,
        reraise=True,
    ):
        with attempt:
            return await sink.migrate()
    raise AssertionError("unreachable")  # pragma: no cover
