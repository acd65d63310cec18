"""Prometheus metrics of one unit (its own registry, so several apps can live in one process)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST


class UnitMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "spacegrid_http_requests", "HTTP requests by route name, method and status",
            ["route", "method", "status"], registry=self.registry,
        )
        self.latency = Histogram(
            "spacegrid_http_request_seconds", "HTTP request latency by route name",
            ["route", "method"], registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.errors = Counter(
            "spacegrid_http_errors", "Error answers by HTTP status", ["status"], registry=self.registry
        )
        self.in_flight = Gauge("spacegrid_http_in_flight", "Requests being served", registry=self.registry)
        self.write_refusals = Gauge(
            "spacegrid_journal_full_refusals",
            "Writes this unit refused because a journal held its bound of un-shipped changes (G7)",
            registry=self.registry,
        )
        self.ws_connections = Gauge("spacegrid_ws_connections", "Open WebSockets (GET /ws)",
                                    registry=self.registry)
        self.ws_sent = Counter("spacegrid_ws_messages_sent", "Messages sent on WebSockets, by type",
                               ["type"], registry=self.registry)
        self.ws_dropped = Counter(
            "spacegrid_ws_messages_dropped",
            "Live messages not delivered because their socket's queue was full (the socket is closed)",
            registry=self.registry,
        )
        self.ws_closed = Counter("spacegrid_ws_closed", "WebSockets closed by the unit, by close code",
                                 ["code"], registry=self.registry)
        self.ws_delay = Histogram(
            "spacegrid_ws_notification_delay_seconds",
            "From a change's changed_at (the write) to its live message being sent",
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )

        # labelled children looked up once per (route, method, status): labels() takes a lock
        # and builds a key on every call, measurable per request (bench unit)
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one served request and its latency."""
        key = (route, method, status)
        children = self._children.get(key)
        if children is None:
            if len(self._children) > 10_000:  # bounded: routes x methods x statuses is small
                self._children.clear()
            children = self._children[key] = (
                self.requests.labels(route, method, str(status)),
                self.latency.labels(route, method),
            )
        children[0].inc()
        children[1].observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
