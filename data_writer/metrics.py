"""The writer's Prometheus metrics, in a registry of its own (one per writer instance).

``spacegrid_writer_lag_seconds`` is the G7 "writer lag": the age of the oldest change
handed to the writer and not yet persisted (it keeps growing during a database outage;
Kafka-side consumer lag is Kafka's own metric). Rows/s is a rate gauge over a short
window next to the counters Prometheus can ``rate()`` itself.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from data_writer.ports import ApplyResult
from service_kit.rate_window import RateWindow

CONTENT_TYPE = CONTENT_TYPE_LATEST.split(";")[0]


class WriterMetrics:
    def __init__(self, rate_window_s: float = 10.0) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.events = Counter("spacegrid_writer_events", "Change events received (before coalescing)", registry=r)
        self.rows = Counter("spacegrid_writer_rows", "Events by outcome", ["outcome"], registry=r)
        self.deadletters = Counter(
            "spacegrid_writer_deadletters", "Events sent to the dead-letter topic", ["reason"], registry=r
        )
        self.lag = Gauge(
            "spacegrid_writer_lag_seconds", "Age of the oldest change received and not yet persisted", registry=r
        )
        self.rate = Gauge("spacegrid_writer_rows_per_second", "Rows written per second (rate window)", registry=r)
        self.deferred = Gauge("spacegrid_writer_deferred_orders", "Orders waiting for their parents", registry=r)
        self.db_up = Gauge("spacegrid_writer_database_up", "1 when the last database call succeeded", registry=r)
        self.db_failures = Counter(
            "spacegrid_writer_database_failures", "Batch attempts that failed transiently (retried)", registry=r
        )
        self.errors = Counter(
            "spacegrid_writer_errors",
            "Failed attempts by type: transient (dependency away, retried) or unexpected (bug or bad data)",
            ["type"],
            registry=r,
        )
        self.halted = Gauge(
            "spacegrid_writer_halted", "1 while every event of a batch fails on its own (writer stopped on it)",
            registry=r,
        )
        self.persist_delay = Histogram(
            "spacegrid_writer_persist_delay_seconds",
            "persisted_at - changed_at of the oldest change of each committed batch",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800),
            registry=r,
        )
        self.batch_seconds = Histogram(
            "spacegrid_writer_batch_seconds", "Time to commit one batch (including retries)", registry=r
        )
        self._window = RateWindow(rate_window_s)
        #: (monotonic time, persist delay in s) of the last batch committed
        self.last_persist: tuple[float, float] = (0.0, 0.0)
        self._pending: dict[int, datetime] = {}

    # ---- lag: oldest change of every batch in flight ------------------------------------
    def batch_started(self, token: int, oldest: datetime | None) -> None:
        if oldest is not None:
            self._pending[token] = oldest
        self.refresh_lag()

    def batch_done(self, token: int, result: ApplyResult, seconds: float) -> None:
        oldest = self._pending.pop(token, None)
        if oldest is not None:
            delay = max(0.0, (datetime.now(timezone.utc) - oldest).total_seconds())
            self.persist_delay.observe(delay)
            self.last_persist = (time.monotonic(), delay)
        self.rows.labels("written").inc(result.written)
        self.rows.labels("stale").inc(result.stale)
        self.rows.labels("deferred").inc(result.deferred)
        self.batch_seconds.observe(seconds)
        self._window.add(result.written)
        self.db_up.set(1)
        self.refresh_lag()

    def refresh_lag(self) -> float:
        now = datetime.now(timezone.utc)
        lag = max(((now - t).total_seconds() for t in self._pending.values()), default=0.0)
        self.lag.set(max(0.0, lag))
        return lag

    def recent_delay(self, within_s: float = 5.0) -> float:
        """How old the oldest change of the last committed batch was at its commit (0 when
        no batch committed within ``within_s``): what the dashboard calls the writer's lag."""
        at, delay = self.last_persist
        return delay if time.monotonic() - at <= within_s else 0.0

    def refresh_rate(self) -> float:
        rate = self._window.per_second()
        self.rate.set(rate)
        return rate

    def render(self) -> bytes:
        self.refresh_rate()
        self.refresh_lag()
        return generate_latest(self.registry)
