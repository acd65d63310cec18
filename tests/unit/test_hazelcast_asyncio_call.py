"""The one place Hazelcast client failures are translated (``HazelcastConnection.call``): a call
never surfaces a cancellation that was not its own (which the HTTP server would turn into
a dropped connection and a 500 in the access log)."""

from __future__ import annotations

import asyncio

import pytest

from grid_config.errors import Disconnected, GridUnavailable, Indeterminate
from grid_config.hazelcast_asyncio import HazelcastConnection
from grid_config.hazelcast_grid import _is_driver_error, _translate
from grid_config.settings import CommonSettings, load

pytestmark = pytest.mark.unit


def side() -> HazelcastConnection:
    return HazelcastConnection(load(CommonSettings, grid="hazelcast"), 1.0, 1.0, _translate, _is_driver_error)


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


async def test_a_member_dying_under_a_multi_partition_call_is_disconnected() -> None:
    """The client runs ``get_all`` / ``put_all`` as one task per member in a TaskGroup: a
    member dying under it raises an ExceptionGroup of TargetDisconnectedError (seen in the
    member-SIGKILL test). It is the same "connection closed" as a single call's, so a read or
    an idempotent write is sent again, not an "unexpected error" answered 503 at once."""
    from hazelcast.errors import TargetDisconnectedError

    async def multi_partition() -> None:
        raise ExceptionGroup("unhandled errors in a TaskGroup",
                             [TargetDisconnectedError("member 1 left"), TargetDisconnectedError("member 1 left")])

    with pytest.raises(Disconnected) as raised:
        await side().call(multi_partition)
    assert isinstance(raised.value, Indeterminate) and isinstance(raised.value, GridUnavailable)


async def test_a_group_with_an_error_that_is_not_the_drivers_stays_a_client_failure() -> None:
    from hazelcast.errors import TargetDisconnectedError

    async def broken() -> None:
        raise ExceptionGroup("unhandled errors in a TaskGroup", [TargetDisconnectedError("gone"), KeyError("x")])

    with pytest.raises(GridUnavailable) as raised:
        await side().call(broken)
    assert not isinstance(raised.value, Indeterminate)
    assert "Hazelcast client failed" in str(raised.value)
