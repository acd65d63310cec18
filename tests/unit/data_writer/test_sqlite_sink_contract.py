"""The sink contract on SQLite (embedded mode's database), files under tmp_path."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

from data_writer.batching import DeferralPolicy
from data_writer.sqlite import sqlite_sink
from tests.contract.sink_contract import SinkContract, SinkEnv, close_all


@pytest.fixture
def sink_env(tmp_path: Path) -> Iterator[SinkEnv]:
    env = SinkEnv(new=lambda policy: (None, None))  # replaced below

    def new(policy: DeferralPolicy | None) -> Any:
        path = tmp_path / f"{uuid.uuid4().hex}.db"
        sink = sqlite_sink(path, policy)
        env.created.append(sink)

        def rows(sql: str) -> list[tuple[Any, ...]]:
            with sqlite3.connect(path) as conn:
                return conn.execute(sql).fetchall()

        return sink, rows

    env.new = new
    yield env
    asyncio.run(close_all(env))


class TestSqliteSinkContract(SinkContract):
    hypothesis_examples = 60


async def test_database_and_wal_files_are_private(tmp_path: Path) -> None:
    """0600 from creation: the file holds password hashes and every order (issue 12)."""
    import os
    import stat

    from tests.contract.sink_contract import prepare, user

    old = os.umask(0o022)  # the usual umask: what SQLite alone would create 0644 under
    try:
        path = tmp_path / "shop.db"
        sink = sqlite_sink(path)
        await sink.migrate()
        await sink.apply(prepare([user("1")]).events)
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
        await sink.close()
    finally:
        os.umask(old)
    assert {"shop.db", "shop.db-wal", "shop.db-shm"} <= set(modes)
    assert set(modes.values()) == {0o600}, modes


async def test_older_world_readable_database_is_made_private(tmp_path: Path) -> None:
    import stat

    path = tmp_path / "old.db"
    sqlite3.connect(path).close()
    path.chmod(0o644)
    sink = sqlite_sink(path)
    await sink.migrate()
    await sink.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
