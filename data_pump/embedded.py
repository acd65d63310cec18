"""The embedded mode's pump: every stripe of an in-process grid -> the in-process channel.

``spacegrid up`` runs :func:`run_embedded` as an asyncio task next to the unit and the
writer. Same shipping function as the Kafka pump; one process owns every stripe.
"""

from __future__ import annotations

import asyncio
import functools

from data_pump.local_channel import LocalChannel
from data_pump.metrics import PumpMetrics
from data_pump.ownership import StripeDrainer
from data_pump.shipping import drain_stripe
from grid_config.ports import Grid


async def run_embedded(
    grid: Grid,
    channel: LocalChannel,
    stop: asyncio.Event,
    *,
    batch_size: int = 500,
    idle_s: float = 0.02,
    metrics: PumpMetrics | None = None,
    metrics_interval_s: float = 1.0,
) -> None:
    """Ship from ``grid`` into ``channel`` until ``stop`` is set (or the task is cancelled).

    On stop every stripe finishes (or rolls back) its batch in flight before returning, so
    nothing is half-shipped; records still in the grid stay there.
    """
    metrics = metrics or PumpMetrics()
    loop = functools.partial(
        _drain, grid, channel, batch_size=batch_size, idle_s=idle_s, metrics=metrics
    )
    drainer = StripeDrainer(loop, on_change=metrics.owned.set)
    await drainer.own(range(grid.names.stripes))
    try:
        while not stop.is_set():
            metrics.record_backlog(await grid.backlog())
            try:
                await asyncio.wait_for(stop.wait(), metrics_interval_s)
            except asyncio.TimeoutError:
                pass
    finally:
        await asyncio.shield(drainer.release_all())


async def _drain(
    grid: Grid,
    channel: LocalChannel,
    stripe: int,
    stop: asyncio.Event,
    *,
    batch_size: int,
    idle_s: float,
    metrics: PumpMetrics,
) -> None:
    await drain_stripe(
        grid, grid.names, channel, stripe, stop, batch_size=batch_size, idle_s=idle_s, metrics=metrics
    )
