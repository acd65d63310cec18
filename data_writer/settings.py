"""Settings of the data writer: the common ones plus the write schedule (README, "Settings")."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from data_writer.batching import DeferralPolicy
from grid_config.settings import CommonSettings


#: where a writer serves /health and /metrics unless SPACEGRID_HTTP_PORT says otherwise (a
#: unit has 8080, a pump 8081)
WRITER_HTTP_PORT = 8082


class WriterSettings(CommonSettings):
    """A batch closes at ``write_batch_size`` events or ``write_interval_ms``, whichever first."""

    http_port: int = Field(default=WRITER_HTTP_PORT, ge=0, le=65535)
    write_batch_size: int = Field(default=500, ge=1, le=100_000)
    write_interval_ms: int = Field(default=1000, ge=1, le=600_000)
    #: an order whose user/products are still missing after this long is dead-lettered
    write_defer_max_age_s: float = Field(default=3600.0, gt=0)
    #: how many deferred orders one retry pass looks at (bounds memory)
    write_defer_page: int = Field(default=1000, ge=1, le=100_000)
    #: seconds a worker may be silent before the broker rebalances its partitions away
    writer_session_timeout_s: float = Field(default=8.0, ge=1.0, le=300.0)

    @property
    def app_id(self) -> str:
        """Faust app id = the Kafka consumer group (fixed name, prefixed only in tests)."""
        return f"{self.namespace}spacegrid-writer"

    @property
    def deferral(self) -> DeferralPolicy:
        return DeferralPolicy(max_age=timedelta(seconds=self.write_defer_max_age_s), page=self.write_defer_page)
