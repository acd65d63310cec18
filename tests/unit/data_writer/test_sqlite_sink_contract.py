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
