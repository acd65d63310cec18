"""Password hashing with argon2id, always off the event loop and behind a bounded gate.

argon2 is costly by design (tens of milliseconds and 64 MiB a hash). Unbounded, a flood of
junk logins queues hashes in the executor and a real login waits behind all of them (9 s
measured with 120 concurrent junk logins). The gate admits at most ``threads + queue``
hashes per unit and ``per_client`` per client address; past either the answer is at
once: 503 (the unit is busy) or 429 (this client has enough in flight), with Retry-After.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Executor
from typing import Any, Callable, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from processing_unit.errors import TooManyRequests, Unavailable

T = TypeVar("T")


class HashGate:
    """Counts hashes admitted (running or queued in the executor), in all and per client."""

    def __init__(self, capacity: int, per_client: int) -> None:
        self.capacity, self.per_client = capacity, per_client
        self.admitted = 0
        self._by_client: dict[str, int] = {}  # only clients with a hash admitted: bounded by capacity

    def admit(self, client: str) -> Callable[[], None]:
        """Take a place for ``client`` (429/503 when none is free); call the result to give it back."""
        if self._by_client.get(client, 0) >= self.per_client:
            raise TooManyRequests("your address has enough password checks in progress; retry", 1)
        if self.admitted >= self.capacity:
            raise Unavailable("too many password checks in progress; retry shortly", 1)
        self.admitted += 1
        self._by_client[client] = self._by_client.get(client, 0) + 1

        def release() -> None:
            self.admitted -= 1
            left = self._by_client[client] - 1
            if left:
                self._by_client[client] = left
            else:
                del self._by_client[client]

        return release


class Passwords:
    """Hash and verify in an executor so one login cannot stall every other request."""

    def __init__(
        self,
        time_cost: int,
        memory_kib: int,
        parallelism: int,
        executor: Executor | None = None,
        gate: HashGate | None = None,
    ) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)
        self._executor = executor
        self.gate = gate or HashGate(capacity=1_000_000, per_client=1_000_000)
        # verifying against this keeps unknown-email logins as slow as wrong-password ones
        self._dummy = self._hasher.hash("not-a-real-password")

    async def hash(self, password: str, client: str) -> str:
        return await self._gated(client, self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str, client: str) -> bool:
        return await self._gated(client, self._check, password_hash, password)

    async def _gated(self, client: str, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn`` in the executor with a place of the gate, held until the work is
        done (not only until the caller stops waiting: a timed-out request's hash still runs)."""
        release = self.gate.admit(client)
        try:
            future = asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        except BaseException:
            release()
            raise
        future.add_done_callback(lambda _: release())
        return await asyncio.shield(future)

    def _check(self, password_hash: str | None, password: str) -> bool:
        try:
            self._hasher.verify(password_hash or self._dummy, password)
            return password_hash is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
