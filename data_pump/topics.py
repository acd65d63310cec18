"""Explicit topic creation (brokers run with auto-creation off): entity topics + control topic."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_random_exponential

from data_pump.errors import PumpError
from data_pump.settings import PumpSettings
from grid_config.names import KINDS

log = logging.getLogger("spacegrid.pump")


class _NotYetVisible(PumpError):
    """Created topics not in the metadata yet (retried; raised when it lasts)."""


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication: int
    config: dict[str, str]


def pump_topics(settings: PumpSettings) -> list[TopicSpec]:
    """Entity topics and the dead-letter topic (settings' partitions), then the control topic
    (one partition per stripe; kept last)."""
    names = settings.names
    replication = settings.kafka_replication
    durable = {"min.insync.replicas": str(min(2, replication))}
    specs = [TopicSpec(names.topic(k), settings.kafka_partitions, replication, durable) for k in KINDS]
    specs.append(TopicSpec(names.deadletter_topic, settings.kafka_partitions, replication, durable))
    specs.append(TopicSpec(names.pump_control_topic, names.stripes, replication, durable))
    return specs


async def ensure_topics(bootstrap: list[str], specs: list[TopicSpec], timeout_s: float = 60.0) -> None:
    """Create the topics that do not exist yet; refuse a control topic with the wrong partition count."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import KafkaError

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
                    for name, code, *rest in getattr(response, "topic_errors", []) or getattr(response, "topic_error_codes", []):
                        if code not in (0, 36):  # 36: TOPIC_ALREADY_EXISTS (a racing pump)
                            raise PumpError(f"cannot create topic {name}: error {code} {rest}")
                    log.info("created topics %s", [s.name for s in missing])
                described = await admin.describe_topics([s.name for s in specs])
            finally:
                await admin.close()
            partitions = {d["topic"]: len(d["partitions"]) for d in described}
            absent = [s.name for s in specs if partitions.get(s.name, 0) < 1]
            if absent:
                raise _NotYetVisible(f"topics {absent} do not exist (yet) after creation")
    control = specs[-1]
    if partitions.get(control.name) != control.partitions:
        raise PumpError(
            f"control topic {control.name} has {partitions.get(control.name)} partitions, "
            f"expected one per outbox stripe ({control.partitions})"
        )
