"""Pick the sink adapter from ``SPACEGRID_DATABASE_URL`` (the one place URLs are parsed)."""

from __future__ import annotations

from data_writer.batching import DeferralPolicy
from data_writer.errors import UnsupportedDatabaseURL
from data_writer.ports import Sink

SCHEMES = ("sqlite:///", "postgresql://", "postgres://", "mssql://")


def sink_from_url(url: str, policy: DeferralPolicy | None = None, retry_budget_s: float = 30.0) -> Sink:
    """``sqlite:///path``, ``postgresql://...`` or ``mssql://user:pass@host:port/db`` -> a sink.

    Nothing connects here: adapters connect on first use, in their worker thread.
    Drivers are imported only for the scheme in use.
    """
    if url.startswith("sqlite:///"):
        from data_writer.sqlite import path_from_url, sqlite_sink

        return sqlite_sink(path_from_url(url), policy, retry_budget_s)
    if url.startswith(("postgresql://", "postgres://")):
        from data_writer.postgres import postgres_sink

        return postgres_sink(url, policy, retry_budget_s)
    if url.startswith("mssql://"):
        from data_writer.mssql import mssql_sink, parse_mssql_url

        return mssql_sink(parse_mssql_url(url), policy, retry_budget_s)
    raise UnsupportedDatabaseURL(
        f"SPACEGRID_DATABASE_URL must start with one of {', '.join(SCHEMES)} (got {url.split(':', 1)[0]!r}:...)"
    )
