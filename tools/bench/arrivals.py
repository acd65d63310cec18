"""When each request of an open-loop step is due: a schedule fixed by the offered rate alone.

Why a schedule: a closed loop (N users, each waiting for its answer, then thinking) sends
less when the server slows down, so it can never push a side past its capacity, and it
hides the queueing a late answer causes (coordinated omission). Here the due times are
drawn from the rate before the step starts; the generator sends each request at its due
time whatever earlier answers did, and measures latency from the due time.
"""

from __future__ import annotations

import math
import random
from typing import Iterator

KINDS = ("poisson", "uniform")


def arrival_offsets(rate: float, seconds: float, kind: str = "poisson", seed: int | None = None) -> Iterator[float]:
    """Due times in seconds from the step start, ascending, all in ``[0, seconds)``.

    ``uniform``: evenly spaced, exactly ``floor(rate * seconds)`` arrivals.
    ``poisson``: exponential gaps of mean ``1 / rate`` (bursts as independent clients make
    them), ``rate * seconds`` arrivals on average; ``seed`` makes it repeatable.
    A generator, so a long step does not hold its whole schedule in memory.
    """
    if rate <= 0 or seconds <= 0:
        return
    if kind == "uniform":
        for i in range(math.floor(rate * seconds + 1e-9)):
            yield i / rate
        return
    if kind != "poisson":
        raise ValueError(f"unknown arrival kind {kind!r}; one of {KINDS}")
    rng = random.Random(seed)
    t = rng.expovariate(rate)
    while t < seconds:
        yield t
        t += rng.expovariate(rate)
