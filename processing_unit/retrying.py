"""The unit's retry policies for grid writes, in one place (tenacity).

* :func:`idempotent`: a step that may be repeated as is (a stock hold of the same attempt,
  a settle, a ``put_if_absent`` whose repeat finds its own value) is retried when the grid
  answered "outcome unknown" (:class:`~grid_config.errors.Indeterminate`) or lost a race
  (:class:`~grid_config.errors.WriteConflict`).
* Anything else propagates at once: a 503 tells the client to retry, and its
  Idempotency-Key makes that retry safe.
"""

from __future__ import annotations

from typing import Awaitable, Callable, TypeVar

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from grid_config.errors import Indeterminate, WriteConflict

T = TypeVar("T")
ATTEMPTS = 4


async def idempotent(op: Callable[[], Awaitable[T]], attempts: int = ATTEMPTS) -> T:
    """Run ``op``; run it again after an unknown outcome or a lost race (it must be idempotent)."""
    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type((Indeterminate, WriteConflict)),
        stop=stop_after_attempt(attempts),
        wait=wait_random_exponential(multiplier=0.01, max=0.2),
        reraise=True,
    ):
        with attempt:
            return await op()
    raise AssertionError("unreachable")  # pragma: no cover
