"""The pump's topics: the change stream's (grid_config.topics) plus the shard-control topic."""

from __future__ import annotations

from data_pump.errors import PumpError
from data_pump.ownership import SHARDS
from data_pump.settings import PumpSettings
from grid_config.topics import TopicSpec, change_topics, durable_config
from grid_config.topics import ensure_topics as ensure_all


def pump_topics(settings: PumpSettings) -> list[TopicSpec]:
    """Entity and dead-letter topics, then the control topic (one partition per shard; last)."""
    control = TopicSpec(
        settings.names.pump_control_topic,
        SHARDS,
        settings.kafka_replication,
        durable_config(settings.kafka_replication),
    )
    return [*change_topics(settings), control]


async def ensure_topics(bootstrap: list[str], specs: list[TopicSpec], timeout_s: float = 60.0) -> None:
    """Create what is missing; refuse a control topic (the last spec) with the wrong partition count."""
    partitions = await ensure_all(bootstrap, specs, timeout_s)
    control = specs[-1]
    if partitions.get(control.name) != control.partitions:
        raise PumpError(
            f"control topic {control.name} has {partitions.get(control.name)} partitions, "
            f"expected one per pump shard ({control.partitions})"
        )
