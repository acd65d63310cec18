"""The unit's retry policies for grid writes, in one place (tenacity).

* :func:`idempotent`: a step that may be repeated as is (a stock hold of the same attempt,
  a settle, a ``put_if_absent`` whose repeat finds its own value) is retried when the grid
  answered "outcome unknown" (:class:`~grid_config.errors.Indeterminate`) or lost a race
  (:class:`~grid_config.errors.WriteConflict`) after a few milliseconds, and when the
  call's connection closed (:class:`~grid_config.errors.Disconnected`: a member died or
  left) after up to a second or two, the time its partitions take to move to a live member,
  so that a member's death costs its in-flight requests a delay, not a 503.
* Anything else propagates at once: a 503 tells the client to retry, and its
  Idempotency-Key makes that retry safe.
"""

from __future__ import annotations

import logging
from typing import Awaitable, Callable, TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from grid_config.errors import Disconnected, Indeterminate, WriteConflict
from grid_config.resending import first_then_retrying

log = logging.getLogger("spacegrid.unit.retry")
T = TypeVar("T")
ATTEMPTS = 5
_RETRYABLE = (Indeterminate, WriteConflict)

_SOON = wait_random_exponential(multiplier=0.01, max=0.2)
#: at most 0.15, 0.3, 0.6 and 1.0 s (at least 0.1 s) before the 2nd to 5th sends: ~2 s in all
_MOVED = wait_random_exponential(multiplier=0.15, min=0.1, max=1.0)


def _wait(state: RetryCallState) -> float:
    failed = state.outcome.exception() if state.outcome is not None else None
    return (_MOVED if isinstance(failed, Disconnected) else _SOON)(state)


def _log(state: RetryCallState) -> None:
    """The grid failing under a step is worth a warning; a lost race is routine."""
    failed = state.outcome.exception() if state.outcome is not None else None
    level = logging.DEBUG if isinstance(failed, WriteConflict) else logging.WARNING
    log.log(level, "grid step failed (send %d), sending it again in %.2fs: %s", state.attempt_number,
            state.next_action.sleep if state.next_action is not None else 0.0, failed)


async def idempotent(op: Callable[[], Awaitable[T]], attempts: int = ATTEMPTS) -> T:
    """Run ``op``; run it again after an unknown outcome or a lost race (it must be idempotent)."""
    return await first_then_retrying(op, _RETRYABLE, lambda: AsyncRetrying(
        retry=retry_if_exception_type(_RETRYABLE), stop=stop_after_attempt(attempts), wait=_wait,
        before_sleep=_log, reraise=True))
