"""Driver log repeats held back (service_kit.logs.DriverRepeats), seen in the JSON lines written."""

from __future__ import annotations

import io
import logging

import orjson
import pytest

from service_kit.logs import REPEATS_REMEMBERED, DriverRepeats, JsonFormatter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_a_drivers_repeated_error_is_written_once_per_window_then_with_the_count_left_out(clock: Clock) -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(DriverRepeats(window_s=30.0, clock=clock))
    kafka = logging.getLogger("aiokafka")
    kafka.addHandler(handler)
    try:
        for _ in range(10):  # a reconnect attempt every 0.5 s while the broker is away
            kafka.error('Unable connect to "%s": %s', "127.0.0.1:9092", "[Errno 111] Connect call failed")
            clock.now += 0.5
        clock.now += 30
        kafka.error('Unable connect to "%s": %s', "127.0.0.1:9092", "[Errno 111] Connect call failed")
    finally:
        kafka.removeHandler(handler)
    got = [orjson.loads(line) for line in out.getvalue().splitlines()]
    assert [g["msg"] for g in got] == ['Unable connect to "127.0.0.1:9092": [Errno 111] Connect call failed'] * 2
    assert "repeated" not in got[0]
    assert got[1]["repeated"] == 9


def test_other_messages_and_our_own_records_are_never_held_back(clock: Clock) -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(DriverRepeats(window_s=30.0, clock=clock))
    ours, client = logging.getLogger("spacegrid.unit"), logging.getLogger("hazelcast.internal.asyncio_reactor")
    for lg in (ours, client):
        lg.addHandler(handler)
    try:
        for _ in range(3):
            ours.warning("grid step failed, sending it again")
        client.warning("Connection closed by server")
        client.warning("Connection closed by server")
        client.warning("Error during initial connection to %s", "Address(host=127.0.0.1, port=5702)")
    finally:
        for lg in (ours, client):
            lg.removeHandler(handler)
    got = [(g["logger"], g["msg"]) for g in map(orjson.loads, out.getvalue().splitlines())]
    assert got == [("spacegrid.unit", "grid step failed, sending it again")] * 3 + [
        ("hazelcast.internal.asyncio_reactor", "Connection closed by server"),
        ("hazelcast.internal.asyncio_reactor", "Error during initial connection to Address(host=127.0.0.1, port=5702)"),
    ]


def test_the_messages_remembered_are_bounded(clock: Clock) -> None:
    repeats = DriverRepeats(clock=clock)
    for i in range(REPEATS_REMEMBERED * 3):
        record = logging.LogRecord("aiokafka", logging.ERROR, __file__, 1, "attempt %d", (i,), None)
        assert repeats.filter(record)
    assert len(repeats._seen) == REPEATS_REMEMBERED  # noqa: SLF001


def test_a_malformed_driver_record_is_let_through_for_the_handler_to_report(clock: Clock) -> None:
    record = logging.LogRecord("aiokafka", logging.ERROR, __file__, 1, "two %s %s", ("one",), None)
    assert DriverRepeats(clock=clock).filter(record)
