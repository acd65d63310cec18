"""The open-loop dispatcher: arrivals keep to the schedule whatever the answers do, latency runs
from the due time, and the in-flight bound drops (never queues) what it cannot start."""

from __future__ import annotations

import asyncio

import pytest

from tools.bench.arrivals import arrival_offsets
from tools.bench.loadgen import Tally, drive_open_loop, summarize


class FakeServer:
    """Answers after ``delay_s``; records when each request started (loop time)."""

    def __init__(self, delay_s: float, ok: bool = True, fail_with: Exception | None = None) -> None:
        self.delay_s = delay_s
        self.ok = ok
        self.fail_with = fail_with
        self.started: list[float] = []

    def next_request(self):
        async def send() -> bool:
            self.started.append(asyncio.get_running_loop().time())
            await asyncio.sleep(self.delay_s)
            if self.fail_with is not None:
                raise self.fail_with
            return self.ok

        return "GET /x", send


async def test_late_answers_do_not_delay_the_next_arrivals() -> None:
    # 20 arrivals 10 ms apart, each answered after 500 ms: a closed loop would take 10 s
    server = FakeServer(delay_s=0.5)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    tally = await drive_open_loop(arrival_offsets(100, 0.2, "uniform"), server.next_request, max_in_flight=100)
    starts = [s - t0 for s in server.started]
    assert len(starts) == 20
    for i, started in enumerate(starts):
        assert started == pytest.approx(i / 100, abs=0.05)
    assert tally.elapsed_s < 1.2
    assert not tally.errors and not tally.dropped


async def test_latency_is_measured_from_the_due_time() -> None:
    server = FakeServer(delay_s=0.1)
    tally = await drive_open_loop(arrival_offsets(50, 0.2, "uniform"), server.next_request, max_in_flight=10)
    latencies = tally.latencies_ms["GET /x"]
    assert len(latencies) == 10
    assert all(100 <= ms < 200 for ms in latencies)


async def test_latency_includes_the_generators_own_lateness() -> None:
    # the loop is blocked for 150 ms past the first due time: requests due meanwhile start
    # late, and their latency counts the wait (no coordinated omission)
    server = FakeServer(delay_s=0.0)
    offsets = arrival_offsets(100, 0.1, "uniform")
    loop = asyncio.get_running_loop()
    import time

    loop.call_soon(time.sleep, 0.15)
    tally = await drive_open_loop(offsets, server.next_request, max_in_flight=100)
    latencies = tally.latencies_ms["GET /x"]
    assert max(latencies) >= 100
    assert max(tally.send_lag_ms) >= 100


async def test_arrivals_over_the_bound_are_dropped_not_queued() -> None:
    server = FakeServer(delay_s=0.3)
    tally = await drive_open_loop(arrival_offsets(100, 0.1, "uniform"), server.next_request, max_in_flight=4)
    assert len(server.started) == 4
    assert tally.dropped["GET /x"] == 6
    assert len(tally.latencies_ms["GET /x"]) == 4


async def test_failed_and_raising_requests_are_errors() -> None:
    bad = FakeServer(delay_s=0.0, ok=False)
    tally = await drive_open_loop(arrival_offsets(100, 0.05, "uniform"), bad.next_request, max_in_flight=8)
    assert tally.errors["GET /x"] == 5
    broken = FakeServer(delay_s=0.0, fail_with=ConnectionError("refused"))
    tally = await drive_open_loop(arrival_offsets(100, 0.05, "uniform"), broken.next_request, max_in_flight=8)
    assert tally.errors["GET /x"] == 5
    assert len(tally.latencies_ms["GET /x"]) == 5
    assert tally.error_kinds == {"GET /x: refused": 5}


async def test_error_reasons_are_bounded() -> None:
    counter = iter(range(1000))

    def next_request():
        async def send() -> bool:
            raise RuntimeError(f"reason {next(counter)}")

        return "GET /x", send

    tally = await drive_open_loop(arrival_offsets(1000, 0.1, "uniform"), next_request, max_in_flight=200)
    assert len(tally.error_kinds) == 51 and tally.error_kinds["other"] == 50


def test_summary_rates_and_percentiles() -> None:
    tally = Tally(latencies_ms={"a": [float(i) for i in range(1, 101)], "b": [1000.0] * 10},
                  elapsed_s=1.5)
    tally.errors["b"] = 10
    tally.dropped["b"] = 5
    s = summarize(tally, offered_rps=125, seconds=1.0)
    assert s["requests"] == 115 and s["ok"] == 100 and s["errors"] == 10 and s["dropped"] == 5
    assert s["offered_rps"] == 125 and s["scheduled_rps"] == 115
    # successful answers over the longer of the step and the time the last answer took
    assert s["achieved_rps"] == pytest.approx(100 / 1.5)
    assert s["p50_ms"] == 55 and s["p99_ms"] == 1000.0
    assert s["routes"]["a"] == {"requests": 100, "ok": 100, "errors": 0, "dropped": 0,
                                "p50_ms": 50, "p95_ms": 95, "p99_ms": 99}
    assert s["routes"]["b"]["requests"] == 15 and s["routes"]["b"]["ok"] == 0


def test_the_bound_must_be_positive() -> None:
    with pytest.raises(ValueError):
        asyncio.run(drive_open_loop([0.0], lambda: ("x", None), max_in_flight=0))  # type: ignore[arg-type]
