"""The sink contract on a real SQL Server: runs only when ``SPACEGRID_MSSQL_URL`` is set.

``SPACEGRID_MSSQL_URL=mssql://sa:pass@127.0.0.1:1433/master`` (compose): each sink gets
a database of its own, created and dropped here. SQL Server cannot run on the machine
this was written on, so this test was NOT run there (see README).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from dataclasses import replace
from typing import Any, Iterator

import pytest

from data_writer.batching import DeferralPolicy
from tests.contract.sink_contract import SinkContract, SinkEnv, close_all

URL = os.environ.get("SPACEGRID_MSSQL_URL")
pytestmark = pytest.mark.skipif(not URL, reason="SPACEGRID_MSSQL_URL not set (no SQL Server here)")


@pytest.fixture
def sink_env() -> Iterator[SinkEnv]:
    import pymssql

    from data_writer.mssql import mssql_sink, parse_mssql_url

    admin = parse_mssql_url(URL or "")
    databases: list[str] = []
    env = SinkEnv(new=lambda policy: (None, None))  # type: ignore[arg-type,return-value]

    def connect(db: str) -> Any:
        return pymssql.connect(server=admin.server, port=str(admin.port), user=admin.user,
                               password=admin.password, database=db, autocommit=True)

    def new(policy: DeferralPolicy | None) -> Any:
        name = f"t_{uuid.uuid4().hex[:12]}"
        with connect(admin.database) as conn:
            conn.cursor().execute(f"CREATE DATABASE [{name}]")
        databases.append(name)
        sink = mssql_sink(replace(admin, database=name), policy)
        env.created.append(sink)

        def rows(sql: str) -> list[tuple[Any, ...]]:
            with connect(name) as conn:
                cur = conn.cursor()
                cur.execute(sql)
                return [tuple(r) for r in cur.fetchall()]

        return sink, rows

    env.new = new
    yield env
    asyncio.run(close_all(env))
    with connect(admin.database) as conn:
        for name in databases:
            conn.cursor().execute(f"ALTER DATABASE [{name}] SET SINGLE_USER WITH ROLLBACK IMMEDIATE; DROP DATABASE [{name}]")


class TestMssqlSinkContract(SinkContract):
    hypothesis_examples = 5
