"""The SQL Server dialect, checked without a SQL Server: golden files and a T-SQL parse.

sqlglot's ``tsql`` reader is lenient (it accepts some SQL that SQL Server refuses), so a
parse here is a typo net, not proof; the real check is the integration test that runs
when ``SPACEGRID_MSSQL_URL`` is set. Regenerate goldens after an intended change with
``SPACEGRID_UPDATE_GOLDEN=1 python -m pytest tests/unit/data_writer/test_tsql_golden.py``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from data_writer import tsql
from data_writer.mssql import parse_mssql_url

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "mssql"
STATEMENTS = tsql.statements()


def _numbered(sql: str) -> str:
    """pymssql's ``%s`` placeholders as T-SQL variables, so the parser sees valid syntax."""
    counter = iter(range(1, 10_000))
    return re.sub(r"%s", lambda _: f"@p{next(counter)}", sql)


@pytest.mark.parametrize("name", sorted(STATEMENTS))
def test_emitted_tsql_matches_golden_file(name: str) -> None:
    path = GOLDEN / f"{name}.sql"
    if os.environ.get("SPACEGRID_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(STATEMENTS[name] + "\n")
    assert path.exists(), f"missing golden file {path}"
    assert STATEMENTS[name] == path.read_text().rstrip("\n")


def test_no_stale_golden_files() -> None:
    assert {p.stem for p in GOLDEN.glob("*.sql")} == set(STATEMENTS)


@pytest.mark.parametrize("name", sorted(STATEMENTS))
def test_emitted_tsql_parses_as_tsql(name: str) -> None:
    parsed = sqlglot.parse(_numbered(STATEMENTS[name]), read="tsql")
    assert parsed and all(p is not None for p in parsed)
    assert not any(isinstance(node, exp.Command) for p in parsed for node in p.walk()) or name.startswith(
        ("migration_lock", "migration_ledger", "stage_create")
    ), "sqlglot fell back to an opaque Command: the statement was not understood"


def test_merge_guards_on_version_and_reports_written_ids() -> None:
    tree = sqlglot.parse_one(tsql.merge_from_stage("orders"), read="tsql")
    assert isinstance(tree, exp.Merge)
    sql = tree.sql(dialect="tsql")
    assert "t.version < s.version" in sql
    assert "OUTPUT inserted.id" in tsql.merge_from_stage("orders")


def test_mssql_url_parsing() -> None:
    p = parse_mssql_url("mssql://sa:p%40ss@db.example:14330/shop")
    assert (p.server, p.port, p.user, p.password, p.database) == ("db.example", 14330, "sa", "p@ss", "shop")
    assert parse_mssql_url("mssql://sa:x@db/shop").port == 1433
    with pytest.raises(ValueError):
        parse_mssql_url("mssql://db")
