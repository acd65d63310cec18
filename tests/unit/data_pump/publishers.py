"""An in-process publisher for the pump's unit tests: a real Publisher that fails on demand.

It behaves like one partition of an idempotent Kafka producer: records are acknowledged
in send order into a broker-like log; when one fails, every record sent before the
failure was reported fails too (the broker refuses a sequence gap), and records sent
after it start afresh.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any, Awaitable

from grid_config.events import ChangeEvent


class BrokerDown(Exception):
    pass


class ScriptedPublisher:
    """Acknowledges records in order; can hold acks behind a gate or fail a share of them."""

    def __init__(self, fail_ratio: float = 0.0, seed: int = 7) -> None:
        self.log: list[tuple[str, bytes, bytes]] = []
        self.headers: dict[int, Any] = {}  # log index -> headers of that record
        self.sent = 0
        self.fail_ratio = fail_ratio
        self.fail_next = 0  # fail the next N sends
        self.down = False  # refuse sends outright
        self.gate = asyncio.Event()
        self.gate.set()
        self._rng = random.Random(seed)
        self._pending: list[asyncio.Task[Any]] = []
        self._epoch = 0

    async def send(self, topic: str, key: bytes, value: bytes, headers: Any = None) -> Awaitable[Any]:
        if self.down:
            raise BrokerDown("broker unreachable")
        self.sent += 1
        fail = False
        if self.fail_next > 0:
            self.fail_next -= 1
            fail = True
        elif self.fail_ratio and self._rng.random() < self.fail_ratio:
            fail = True
        previous = self._pending[-1] if self._pending else None
        task = asyncio.create_task(self._ack(previous, self._epoch, topic, key, value, fail, headers))
        self._pending.append(task)
        return task

    async def _ack(
        self,
        previous: asyncio.Task[Any] | None,
        epoch: int,
        topic: str,
        key: bytes,
        value: bytes,
        fail: bool,
        headers: Any = None,
    ) -> int:
        if previous is not None:  # acknowledgements in send order, like one partition
            await asyncio.gather(previous, return_exceptions=True)
        await self.gate.wait()
        if fail or epoch < self._epoch:
            if epoch == self._epoch:
                self._epoch += 1
            raise BrokerDown("not acknowledged")
        self.log.append((topic, key, value))
        if headers:
            self.headers[len(self.log) - 1] = dict(headers)
        return len(self.log) - 1

    async def flush(self) -> None:
        await asyncio.gather(*self._pending, return_exceptions=True)
        self._pending.clear()

    def events(self) -> list[ChangeEvent]:
        """Change events published (dead letters left out)."""
        return [ChangeEvent.from_bytes(v) for t, _, v in self.log if not t.endswith("spacegrid.deadletter")]

    def key_versions(self) -> list[tuple[str, int]]:
        return [(e.id, e.version) for e in self.events()]
