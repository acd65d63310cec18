"""Assert-eventually helpers: poll a condition until it holds or a deadline passes."""

from __future__ import annotations

import asyncio
import time
from typing import Awaitable, Callable, TypeVar

T = TypeVar("T")


def eventually(check: Callable[[], T], timeout: float = 30.0, interval: float = 0.2) -> T:
    """Call ``check`` until it stops raising AssertionError (or returns truthy); re-raise at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if result is None or result:
                return result
            raise AssertionError(f"condition still false: {check!r}")
        except AssertionError:
            if time.monotonic() >= deadline:
                raise
        time.sleep(interval)


async def eventually_async(
    check: Callable[[], Awaitable[T]], timeout: float = 30.0, interval: float = 0.2
) -> T:
    """Async twin of :func:`eventually`."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = await check()
            if result is None or result:
                return result
            raise AssertionError(f"condition still false: {check!r}")
        except AssertionError:
            if time.monotonic() >= deadline:
                raise
        await asyncio.sleep(interval)
