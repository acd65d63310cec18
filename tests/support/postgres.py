"""pytest plugin: one private PostgreSQL server per session, a fresh database per test.

``postgres_server`` (session) starts Debian's PostgreSQL as the ``postgres`` user on a
free loopback port, data under ``SPACEGRID_CACHE_DIR/postgres/test-<pid>``, fsync on;
it is stopped by PID at the end and its folder removed. ``postgres_dsn`` (function)
creates a uniquely named database and drops it after the test. Without the binaries
the tests skip with the reason; with ``SPACEGRID_REQUIRE_ENGINES=1`` they fail.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from tools.local.postgres import PostgresServer, PostgresUnavailable, find_pg_bin, start_postgres

REQUIRE_ENGINES = os.environ.get("SPACEGRID_REQUIRE_ENGINES") == "1"


def _cache_dir() -> Path:
    return Path(os.environ.get("SPACEGRID_CACHE_DIR", os.path.expanduser("~/.cache/spacegrid")))


def _unavailable(reason: str) -> None:
    if REQUIRE_ENGINES:
        pytest.fail(f"PostgreSQL unavailable and SPACEGRID_REQUIRE_ENGINES=1: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_instance() -> Iterator[PostgresServer]:
    """The running server object (tests that stop/restart PostgreSQL use their own, see below)."""
    if find_pg_bin() is None:
        _unavailable("PostgreSQL binaries not found (/usr/lib/postgresql/*/bin); apt-get install postgresql")
    root = _cache_dir() / "postgres" / f"test-{os.getpid()}"
    try:
        server = start_postgres(root)
    except (PostgresUnavailable, OSError) as e:
        _unavailable(f"PostgreSQL did not start: {e}")
        raise  # unreachable
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.data_dir.parent, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server(postgres_instance: PostgresServer) -> str:
    """DSN of the session's server (maintenance database ``postgres``)."""
    return postgres_instance.dsn()


def create_database(admin_dsn: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(admin_dsn: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_dsn(postgres_server: str) -> Iterator[str]:
    """DSN of a brand-new empty database, dropped after the test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    create_database(postgres_server, name)
    try:
        yield postgres_server.rsplit("/", 1)[0] + "/" + name
    finally:
        drop_database(postgres_server, name)


@pytest.fixture
def private_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """A server of the test's own, for destructive tests (stop it, restart it)."""
    if find_pg_bin() is None:
        _unavailable("PostgreSQL binaries not found (/usr/lib/postgresql/*/bin); apt-get install postgresql")
    root = _cache_dir() / "postgres" / f"private-{uuid.uuid4().hex[:8]}"
    server = start_postgres(root)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.data_dir.parent, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)
