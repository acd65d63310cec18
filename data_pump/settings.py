"""The pump's settings: the common ``SPACEGRID_*`` ones plus ``SPACEGRID_PUMP_*`` tuning."""

from __future__ import annotations

from pydantic import Field

from grid_config.settings import CommonSettings


#: where a pump serves /health and /metrics unless SPACEGRID_HTTP_PORT says otherwise: not a
#: unit's 8080 nor a writer's 8082, so all three run side by side on one machine as in the README
PUMP_HTTP_PORT = 8081


class PumpSettings(CommonSettings):
    http_port: int = Field(default=PUMP_HTTP_PORT, ge=0, le=65535)
    #: journal entries read per batch (one Kafka round trip per batch; a member answers at
    #: most 1,000 per read)
    pump_batch_size: int = Field(default=1000, ge=1, le=1000)
    #: cap of the exponential backoff between failed attempts
    pump_max_backoff_s: float = Field(default=5.0, gt=0, le=300)
    #: a dead pump's shards move to the others after about this long (Kafka group session)
    pump_session_timeout_s: float = Field(default=8.0, ge=3, le=300)
    #: bound of one publish attempt: a record not acknowledged by then fails its batch
    pump_request_timeout_s: float = Field(default=15.0, ge=1, le=300)
    #: how often the un-shipped and journal-fill gauges are refreshed from the grid
    pump_metrics_interval_s: float = Field(default=1.0, gt=0, le=60)
    #: leaked journal credits come back once a journal was fully shipped and unchanged this
    #: long: above the member's operation call timeout (60 s), see data_pump/reconcile.py
    pump_credit_quiet_s: float = Field(default=90.0, gt=0, le=86_400)
    #: how often the owned journals are looked at for leaked credits
    pump_reconcile_interval_s: float = Field(default=30.0, gt=0, le=3_600)

    @property
    def app_id(self) -> str:
        """Faust app id = Kafka consumer group of the control topic, shared by all pumps."""
        return f"{self.namespace}spacegrid-pump"
