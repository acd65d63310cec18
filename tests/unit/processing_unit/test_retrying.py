"""The unit's retry policy for idempotent grid steps: what a caller sees when the grid
answers "outcome unknown", loses a race, or loses the connection under a call."""

from __future__ import annotations

import time
from typing import Callable

import pytest

from grid_config.errors import Disconnected, GridUnavailable, Indeterminate, WriteConflict
from processing_unit.retrying import ATTEMPTS, idempotent

pytestmark = pytest.mark.unit


def failing(times: int, error: Callable[[], Exception]) -> Callable[[], object]:
    """A step that fails ``times`` times with ``error()``, then answers "done"."""
    left = [times]

    async def step() -> str:
        if left[0] > 0:
            left[0] -= 1
            raise error()
        return "done"

    return step


async def test_a_step_whose_connection_closed_is_sent_again_after_its_partition_could_move() -> None:
    """A member's death: the first sends fail, the step is answered anyway, later (each
    retry waits at least 0.1 s, the order of the time a partition takes to move)."""
    started = time.monotonic()
    assert await idempotent(failing(2, lambda: Disconnected("member left"))) == "done"
    assert time.monotonic() - started >= 0.2


async def test_an_unknown_outcome_is_retried_within_milliseconds() -> None:
    started = time.monotonic()
    assert await idempotent(failing(2, lambda: Indeterminate("backup ack missed"))) == "done"
    assert time.monotonic() - started < 0.2


async def test_a_connection_that_stays_closed_is_given_up_within_seconds() -> None:
    started = time.monotonic()
    with pytest.raises(Disconnected):
        await idempotent(failing(ATTEMPTS, lambda: Disconnected("member left")))
    assert time.monotonic() - started < 3.0


async def test_an_unreachable_grid_is_not_retried() -> None:
    """No member answers (client offline, a timeout): the 503 comes at once; the client's
    Idempotency-Key makes its own retry safe."""
    step = failing(1, lambda: GridUnavailable("cluster unreachable"))
    started = time.monotonic()
    with pytest.raises(GridUnavailable):
        await idempotent(step)
    assert time.monotonic() - started < 0.05
    assert await step() == "done"  # the failure was its only one: nothing retried it


async def test_the_grid_failing_under_a_step_is_logged_and_a_lost_race_is_not(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="spacegrid.unit.retry"):
        await idempotent(failing(1, lambda: WriteConflict("lost the compare-and-set")))
        assert not caplog.records
        await idempotent(failing(1, lambda: Disconnected("member left")))
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert "member left" in caplog.records[0].getMessage()


async def test_a_step_is_sent_at_most_attempts_times_the_first_send_included() -> None:
    """The first send is made outside tenacity (no per-call cost) and counts as the first."""
    assert await idempotent(failing(ATTEMPTS - 1, lambda: Indeterminate("backup ack missed"))) == "done"
    with pytest.raises(Indeterminate):
        await idempotent(failing(ATTEMPTS, lambda: Indeterminate("backup ack missed")))
    assert await idempotent(failing(1, lambda: WriteConflict("lost")), attempts=2) == "done"
    with pytest.raises(WriteConflict):
        await idempotent(failing(2, lambda: WriteConflict("lost")), attempts=2)
