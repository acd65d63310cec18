"""Password hashing with argon2id, always off the event loop (it is CPU-bound by design)."""

from __future__ import annotations

import asyncio
from concurrent.futures import Executor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


class Passwords:
    """Hash and verify in an executor so one login cannot stall every other request."""

    def __init__(
        self, time_cost: int, memory_kib: int, parallelism: int, executor: Executor | None = None
    ) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)
        self._executor = executor
        # verifying against this keeps unknown-email logins as slow as wrong-password ones
        self._dummy = self._hasher.hash("not-a-real-password")

    async def hash(self, password: str) -> str:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._check, password_hash, password)

    def _check(self, password_hash: str | None, password: str) -> bool:
        try:
            self._hasher.verify(password_hash or self._dummy, password)
            return password_hash is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
