"""Kafka adapter of the change-source port: the pump's order and product topics.

One consumer per unit, no consumer group: it is assigned every partition of
``spacegrid.orders`` and ``spacegrid.products`` (lanes: the orders partitions, then the
products partitions) and commits nothing. On start it seeks each partition to the first
record of the last ``retention_s`` (by record time), so a unit just started can serve a
cursor another unit handed out within that window. The stream id is a digest of the topic
names and partition counts: a cursor for other topics is refused.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from typing import Any

from grid_config.errors import PoisonEvent
from grid_config.events import ChangeEvent
from grid_config.names import Names
from grid_config.settings import CommonSettings
from grid_config.topics import change_topics, ensure_topics
from processing_unit.live.source import Ingest

log = logging.getLogger("spacegrid.live")

#: back-off between connection attempts, and how often a lasting failure is logged
RETRY_S = 2.0
LOG_EVERY_S = 60.0
#: records ingested between two turns of the event loop: the sockets' senders drain their
#: queues in between, so a burst read in one fetch is not mistaken for a client too slow
#: to read (a socket's queue bound is far above this)
INGEST_TURN = 16


class KafkaSource:
    """The change-source port over Kafka (aiokafka, manual assignment)."""

    def __init__(self, settings: CommonSettings, retention_s: float, names: Names | None = None) -> None:
        self._settings = settings
        self._names = names or settings.names
        self._retention_s = retention_s
        self.connected = False

    async def run(self, into: Ingest) -> None:
        last_log = 0.0
        while True:
            try:
                await self._consume(into)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - keep trying; the unit serves without live messages
                self.connected = False
                if time.monotonic() - last_log > LOG_EVERY_S:
                    log.warning("live: cannot read the change stream, retrying", extra={"error": repr(e)})
                    last_log = time.monotonic()
                await asyncio.sleep(RETRY_S)

    async def _consume(self, into: Ingest) -> None:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        topics = [self._names.topic("orders"), self._names.topic("products")]
        specs = [s for s in change_topics(self._settings) if s.name in topics]
        counts = await ensure_topics(self._settings.bootstrap_servers, specs, timeout_s=20)
        lanes = [TopicPartition(t, p) for t in topics for p in range(counts[t])]
        lane_of = {tp: i for i, tp in enumerate(lanes)}
        stream = "k" + hashlib.sha256(
            "|".join(f"{t}:{counts[t]}" for t in topics).encode()).hexdigest()[:8]
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._settings.bootstrap_servers,
            enable_auto_commit=False,
            group_id=None,
            fetch_max_wait_ms=100,
            max_partition_fetch_bytes=1 << 20,
            request_timeout_ms=15_000,
        )
        await consumer.start()
        try:
            consumer.assign(lanes)
            starts = await self._starts(consumer, lanes, into, stream)
            for tp, offset in zip(lanes, starts):
                consumer.seek(tp, offset)
            into.reset(stream, starts)
            self.connected = True
            log.info("live: reading the change stream", extra={"lanes": len(lanes)})
            # counted across fetches: getmany returns without yielding while records are
            # buffered, so back-to-back small fetches (a partition each) are one burst
            taken = 0
            while True:
                batches: dict[Any, list[Any]] = await consumer.getmany(timeout_ms=1000, max_records=5000)
                for tp, records in batches.items():
                    lane = lane_of[tp]
                    for r in records:
                        try:
                            event: ChangeEvent | None = ChangeEvent.from_bytes(r.value)
                        except PoisonEvent:
                            event = None
                        into.ingest(lane, r.offset, event)
                        taken += 1
                        if taken % INGEST_TURN == 0:
                            await asyncio.sleep(0)
        finally:
            self.connected = False
            await consumer.stop()

    async def _starts(self, consumer: Any, lanes: list[Any], into: Ingest, stream: str) -> list[int]:
        """Where to read from: where the hub stands (a reconnect), else the retention window back."""
        ends = await consumer.end_offsets(lanes)
        at = await consumer.offsets_for_times(
            {tp: int((time.time() - self._retention_s) * 1000) for tp in lanes})
        window = [at[tp].offset if at.get(tp) is not None else ends[tp] for tp in lanes]
        held = into.position()
        if held is not None and len(held) == len(lanes) and into.stream == stream:
            return [min(h, e) for h, e in zip(held, (ends[tp] for tp in lanes))]
        return window
