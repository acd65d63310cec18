"""`spacegrid writer` on the real broker and a real PostgreSQL (G3).

- events produced to the entity topics end up in PostgreSQL, newest version per key;
- poison lands in the dead-letter topic with its error, and nothing else does;
- offsets are committed only after the database commit: with PostgreSQL down the
  writer consumes and retries but the group's committed offsets do not move; a writer
  SIGKILLed during the outage loses nothing.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from pathlib import Path

import pytest

from grid_config.events import ERROR_HEADER, SOURCE_HEADER, dead_letter_headers
from data_writer.postgres import postgres_sink
from grid_config.names import KINDS, Names
from tools.local.postgres import PostgresServer
from tests.integration.data_writer.support import (
    WriterProcess,
    drift_against,
    expected_grid,
    lag,
    produce,
    read_all,
    shop_history,
    writer_env,
)
from tests.support.eventually import eventually_async

pytestmark = pytest.mark.timeout(300)


async def _ensure_topics(env: dict[str, str]) -> None:
    from data_writer.settings import WriterSettings
    from data_writer.topics import ensure_topics

    settings = WriterSettings(kafka_bootstrap=env["SPACEGRID_KAFKA_BOOTSTRAP"], namespace=env["SPACEGRID_NAMESPACE"],
                              kafka_partitions=6)
    await ensure_topics(settings)


async def test_events_reach_postgres_poison_reaches_deadletter_offsets_follow_commits(
    kafka_broker, private_postgres: PostgresServer, namespace: str, names: Names, tmp_path: Path
) -> None:
    dsn = private_postgres.dsn()
    env = writer_env(kafka_broker.bootstrap, namespace, dsn, tmp_path / "cache")
    await _ensure_topics(env)
    group = f"{namespace}spacegrid-writer"
    topics = [names.topic(k) for k in KINDS]
    writer = WriterProcess(env, tmp_path).start()
    sink = postgres_sink(dsn, retry_budget_s=5)
    await sink.migrate()  # safe next to the writer's own migration
    try:
        first = shop_history(600, seed=1, tag="a")
        await produce(kafka_broker.bootstrap, names, first.records)
        grid = await expected_grid(names, first.newest())

        async def converged() -> bool:
            return (await drift_against(grid, names, sink)).converged

        await eventually_async(converged, timeout=90, interval=1.0)
        dead = await read_all(kafka_broker.bootstrap, names.deadletter_topic)
        assert sorted(r.value for r in dead) == sorted(first.poison.elements())  # no crash: exactly once each
        assert all(dict(r.headers)[ERROR_HEADER] for r in dead)
        # the same header names as the pump's dead letters (test_pump_faults checks those)
        assert all(set(dict(r.headers)) == set(dead_letter_headers("", "")) for r in dead)
        assert {dict(r.headers)[SOURCE_HEADER].decode() for r in dead} <= set(topics)

        async def committed_all() -> bool:
            return await lag(kafka_broker.bootstrap, group, topics) == 0

        await eventually_async(committed_all, timeout=30, interval=0.5)

        # PostgreSQL away: the writer consumes, fails, retries; the committed offsets stay put
        await asyncio.to_thread(private_postgres.stop)
        second = shop_history(300, seed=2, tag="b", poison_share=0)
        await produce(kafka_broker.bootstrap, names, second.records)
        failures = writer.metric("spacegrid_writer_database_failures_total")

        async def retrying() -> bool:
            return writer.metric("spacegrid_writer_database_failures_total") >= failures + 2

        await eventually_async(retrying, timeout=60, interval=0.5)
        watched_until = time.monotonic() + 6  # > 2 Faust commit intervals (2.8 s)
        while time.monotonic() < watched_until:
            assert await lag(kafka_broker.bootstrap, group, topics) == len(second.records)
            await asyncio.sleep(0.5)
        writer.kill()  # a crash during the outage: un-committed offsets are simply redelivered
        await asyncio.to_thread(private_postgres.restart)
        writer.start()
        grid = await expected_grid(names, {**first.newest(), **second.newest()})
        await eventually_async(converged, timeout=120, interval=1.0)
        await eventually_async(committed_all, timeout=30, interval=0.5)
    except BaseException:
        print(writer.tail())
        raise
    finally:
        writer.stop()
        await sink.close()


#: the acceptance run's size (the writer's acceptance run: 50,000); an env knob for slow machines
CHAOS_EVENTS = int(os.environ.get("SPACEGRID_WRITER_CHAOS_EVENTS", "50000"))
#: how long the producer spreads the load over (the faults happen inside this window)
LOAD_S = 45.0
#: the promise: zero drift at most this long after the load stopped
CONVERGE_S = 90.0


async def test_acceptance_50k_events_three_writer_kills_and_a_30s_database_outage(
    kafka_broker, private_postgres: PostgresServer, namespace: str, names: Names, tmp_path: Path
) -> None:
    """50,000 events (users/products/orders, replays, poison) while the writer is SIGKILLed
    3 times and PostgreSQL is down for 30 s: zero drift within CONVERGE_S of the load's end,
    and the dead-letter topic holds every injected poison record and nothing else."""
    dsn = private_postgres.dsn()
    env = writer_env(kafka_broker.bootstrap, namespace, dsn, tmp_path / "cache")
    await _ensure_topics(env)
    history = shop_history(CHAOS_EVENTS, seed=11)
    writer = WriterProcess(env, tmp_path).start()
    sink = postgres_sink(dsn, retry_budget_s=5)
    await sink.migrate()
    timeline: list[str] = []
    started = time.monotonic()

    def note(what: str) -> None:
        timeline.append(f"{time.monotonic() - started:6.1f}s {what}")

    async def faults() -> None:
        async def at(t: float) -> None:
            await asyncio.sleep(max(0.0, started + t - time.monotonic()))

        for t, action in [(5, "kill"), (10, "pg-stop"), (20, "kill"), (40, "pg-start"), (43, "kill")]:
            await at(t)
            if action == "kill":
                writer.kill()
                writer.start()
            elif action == "pg-stop":
                await asyncio.to_thread(private_postgres.stop)
            else:
                await asyncio.to_thread(private_postgres.restart)
            note(action)

    try:
        await asyncio.gather(
            produce(kafka_broker.bootstrap, names, history.records, rate=len(history.records) / LOAD_S), faults()
        )
        load_end = time.monotonic()
        note(f"load stopped: {len(history.records)} records produced")
        grid = await expected_grid(names, history.newest())

        async def converged() -> bool:
            return (await drift_against(grid, names, sink)).converged

        await eventually_async(converged, timeout=CONVERGE_S, interval=1.0)
        converge_s = time.monotonic() - load_end
        note(f"zero drift {converge_s:.1f}s after the load stopped")
        report = await drift_against(grid, names, sink)
        dead = await read_all(kafka_broker.bootstrap, names.deadletter_topic)
        seen = Counter(r.value for r in dead)
        assert set(seen) == set(history.poison), "the dead-letter topic holds poison and nothing else"
        short = {v: n for v, n in history.poison.items() if seen[v] < n}
        assert not short, f"{len(short)} injected poison records missing from the dead-letter topic"
        redelivered = sum(seen.values()) - sum(history.poison.values())
        note(f"dead letters: {sum(seen.values())} for {sum(history.poison.values())} injected "
             f"({len(history.poison)} distinct); {redelivered} extra copies from redelivery after kills")
        topics = [names.topic(k) for k in KINDS]

        async def committed_all() -> bool:
            return await lag(kafka_broker.bootstrap, f"{namespace}spacegrid-writer", topics) == 0

        await eventually_async(committed_all, timeout=30, interval=0.5)
        print("\n".join(timeline + report.lines()))
        assert writer.starts == 4
    except BaseException:
        print("\n".join(timeline))
        print(writer.tail())
        raise
    finally:
        writer.stop()
        await sink.close()
