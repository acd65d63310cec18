"""Kafka adapters of the publisher port: Faust's producer (the pump) and raw aiokafka (bench).

Both use an idempotent producer with ``acks=all``. Faust's at-least-once producer does
not enable idempotence by itself (faust only does in exactly-once mode), so
:class:`IdempotentFaustProducer` adds it to the aiokafka settings Faust builds. aiokafka
sends one batch per partition at a time, so retries cannot reorder a partition, and the
idempotent producer's sequence numbers make the broker drop retried duplicates and refuse
a record that would land after a gap.
"""

from __future__ import annotations

from typing import Any, Awaitable, Mapping

from faust.transport.drivers.aiokafka import Producer as FaustAiokafkaProducer

from data_pump.errors import PublishFailed
from data_pump.publisher import Headers

#: what every pump producer sets explicitly, whatever the client defaults are
RELIABLE_PRODUCER: dict[str, Any] = {"enable_idempotence": True, "acks": "all"}


class IdempotentFaustProducer(FaustAiokafkaProducer):
    """Faust's aiokafka producer with idempotence and acks=all forced on."""

    def _settings_extra(self) -> Mapping[str, Any]:
        return {**super()._settings_extra(), **RELIABLE_PRODUCER}


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
