"""Sending a call again after it failed, through tenacity, without paying for it when it did not.

Most calls succeed on their first send, and tenacity's retry state costs microseconds per
call (measured: a call through ``AsyncRetrying`` ~20 µs against 0.2 µs awaited directly;
the pump's shipping loop saw the same, see data_pump.shipping). So the first send is
awaited directly, and only a failure worth retrying builds the policy and enters it, as its
first attempt: waits, stop and logging then count sends as if tenacity had made them all.
"""

from __future__ import annotations

from typing import Awaitable, Callable, TypeVar

from tenacity import AsyncRetrying

T = TypeVar("T")


async def first_then_retrying(
    op: Callable[[], Awaitable[T]],
    retryable: type[BaseException] | tuple[type[BaseException], ...],
    policy: Callable[[], AsyncRetrying],
) -> T:
    """``op()``; when it raises ``retryable``, the loop of ``policy()`` (an ``AsyncRetrying``
    with ``reraise=True``) with that failure as its first attempt."""
    try:
        return await op()
    except retryable as e:
        first: BaseException = e
    async for attempt in policy():
        with attempt:
            if attempt.retry_state.attempt_number == 1:
                raise first
            return await op()
    raise AssertionError("unreachable")  # pragma: no cover
