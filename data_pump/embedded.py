"""The embedded mode's pump: every journal of an in-process grid -> the in-process channel.

``spacegrid up`` runs :func:`run_embedded` as an asyncio task next to the unit and the
writer. Same shipping functions as the Kafka pump; one process owns every shard.
"""

from __future__ import annotations

import asyncio
import functools
import time

from data_pump.reconcile import QUIET_S, CreditReconciler
from data_pump.shipping import every_journal, refresh_unshipped, ship_shard
from data_pump.local_channel import LocalChannel
from data_pump.metrics import PumpMetrics
from data_pump.ownership import SHARDS, ShardDrainer
from grid_config.ports import Grid


async def run_embedded(
    grid: Grid,
    channel: LocalChannel,
    stop: asyncio.Event,
    *,
    batch_size: int = 500,
    metrics: PumpMetrics | None = None,
    metrics_interval_s: float = 1.0,
    credit_quiet_s: float = QUIET_S,
    reconcile_interval_s: float = 30.0,
) -> None:
    """Ship from ``grid`` into ``channel`` until ``stop`` is set (or the task is cancelled).

    On stop every journal finishes (or abandons unstored) its batch in flight before
    returning, so nothing is half-shipped; what was not shipped stays in the journals.
    Leaked journal credits are restored as in the Kafka pump (data_pump/reconcile.py).
    """
    metrics = metrics or PumpMetrics()
    log = grid.change_log
    loop = functools.partial(_ship, grid, channel, batch_size=batch_size, metrics=metrics)
    drainer = ShardDrainer(loop, on_change=metrics.owned.set)
    reconciler = CreditReconciler(log, credit_quiet_s,
                                  on_restored=lambda m, n: metrics.credits_restored.labels(map=m).inc(n))
    next_sweep = time.monotonic() + reconcile_interval_s
    await drainer.own(range(SHARDS))
    try:
        while not stop.is_set():
            await refresh_unshipped(log, metrics, drainer.owned, SHARDS)
            if time.monotonic() >= next_sweep:
                await reconciler.sweep(every_journal(log))
                next_sweep = time.monotonic() + reconcile_interval_s
            try:
                await asyncio.wait_for(stop.wait(), metrics_interval_s)
            except asyncio.TimeoutError:
                pass
    finally:
        await asyncio.shield(drainer.release_all())


async def _ship(grid: Grid, channel: LocalChannel, shard: int, stop: asyncio.Event, *, batch_size: int,
                metrics: PumpMetrics) -> None:
    log = grid.change_log
    await ship_shard(log, grid.names, channel, shard, SHARDS, stop, batch_size=batch_size, metrics=metrics,
                     on_shipped=log.shipped)
