"""The publisher port: where shipped change records go (Kafka, or the in-process channel).

``send`` is split in two steps on purpose: awaiting ``send`` *enqueues* the record (in
call order, which is the per-key order the broker keeps), and the awaitable it returns
settles when the record is acknowledged. The shipping logic enqueues a whole batch, then
awaits every acknowledgement, so a batch costs one round trip, not one per record.

Contract an adapter must keep: every returned awaitable settles (result or exception)
within the adapter's delivery timeout, so a failed attempt is bounded in time and no
send from an abandoned attempt can land after the retry that follows it.
"""

from __future__ import annotations

from typing import Any, Awaitable, Mapping, Protocol, runtime_checkable

#: record headers (dead letters carry their error in one)
Headers = Mapping[str, bytes]


@runtime_checkable
class Publisher(Protocol):
    async def send(self, topic: str, key: bytes, value: bytes, headers: Headers | None = None) -> Awaitable[Any]:
        """Enqueue one record; the returned awaitable settles on its acknowledgement."""
        ...

    async def flush(self) -> None:
        """Wait until everything enqueued so far has been acknowledged or failed."""
        ...
