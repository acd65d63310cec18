"""What every spacegrid Faust app shares: its options and a reliable producer.

The pump publishes change events and the writer publishes dead letters; both need an
idempotent ``acks=all`` producer, which Faust's at-least-once producer does not set by
itself (Faust enables idempotence only in exactly-once mode). aiokafka sends one batch
per partition at a time, so retries cannot reorder a partition, and the idempotent
producer's sequence numbers make the broker drop retried duplicates.
"""

from __future__ import annotations

from typing import Any, Mapping

import faust
from faust.transport.drivers.aiokafka import Producer as FaustAiokafkaProducer

#: what every spacegrid producer sets explicitly, whatever the client defaults are
RELIABLE_PRODUCER: dict[str, Any] = {"enable_idempotence": True, "acks": "all"}


class IdempotentFaustProducer(FaustAiokafkaProducer):
    """Faust's aiokafka producer with idempotence and acks=all forced on."""

    def _settings_extra(self) -> Mapping[str, Any]:
        return {**super()._settings_extra(), **RELIABLE_PRODUCER}


class ReliableApp(faust.App):
    """A Faust app whose producer is :class:`IdempotentFaustProducer`."""

    def _new_producer(self) -> Any:
        return IdempotentFaustProducer(self.transport, loop=self.loop, beacon=self.beacon)


def app_options(settings: Any, role: str, app_id: str, session_timeout_s: float) -> dict[str, Any]:
    """What every spacegrid Faust app sets alike (``settings``: a CommonSettings).

    Loopback web server on the settings' port (Faust defaults to 0.0.0.0:6066), a short
    session so a dead worker's partitions move within seconds, acks from all replicas, and
    no topic declaration: topics are created explicitly (grid_config.topics).
    """
    (settings.cache_dir / role).mkdir(parents=True, exist_ok=True)
    return dict(
        broker=[f"kafka://{b}" for b in settings.bootstrap_servers],
        datadir=str(settings.cache_dir / role / app_id),
        web_enabled=True,
        web_bind=settings.http_host,
        web_host=settings.http_host,
        web_port=settings.http_port,
        broker_session_timeout=session_timeout_s,
        broker_heartbeat_interval=max(0.5, session_timeout_s / 6),
        producer_acks=-1,
        topic_allow_declare=False,
        topic_disable_leader=True,
    )
