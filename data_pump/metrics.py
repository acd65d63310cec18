"""The pump's Prometheus metrics, in a registry of its own (one per pump instance).

A private registry keeps several pumps (tests, the embedded process) from colliding in
prometheus-client's global one; ``render()`` serves it on ``/metrics``.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from grid_config.events import parse_iso
from service_kit.rate_window import RateWindow

#: without the charset parameter: aiohttp takes the charset separately
CONTENT_TYPE = CONTENT_TYPE_LATEST.split(";")[0]


def age_seconds(changed_at: str, now: float | None = None) -> float:
    """Seconds since an event's ``changed_at`` (never negative: clocks may skew a little)."""
    now = time.time() if now is None else now
    return max(0.0, now - parse_iso(changed_at).timestamp())


class PumpMetrics:
    """Un-shipped entries, oldest un-shipped age, journal fill and gaps, shipped changes, failures."""

    def __init__(self, rate_window_s: float = 10.0) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.oldest_age = Gauge(
            "spacegrid_pump_oldest_record_age_seconds",
            "Age (now - changed_at) of the oldest un-shipped entry at the head of an owned journal",
            registry=self.registry,
        )
        self.shipped = Counter(
            "spacegrid_pump_shipped",
            "Changes published and acknowledged by the broker, their journal position stored",
            registry=self.registry,
        )
        self.rate = Gauge(
            "spacegrid_pump_changes_per_second",
            "Changes shipped per second over the last rate window",
            registry=self.registry,
        )
        self.failures = Counter(
            "spacegrid_pump_publish_failures",
            "Batches whose publication failed and were rolled back for a retry",
            registry=self.registry,
        )
        self.dead_letters = Counter(
            "spacegrid_pump_dead_letters",
            "Journal entries that are not valid changes, published to the dead-letter topic and skipped",
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "spacegrid_pump_batches_open",
            "Batches taken from the grid and not yet forgotten (publishing, awaiting acks, or committing)",
            registry=self.registry,
        )
        self.owned = Gauge(
            "spacegrid_pump_owned_shards", "Pump shards (groups of journals) this pump ships", registry=self.registry
        )
        self.journal_lost = Counter(
            "spacegrid_journal_lost",
            "Journal entries overwritten before the pump read them (gaps; each repaired by re-shipping)",
            ["map"],
            registry=self.registry,
        )
        self.credits_restored = Counter(
            "spacegrid_journal_credits_restored",
            "Journal credits taken and never given back (a writer died or failed after its take), "
            "restored by the reconciliation once the journal was quiet and fully shipped",
            ["map"],
            registry=self.registry,
        )
        self.unshipped = Gauge(
            "spacegrid_pump_unshipped",
            "Journal entries not yet shipped, per map, over the partitions this pump owns",
            ["map"],
            registry=self.registry,
        )
        self.oldest_unshipped = Gauge(
            "spacegrid_pump_oldest_unshipped_age_seconds",
            "Age (now - changed_at) of the oldest entry being shipped, per map, over the owned journals",
            ["map"],
            registry=self.registry,
        )
        self.journal_fill = Gauge(
            "spacegrid_journal_fill_ratio",
            "Un-shipped entries / journal capacity of the fullest owned partition, per map",
            ["map"],
            registry=self.registry,
        )
        self._window = RateWindow(rate_window_s)
        self._head_age: dict[str, float] = {}
        #: next sequence to ship, per (map, partition) this pump shipped from
        self.positions: dict[tuple[str, int], int] = {}
        #: journals whose last read came back short of a full batch: nothing was waiting then,
        #: and their reader is already waiting for the next entry (no bounds call needed)
        self.caught_up: set[tuple[str, int]] = set()

    # ---- updates from the shipping loop ----------------------------------------------
    def record_shipped(self, count: int) -> None:
        self.shipped.inc(count)
        self._window.add(count)

    def record_dead_letters(self, count: int) -> None:
        if count:
            self.dead_letters.inc(count)

    def record_failure(self) -> None:
        self.failures.inc()

    def record_head(self, journal: str, changed_at: str | None) -> None:
        """Age of the entry at a journal's head when read (None: nothing waiting)."""
        if changed_at is None:
            self._head_age.pop(journal, None)
        else:
            self._head_age[journal] = age_seconds(changed_at)
        self.oldest_age.set(max(self._head_age.values(), default=0.0))
        map_name = journal.rsplit("#", 1)[0]
        self.oldest_unshipped.labels(map=map_name).set(
            max((age for j, age in self._head_age.items() if j.rsplit("#", 1)[0] == map_name), default=0.0))

    def record_position(self, map_name: str, partition: int, next_seq: int) -> None:
        self.positions[(map_name, partition)] = next_seq

    def record_lost(self, map_name: str, count: int) -> None:
        self.journal_lost.labels(map=map_name).inc(count)

    def record_unshipped(self, map_name: str, entries: int, fill_ratio: float) -> None:
        self.unshipped.labels(map=map_name).set(entries)
        self.journal_fill.labels(map=map_name).set(fill_ratio)

    def refresh_rate(self) -> float:
        rate = self._window.per_second()
        self.rate.set(rate)
        return rate

    def render(self) -> bytes:
        self.refresh_rate()
        return generate_latest(self.registry)
