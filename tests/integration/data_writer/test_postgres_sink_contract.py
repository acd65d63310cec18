"""The sink contract on a real PostgreSQL 15 (fsync on), one fresh database per sink."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, Iterator

import psycopg
import pytest

from data_writer.batching import DeferralPolicy
from data_writer.postgres import postgres_sink
from tests.contract.sink_contract import SinkContract, SinkEnv, close_all
from tests.support.postgres import create_database, drop_database


@pytest.fixture
def sink_env(postgres_server: str) -> Iterator[SinkEnv]:
    databases: list[str] = []
    env = SinkEnv(new=lambda policy: (None, None))  # type: ignore[arg-type,return-value]

    def new(policy: DeferralPolicy | None) -> Any:
        name = f"t_{uuid.uuid4().hex[:12]}"
        create_database(postgres_server, name)
        databases.append(name)
        dsn = postgres_server.rsplit("/", 1)[0] + "/" + name
        sink = postgres_sink(dsn, policy)
        env.created.append(sink)

        def rows(sql: str) -> list[tuple[Any, ...]]:
            with psycopg.connect(dsn) as conn:
                return conn.execute(sql).fetchall()

        return sink, rows

    env.new = new
    yield env
    asyncio.run(close_all(env))
    for name in databases:
        drop_database(postgres_server, name)


class TestPostgresSinkContract(SinkContract):
    hypothesis_examples = 12
