"""Driver log repeats held back (service_kit.logs.DriverRepeats), seen in the JSON lines written."""

from __future__ import annotations

import io
import logging
from contextlib import contextmanager
from typing import Any, Iterator

import orjson
import pytest

from service_kit.logs import REPEATS_REMEMBERED, DriverRepeats, JsonFormatter
from tests.support.clock import ManualClock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@contextmanager
def written(clock: ManualClock, *loggers: logging.Logger) -> Iterator[list[dict[str, Any]]]:
    """The JSON lines a handler like configure_logging's writes for ``loggers`` (filled on exit)."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(DriverRepeats(window_s=30.0, clock=clock))
    lines: list[dict[str, Any]] = []
    for lg in loggers:
        lg.addHandler(handler)
    try:
        yield lines
    finally:
        for lg in loggers:
            lg.removeHandler(handler)
        lines.extend(orjson.loads(line) for line in out.getvalue().splitlines())


def test_a_drivers_repeated_error_is_written_once_per_window_then_with_the_count_left_out(clock: ManualClock) -> None:
    kafka = logging.getLogger("aiokafka")
    with written(clock, kafka) as got:
        for _ in range(10):  # a reconnect attempt every 0.5 s while the broker is away
            kafka.error('Unable connect to "%s": %s', "127.0.0.1:9092", "[Errno 111] Connect call failed")
            clock.now += 0.5
        clock.now += 30
        kafka.error('Unable connect to "%s": %s', "127.0.0.1:9092", "[Errno 111] Connect call failed")
    assert [g["msg"] for g in got] == ['Unable connect to "127.0.0.1:9092": [Errno 111] Connect call failed'] * 2
    assert "repeated" not in got[0]
    assert got[1]["repeated"] == 9


def test_other_messages_and_our_own_records_are_never_held_back(clock: ManualClock) -> None:
    ours, client = logging.getLogger("spacegrid.unit"), logging.getLogger("hazelcast.internal.asyncio_reactor")
    with written(clock, ours, client) as lines:
        for _ in range(3):
            ours.warning("grid step failed, sending it again")
        client.warning("Connection closed by server")
        client.warning("Connection closed by server")
        client.warning("Error during initial connection to %s", "Address(host=127.0.0.1, port=5702)")
    got = [(g["logger"], g["msg"]) for g in lines]
    assert got == [("spacegrid.unit", "grid step failed, sending it again")] * 3 + [
        ("hazelcast.internal.asyncio_reactor", "Connection closed by server"),
        ("hazelcast.internal.asyncio_reactor", "Error during initial connection to Address(host=127.0.0.1, port=5702)"),
    ]


def test_the_messages_remembered_are_bounded(clock: ManualClock) -> None:
    repeats = DriverRepeats(clock=clock)
    for i in range(REPEATS_REMEMBERED * 3):
        record = logging.LogRecord("aiokafka", logging.ERROR, __file__, 1, "attempt %d", (i,), None)
        assert repeats.filter(record)
    assert len(repeats._seen) == REPEATS_REMEMBERED  # noqa: SLF001


def test_a_malformed_driver_record_is_let_through_for_the_handler_to_report(clock: ManualClock) -> None:
    record = logging.LogRecord("aiokafka", logging.ERROR, __file__, 1, "two %s %s", ("one",), None)
    assert DriverRepeats(clock=clock).filter(record)
