"""The one place Hazelcast client failures are translated (``AsyncioSide.call``): a call
never surfaces a cancellation that was not its own (which the HTTP server would turn into
a dropped connection and a 500 in the access log)."""

from __future__ import annotations

import asyncio

import pytest

from grid_config.errors import Indeterminate
from grid_config.hazelcast_asyncio import AsyncioSide
from grid_config.hazelcast_grid import _is_driver_error, _translate
from grid_config.settings import CommonSettings, load

pytestmark = pytest.mark.unit


def side() -> AsyncioSide:
    return AsyncioSide(load(CommonSettings, grid="hazelcast"), 1.0, 1.0, _translate, _is_driver_error)


async def test_a_shared_future_cancelled_by_another_caller_is_indeterminate() -> None:
    """As the client's proxy manager does: every waiter awaits the creator's future, and the
    creator's cancellation is set on it."""
    shared: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def waiter() -> None:
        await shared

    calls = [asyncio.create_task(side().call(waiter)) for _ in range(3)]
    await asyncio.sleep(0)
    shared.set_exception(asyncio.CancelledError())
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert [type(r) for r in results] == [Indeterminate] * 3


async def test_cancelling_the_caller_still_cancels_it() -> None:
    started = asyncio.Event()

    async def slow() -> None:
        started.set()
        await asyncio.sleep(30)

    call = asyncio.create_task(side().call(slow))
    await started.wait()
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
