"""BatchWriter's failure classes on a real SQLite sink: transient waits, bad events are
isolated and dead-lettered, a writer that fails on every event halts loudly.

``Faulty`` is a real sink with a switch that makes it raise for chosen event ids, the
way a bug or an unforeseen value would surface from an adapter.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path
from typing import Any, Sequence

import pytest

from data_writer.errors import SinkUnavailable
from data_writer.pipeline import BatchWriter, SinkDeadLetters
from data_writer.ports import ApplyResult
from data_writer.sql_core import ThreadedSink
from data_writer.sqlite import sqlite_sink
from grid_config.events import ChangeEvent
from tests.contract.sink_contract import product, user
from tests.support.eventually import eventually_async


class Faulty(ThreadedSink):
    """The SQLite sink, failing ``apply`` for batches that contain a chosen id."""

    def __init__(self, inner: ThreadedSink) -> None:
        super().__init__(inner.engine, retry_budget_s=0.1)
        self.bad_ids: set[str] = set()
        self.error: type[Exception] = ValueError
        self.transient_left = 0

    async def apply(self, events: Sequence[ChangeEvent]) -> ApplyResult:
        if self.transient_left:
            self.transient_left -= 1
            raise SinkUnavailable("database restarting")
        bad = [e.id for e in events if e.id in self.bad_ids]
        if bad:
            raise self.error(f"cannot handle {bad}")
        return await super().apply(events)


@pytest.fixture
async def faulty(tmp_path: Path) -> Any:
    sink = Faulty(sqlite_sink(tmp_path / "w.db"))
    await sink.migrate()
    yield sink
    await sink.close()


def rows(sink: Faulty, sql: str) -> list[tuple]:
    with sqlite3.connect(sink.engine.d.path) as conn:  # type: ignore[attr-defined]
        return conn.execute(sql).fetchall()


async def test_transient_failures_wait_and_lose_nothing(faulty: Faulty) -> None:
    writer = BatchWriter(faulty, SinkDeadLetters(faulty), max_backoff_s=0.01)
    faulty.transient_left = 4
    result = await writer.write([user("1"), user("2")])
    assert result.written == 2 and not result.poison
    assert writer.metrics.errors.labels("transient")._value.get() == 4
    assert writer.metrics.errors.labels("unexpected")._value.get() == 0


async def test_event_failing_alone_is_dead_lettered_and_the_rest_written(
    faulty: Faulty, caplog: pytest.LogCaptureFixture
) -> None:
    writer = BatchWriter(faulty, SinkDeadLetters(faulty), max_backoff_s=0.01)
    faulty.bad_ids = {"2"}
    with caplog.at_level(logging.ERROR, "spacegrid.writer"):
        result = await writer.write([user("1"), user("2"), product("11")])
    assert result.written == 2
    assert sorted(rows(faulty, "SELECT id FROM users")) == [("1",)]
    dead = rows(faulty, "SELECT entity_id, error FROM dead_letters")
    assert dead == [("2", "writer error: ValueError: cannot handle ['2']")]
    # counted and logged, never silent
    assert writer.metrics.errors.labels("unexpected")._value.get() >= 3
    assert any("keeps failing" in r.message for r in caplog.records)
    assert writer.metrics.halted._value.get() == 0


async def test_a_writer_failing_on_every_event_halts_loudly_then_resumes(
    faulty: Faulty, caplog: pytest.LogCaptureFixture
) -> None:
    writer = BatchWriter(faulty, SinkDeadLetters(faulty), max_backoff_s=0.05)
    faulty.bad_ids = {"1", "2"}
    with caplog.at_level(logging.ERROR, "spacegrid.writer"):
        task = asyncio.create_task(writer.write([user("1"), user("2")]))

        async def halted() -> bool:
            return writer.metrics.halted._value.get() == 1

        await eventually_async(halted, timeout=10)
        failures = writer.metrics.errors.labels("unexpected")._value.get()
        await eventually_async(
            lambda: _gt(writer.metrics.errors.labels("unexpected")._value.get(), failures + 2), timeout=10
        )
        assert not task.done()  # nothing dead-lettered, nothing acknowledged: progress stopped
        assert rows(faulty, "SELECT count(*) FROM dead_letters") == [(0,)]
        faulty.bad_ids = set()  # the fix is deployed (or the schema repaired)
        result = await asyncio.wait_for(task, 10)
    assert result.written == 2 and not result.poison
    assert writer.metrics.halted._value.get() == 0
    assert any("writer halted" in r.message for r in caplog.records)


async def _gt(a: float, b: float) -> bool:
    return a > b
