"""The change stream's Kafka topics and their explicit creation (brokers run with auto-create off).

Shared by the pump (which writes them) and the writer (which reads them and writes the
dead-letter topic), so both create the same topics with the same settings, whichever
starts first.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from grid_config.names import KINDS
from grid_config.settings import CommonSettings

log = logging.getLogger("spacegrid.topics")


class TopicSetupError(RuntimeError):
    """A topic could not be created or does not have the shape it must have."""


class _NotYetVisible(TopicSetupError):
    """Created topics missing from the metadata so far (retried; raised when it lasts)."""


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication: int
    config: dict[str, str] = field(default_factory=dict)


def durable_config(replication: int) -> dict[str, str]:
    """acks=all means something only with a min ISR: two replicas where there are two."""
    return {"min.insync.replicas": str(min(2, replication))}


def change_topics(settings: CommonSettings) -> list[TopicSpec]:
    """One topic per entity kind plus the dead-letter topic, as the settings size them."""
    names = settings.names
    config = durable_config(settings.kafka_replication)
    topics = [names.topic(k) for k in KINDS] + [names.deadletter_topic]
    return [TopicSpec(t, settings.kafka_partitions, settings.kafka_replication, config) for t in topics]


async def ensure_topics(bootstrap: list[str], specs: list[TopicSpec], timeout_s: float = 60.0) -> dict[str, int]:
    """Create the topics that do not exist yet; return every topic's partition count."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import KafkaError
    from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_random_exponential

    partitions: dict[str, int] = {}
    async for attempt in AsyncRetrying(
        # a topic just created may be missing from the next metadata answer: ask again
        retry=retry_if_exception_type((KafkaError, _NotYetVisible)),
        wait=wait_random_exponential(multiplier=0.2, max=3),
        stop=stop_after_delay(timeout_s),
        reraise=True,
    ):
        with attempt:
            admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
            await admin.start()
            try:
                existing = set(await admin.list_topics())
                missing = [s for s in specs if s.name not in existing]
                if missing:
                    response = await admin.create_topics(
                        [NewTopic(s.name, s.partitions, s.replication, topic_configs=s.config) for s in missing]
                    )
                    errors = getattr(response, "topic_errors", None) or getattr(response, "topic_error_codes", [])
                    for name, code, *rest in errors:
                        if code not in (0, 36):  # 36: TOPIC_ALREADY_EXISTS (a racing creator)
                            raise TopicSetupError(f"cannot create topic {name}: error {code} {rest}")
                    log.info("created topics %s", [s.name for s in missing])
                described = await admin.describe_topics([s.name for s in specs])
            finally:
                await admin.close()
            partitions = {d["topic"]: len(d["partitions"]) for d in described}
            absent = [s.name for s in specs if partitions.get(s.name, 0) < 1]
            if absent:
                raise _NotYetVisible(f"topics {absent} do not exist (yet) after creation")
    return partitions
