"""Explicit creation of the topics the writer reads and writes (brokers run with auto-create off)."""

from __future__ import annotations

import logging

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_random_exponential

from data_writer.settings import WriterSettings
from grid_config.names import KINDS

log = logging.getLogger("spacegrid.writer")


def writer_topics(settings: WriterSettings) -> list[str]:
    names = settings.names
    return [names.topic(k) for k in KINDS] + [names.deadletter_topic]


async def ensure_topics(settings: WriterSettings, timeout_s: float = 60.0) -> None:
    """Create missing entity and dead-letter topics; a racing creator (error 36) is fine."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import KafkaError

    config = {"min.insync.replicas": str(min(2, settings.kafka_replication))}
    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type(KafkaError),
        wait=wait_random_exponential(multiplier=0.2, max=3),
        stop=stop_after_delay(timeout_s),
        reraise=True,
    ):
        with attempt:
            admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers, request_timeout_ms=10_000)
            await admin.start()
            try:
                existing = set(await admin.list_topics())
                missing = [t for t in writer_topics(settings) if t not in existing]
                if missing:
                    await admin.create_topics(
                        [NewTopic(t, settings.kafka_partitions, settings.kafka_replication, topic_configs=config)
                         for t in missing]
                    )
                    log.info("created topics %s", missing)
            finally:
                await admin.close()
