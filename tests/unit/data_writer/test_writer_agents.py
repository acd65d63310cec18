"""The Faust agents and the embedded loop, on a real SQLite sink (no broker needed).

``agent.test_context()`` feeds the agent through Faust's in-memory channel; poison goes
to the database's dead-letter table here (the Kafka dead-letter topic is covered by the
integration tests).
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from faust.sensors import Sensor

from data_writer.app import build
from data_writer.embedded import run_embedded
from data_writer.pipeline import BatchWriter, SinkDeadLetters
from data_writer.settings import WriterSettings
from data_writer.sqlite import sqlite_sink
from tests.contract.sink_contract import order, product, user
from tests.support.eventually import eventually_async


def rows(path: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "writer.db"


async def test_agents_write_batches_dead_letter_poison_and_defer_orphans(tmp_path: Path, db: Path) -> None:
    settings = WriterSettings(cache_dir=tmp_path, write_batch_size=50, write_interval_ms=50, http_port=16011)
    sink = sqlite_sink(db)
    await sink.migrate()
    app = build(settings, sink=sink, dead_letters=lambda kind: SinkDeadLetters(sink))
    done = Finished()
    app.sensors.add(done)
    agents = {a.name.rsplit("-", 1)[-1]: a for a in app.agents.values()}
    try:
        async with agents["orders"].test_context() as orders:
            await orders.put(key=b"21", value=order("21", "1", ["11"]).to_bytes())
            await orders.put(key=b"22", value=b"{broken")
            await eventually_async(lambda: _deferred(db, 1), timeout=10)
        async with agents["users"].test_context() as users:
            await users.put(key=b"1", value=user("1", 1).to_bytes())
            await users.put(key=b"1", value=user("1", 2, name="second").to_bytes())
            await eventually_async(lambda: _has(db, "SELECT version FROM users", [(2,)]), timeout=10)
        async with agents["products"].test_context() as products:
            await products.put(key=b"11", value=product("11").to_bytes())
            await eventually_async(lambda: _has(db, "SELECT id FROM orders", [("21",)]), timeout=10)
        assert rows(db, "SELECT count(*) FROM deferred_orders") == [(0,)]
        assert len(done.offsets) == 5  # every message final-acked once its batch committed
        dead = rows(db, "SELECT entity_id, error FROM dead_letters")
        assert len(dead) == 1 and dead[0][0] is None and "undecodable" in dead[0][1]
        text = app.writer_metrics.render().decode()  # type: ignore[attr-defined]
        assert 'spacegrid_writer_deadletters_total{reason="poison"} 1.0' in text
        assert "spacegrid_writer_lag_seconds 0.0" in text
    finally:
        await sink.close()


async def _deferred(db: Path, n: int) -> bool:
    return rows(db, "SELECT count(*) FROM deferred_orders") == [(n,)]


async def _has(db: Path, sql: str, expected: list[tuple]) -> bool:
    return rows(db, sql) == expected


async def test_embedded_loop_runs_the_same_batching(db: Path) -> None:
    from data_pump.local_channel import LocalChannel

    channel = LocalChannel(maxsize=100)
    sink = sqlite_sink(db)
    await sink.migrate()
    writer = BatchWriter(sink, SinkDeadLetters(sink))
    stop = asyncio.Event()
    task = asyncio.create_task(run_embedded(channel, writer, stop, batch_size=10, interval_s=0.05))
    try:
        for e in [order("21", "1", ["11"]), user("1"), product("11"), product("11", 2, stock=1)]:
            await channel.send(f"spacegrid.{e.kind}", e.key, e.to_bytes())
        await eventually_async(lambda: _has(db, "SELECT id, version FROM orders", [("21", 1)]), timeout=10)
        assert rows(db, "SELECT version, stock FROM products") == [(2, 1)]
        stop.set()
        await asyncio.wait_for(task, 5)
    finally:
        task.cancel()
        await sink.close()


async def test_batch_is_not_acknowledged_until_the_database_committed(tmp_path: Path) -> None:
    """An unreachable database: the agent keeps retrying; stopping it leaves the offset unacked."""
    settings = WriterSettings(cache_dir=tmp_path, write_batch_size=10, write_interval_ms=20, http_port=16012)
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where the database folder should be")
    sink = sqlite_sink(blocked / "sub" / "w.db", retry_budget_s=0.2)
    app = build(settings, sink=sink, dead_letters=lambda kind: SinkDeadLetters(sink))
    done = Finished()
    app.sensors.add(done)
    agent = next(a for a in app.agents.values() if a.name.endswith("users"))
    metrics = app.writer_metrics  # type: ignore[attr-defined]
    async with agent.test_context() as ctx:
        await ctx.put(key=b"1", value=user("1").to_bytes(), wait=False)
        await eventually_async(lambda: _failed_at_least(metrics, 2), timeout=10)
        assert done.offsets == []
        assert metrics.refresh_lag() > 0
    assert done.offsets == []  # stopped mid-retry: never final-acked, so Kafka will redeliver
    await sink.close()


class Finished(Sensor):
    """Records the final acknowledgement of each message (what makes an offset committable)."""

    def __init__(self) -> None:
        super().__init__()
        self.offsets: list[int] = []

    def on_message_out(self, tp: object, offset: int, message: object) -> None:
        self.offsets.append(offset)


async def _failed_at_least(metrics: object, n: int) -> bool:
    return metrics.db_failures._value.get() >= n  # type: ignore[attr-defined]
