"""Kafka adapters of the publisher port: Faust's producer (the pump) and raw aiokafka (bench).

Both use an idempotent producer with ``acks=all`` (see :mod:`service_kit.faust_app` for
why it is set explicitly and why retries cannot reorder a partition).
"""

from __future__ import annotations

from typing import Any, Awaitable

from data_pump.errors import PublishFailed
from data_pump.publisher import Headers
from service_kit.faust_app import RELIABLE_PRODUCER

class FaustPublisher:
    """Publishes through the Faust app's (idempotent) producer."""

    def __init__(self, app: Any) -> None:
        self._app = app

    async def send(self, topic: str, key: bytes, value: bytes, headers: Headers | None = None) -> Awaitable[Any]:
        try:
            return await self._app.producer.send(topic, key, value, None, None, dict(headers) if headers else None)
        except Exception as e:  # faust wraps aiokafka errors in ProducerSendError
            raise PublishFailed(f"cannot enqueue a record for {topic}: {e!r}") from e

    async def flush(self) -> None:
        await self._app.producer.flush()


class AiokafkaPublisher:
    """A plain aiokafka producer with the same reliability settings (bench baseline, tools)."""

    def __init__(self, bootstrap: list[str], request_timeout_s: float = 15.0, **extra: Any) -> None:
        self._config = {
            "bootstrap_servers": bootstrap,
            "request_timeout_ms": int(request_timeout_s * 1000),
            **RELIABLE_PRODUCER,
            **extra,
        }
        self._producer: Any = None

    async def start(self) -> None:
        from aiokafka import AIOKafkaProducer

        self._producer = AIOKafkaProducer(**self._config)
        await self._producer.start()

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def send(self, topic: str, key: bytes, value: bytes, headers: Headers | None = None) -> Awaitable[Any]:
        try:
            return await self._producer.send(topic, value, key=key, headers=list(headers.items()) if headers else None)
        except Exception as e:
            raise PublishFailed(f"cannot enqueue a record for {topic}: {e!r}") from e

    async def flush(self) -> None:
        await self._producer.flush()
