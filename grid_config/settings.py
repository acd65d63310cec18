"""Settings shared by every component, read once from ``SPACEGRID_*`` variables.

Each service subclasses :class:`CommonSettings` with its own fields; a malformed value
fails at start with a message naming the environment variable (see :func:`load`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from grid_config.names import Names

ENV_PREFIX = "SPACEGRID_"


class SettingsError(SystemExit):
    """Raised (as an exit) when an environment variable holds a malformed value."""


class CommonSettings(BaseSettings):
    """What every process needs to find the grid, the broker and the database."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    grid: Literal["embedded", "hazelcast"] = "embedded"
    hazelcast_members: str = "127.0.0.1:5701"
    hazelcast_cluster: str = "spacegrid"
    #: how long a write waits for its backup's acknowledgement before its outcome counts as
    #: unknown (retried or read back): Hazelcast's 5 s default is how long writes whose
    #: backup was on a member that just died stalled (decision 0036)
    hazelcast_backup_ack_timeout_s: float = Field(default=2.0, ge=0.5, le=60)
    #: prefix of every map, queue and topic name; tests use a unique one per test
    namespace: str = ""
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_partitions: int = Field(default=6, ge=1, le=1000)
    kafka_replication: int = Field(default=1, ge=1, le=10)
    database_url: str = "sqlite:///spacegrid.db"
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=0, le=65535)
    cache_dir: Path = Path(os.path.expanduser("~/.cache/spacegrid"))

    @property
    def member_addresses(self) -> list[str]:
        return [m.strip() for m in self.hazelcast_members.split(",") if m.strip()]

    @property
    def bootstrap_servers(self) -> list[str]:
        return [s.strip() for s in self.kafka_bootstrap.split(",") if s.strip()]

    @property
    def names(self) -> Names:
        """Every map, queue and topic name of this deployment."""
        return Names(namespace=self.namespace)


S = TypeVar("S", bound=BaseSettings)
#: variables whose value a refusal must not print (it lands in a log): secrets, passwords, URLs with credentials
_SENSITIVE = re.compile(r"secret|password|token|admin|url|dsn|credential", re.IGNORECASE)


def load(cls: type[S], **overrides: object) -> S:
    """Build a settings object, turning validation errors into one clear message."""
    try:
        return cls(**overrides)
    except ValidationError as e:
        lines = []
        for err in e.errors():
            field = str(err["loc"][0]) if err["loc"] else "?"
            shown = "a hidden value" if _SENSITIVE.search(field) else repr(err.get("input"))
            lines.append(f"{ENV_PREFIX}{field.upper()}: {err['msg']} (got {shown})")
        raise SettingsError("invalid settings:\n  " + "\n  ".join(lines)) from e
