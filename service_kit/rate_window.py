"""A sliding-window rate (events per second) for the workers' ``*_per_second`` gauges."""

from __future__ import annotations

import time
from collections import deque


class RateWindow:
    """Counts added over the last ``window_s`` seconds, divided by the window."""

    def __init__(self, window_s: float = 10.0) -> None:
        self.window_s = window_s
        self._recent: deque[tuple[float, int]] = deque()

    def add(self, count: int) -> None:
        self._recent.append((time.monotonic(), count))

    def per_second(self) -> float:
        cutoff = time.monotonic() - self.window_s
        while self._recent and self._recent[0][0] < cutoff:
            self._recent.popleft()
        return sum(n for _, n in self._recent) / self.window_s
