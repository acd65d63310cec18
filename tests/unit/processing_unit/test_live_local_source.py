"""The change-source contract on the in-process adapter (the embedded mode's channel tap)."""

from __future__ import annotations

import pytest

from data_pump.local_channel import LocalChannel
from grid_config.events import ChangeEvent
from grid_config.names import Names
from processing_unit.live.local_source import LocalSource
from tests.contract.live_source_contract import LiveSourceContract

pytestmark = pytest.mark.unit


class ChannelStream:
    """Records go through a real LocalChannel whose tap is the source (as ``spacegrid up`` wires it)."""

    shared = False

    def __init__(self) -> None:
        self.names = Names(namespace="t-")
        self._source = LocalSource(self.names)
        self.channel = LocalChannel(100_000, tap=self._source.offer)

    def source(self) -> LocalSource:
        return self._source

    async def publish(self, event: ChangeEvent) -> None:
        await self.channel.send(self.names.topic(event.kind), event.key, event.to_bytes())

    async def publish_all(self, events: list[ChangeEvent]) -> None:
        for event in events:  # what one batch of the embedded pump does
            await self.publish(event)


class TestLocalSourceContract(LiveSourceContract):
    @pytest.fixture
    def stream(self) -> ChannelStream:
        return ChannelStream()
