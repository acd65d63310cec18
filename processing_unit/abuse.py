"""Abuse limits of the costly, anonymous routes (POST /sessions, POST /users), per unit.

Two token buckets per request: the client's (keyed by route and client address) and the
unit's (keyed by route). The client's answers 429, the unit's 503: past it the unit is
busy, not the client rude. Both live in this process's memory, bounded to
:data:`MAX_CLIENTS` buckets: a unit refuses on what it saw itself, so behind a balancer
spreading over N units a client gets up to N times the per-client rate (decision 0024).
The buckets cost no grid round trip, and a flood of refusals costs the grid nothing.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from processing_unit.errors import TooManyRequests, Unavailable
from service_kit.bounded import keep

#: buckets kept per limit; past it the least recently used is dropped (it refills: lenient)
MAX_CLIENTS = 10_000


@dataclass
class _Bucket:
    tokens: float
    at: float


class TokenBuckets:
    """``burst`` tokens per key, refilled at ``per_s``; :meth:`take` says how long to wait."""

    def __init__(self, per_s: float, burst: float, max_keys: int = MAX_CLIENTS) -> None:
        self.per_s, self.burst, self.max_keys = per_s, burst, max_keys
        self._buckets: dict[str, _Bucket] = {}

    def take(self, key: str, now: float | None = None) -> float:
        """0 when a token was taken; else the seconds until one is there (nothing taken)."""
        now = time.monotonic() if now is None else now
        bucket = self._buckets.pop(key, None) or _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.per_s)
        bucket.at = now
        keep(self._buckets, key, bucket, self.max_keys)  # re-inserted last: least recently used goes first
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.per_s

    def __len__(self) -> int:
        return len(self._buckets)


class AbuseLimits:
    """Per-client and per-unit rates of the anonymous, costly routes."""

    def __init__(self, client_per_min: float, client_burst: int, global_per_s: float) -> None:
        self._clients = TokenBuckets(client_per_min / 60, client_burst)
        self._unit = TokenBuckets(global_per_s, max(1.0, 2 * global_per_s))

    def admit(self, route: str, client: str) -> None:
        """Raise 429 (this client) or 503 (this unit) with Retry-After when over a rate."""
        wait = self._clients.take(f"{route} {client}")
        if wait > 0:
            raise TooManyRequests(f"too many {route} requests from your address; retry later", math.ceil(wait))
        wait = self._unit.take(route)
        if wait > 0:
            raise Unavailable(f"too many {route} requests right now; retry shortly", math.ceil(wait))
