"""The change-source contract on the Kafka adapter, against the session's real broker.

Events are produced to the test namespace's entity topics keyed by entity id, as the pump
produces them; each hub reads them through its own :class:`KafkaSource`.
"""

from __future__ import annotations

import asyncio
from typing import AsyncIterator

import pytest
from aiokafka import AIOKafkaProducer

from grid_config.events import ChangeEvent
from grid_config.settings import CommonSettings
from grid_config.topics import change_topics, ensure_topics
from processing_unit.live.kafka_source import KafkaSource
from tests.contract.live_source_contract import LiveSourceContract
from tests.support.engines import BrokerHandle

pytestmark = pytest.mark.timeout(180)


class KafkaStream:
    shared = True

    def __init__(self, settings: CommonSettings, producer: AIOKafkaProducer) -> None:
        self.settings = settings
        self.producer = producer

    def source(self) -> KafkaSource:
        return KafkaSource(self.settings, retention_s=600)

    async def publish(self, event: ChangeEvent) -> None:
        await self.producer.send_and_wait(self.settings.names.topic(event.kind), event.to_bytes(), key=event.key)

    async def publish_all(self, events: list[ChangeEvent]) -> None:
        sent = [await self.producer.send(self.settings.names.topic(e.kind), e.to_bytes(), key=e.key) for e in events]
        await asyncio.gather(*sent)


class TestKafkaSourceContract(LiveSourceContract):
    @pytest.fixture
    async def stream(self, kafka_broker: BrokerHandle, namespace: str) -> AsyncIterator[KafkaStream]:
        settings = CommonSettings(kafka_bootstrap=kafka_broker.bootstrap, namespace=namespace, kafka_partitions=3)
        await ensure_topics(settings.bootstrap_servers, change_topics(settings))
        producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
        await producer.start()
        try:
            yield KafkaStream(settings, producer)
        finally:
            await producer.stop()
