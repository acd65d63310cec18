"""The grid contract on the Hazelcast adapter (3-member harness cluster), plus its own promises."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from typing import Any, AsyncIterator

import pytest

from grid_config.errors import GridUnavailable
from grid_config.hazelcast_grid import HazelcastGrid
from grid_config.names import Names
from grid_config.ports import Grid, Tx
from grid_config.settings import CommonSettings
from tests.contract.grid_contract import GridContract, GridFactory, drain, event, ids_in_stripe
from tests.support.eventually import eventually_async

pytestmark = pytest.mark.integration


def settings_for(cluster: Any, backlog_limit: int, stripes: int) -> CommonSettings:
    return CommonSettings(
        grid="hazelcast",
        hazelcast_members=",".join(cluster.members),
        hazelcast_cluster=cluster.cluster_name,
        backlog_limit=backlog_limit,
        outbox_stripes=stripes,
    )


class TestHazelcastGridContract(GridContract):
    @pytest.fixture
    async def grid_factory(self, hazelcast_cluster: Any) -> AsyncIterator[GridFactory]:
        made: list[Grid] = []

        async def make(names: Names, backlog_limit: int) -> Grid:
            grid = HazelcastGrid(settings_for(hazelcast_cluster, backlog_limit, names.stripes), names)
            await grid.start()
            made.append(grid)
            return grid

        yield make
        for grid in made:
            await grid.close()


@pytest.fixture
async def hz_grid(hazelcast_cluster: Any, namespace: str) -> AsyncIterator[HazelcastGrid]:
    names = Names(namespace=namespace, stripes=4)
    grid = HazelcastGrid(settings_for(hazelcast_cluster, 10_000, 4), names)
    await grid.start()
    yield grid
    await grid.close()


async def test_unreachable_cluster_fails_fast_with_grid_unavailable() -> None:
    settings = CommonSettings(grid="hazelcast", hazelcast_members="127.0.0.1:1", hazelcast_cluster="nobody")
    grid = HazelcastGrid(settings, Names(namespace="x-"), connect_timeout_s=2.0)
    started = time.monotonic()
    with pytest.raises(GridUnavailable):
        await grid.start()
    assert time.monotonic() - started < 10
    with pytest.raises(GridUnavailable):
        await grid.get("x-products", "1")  # not started: refuses at once, never hangs
    await grid.close()


async def test_near_cached_product_reads_see_transactional_updates(
    hazelcast_cluster: Any, hz_grid: HazelcastGrid, namespace: str
) -> None:
    n = hz_grid.names
    await hz_grid.put(n.products, "1", {"id": "1", "version": 1})
    assert (await hz_grid.get(n.products, "1"))["version"] == 1  # now near-cached
    await hz_grid.transact(lambda tx: tx.put(n.products, "1", {"id": "1", "version": 2}))
    assert (await hz_grid.get(n.products, "1"))["version"] == 2  # own write: at once

    other = HazelcastGrid(settings_for(hazelcast_cluster, 10_000, 4), n)
    await other.start()
    try:
        assert (await other.get(n.products, "1"))["version"] == 2
        await hz_grid.transact(lambda tx: tx.put(n.products, "1", {"id": "1", "version": 3}))

        async def other_sees_v3() -> None:  # another unit: via invalidation events
            assert (await other.get(n.products, "1"))["version"] == 3

        await eventually_async(other_sees_v3, timeout=20)
    finally:
        await other.close()


TAKER = textwrap.dedent(
    """
    import asyncio, os, sys
    from grid_config.hazelcast_grid import HazelcastGrid
    from grid_config.names import Names
    from grid_config.settings import CommonSettings

    async def main():
        grid = HazelcastGrid(CommonSettings(), Names(namespace=sys.argv[1], stripes=4))
        await grid.start()
        batch = await grid.take_changes(int(sys.argv[2]), 3)
        print("taken", ",".join(e.id for e in batch.events), flush=True)
        await asyncio.sleep(3600)  # never commits: killed here

    asyncio.run(main())
    """
)


async def test_records_taken_by_a_killed_process_reappear_in_order(
    hazelcast_cluster: Any, hz_grid: HazelcastGrid
) -> None:
    n = hz_grid.names
    ids = ids_in_stripe(n, 1, 5)
    for i in ids:
        await hz_grid.transact(lambda tx, i=i: tx.record(event(i)))
    env = {**os.environ, **hazelcast_cluster.settings_env, "PYTHONPATH": os.getcwd()}
    proc = subprocess.Popen([sys.executable, "-c", TAKER, n.namespace, "1"], env=env,
                            stdout=subprocess.PIPE, text=True)
    try:
        line = await asyncio.to_thread(proc.stdout.readline)  # type: ignore[union-attr]
        assert line.strip() == "taken " + ",".join(ids[:3])
        visible = await hz_grid.take_changes(1, 10)
        assert [e.id for e in visible.events] == ids[3:]  # the taken three are invisible
        await visible.rollback()
        killed_at = time.monotonic()
        proc.send_signal(signal.SIGKILL)
        proc.wait()

        async def all_back_in_order() -> None:
            batch = await hz_grid.take_changes(1, 10)
            got = [e.id for e in batch.events]
            await batch.rollback()
            assert got == ids, got

        await eventually_async(all_back_in_order, timeout=90, interval=0.5)
        print(f"records reappeared {time.monotonic() - killed_at:.1f}s after SIGKILL")
        assert [e.id for e in await drain(hz_grid, 1)] == ids
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def test_lock_wait_timeout_is_a_transaction_conflict(hz_grid: HazelcastGrid) -> None:
    import threading

    from grid_config.errors import TransactionConflict

    n = hz_grid.names
    await hz_grid.put(n.stock, "1", {"stock": 1})
    locked, release = threading.Event(), threading.Event()

    def holder(tx: Tx) -> None:
        tx.get(n.stock, "1")
        locked.set()
        release.wait(30)

    holding = asyncio.create_task(hz_grid.transact(holder, timeout_s=30))
    await asyncio.to_thread(locked.wait, 10)
    try:
        with pytest.raises(TransactionConflict):
            await hz_grid.transact(lambda tx: tx.get(n.stock, "1"), timeout_s=1)
    finally:
        release.set()
        await holding
    await hz_grid.transact(lambda tx: tx.put(n.stock, "1", {"stock": 2}))
    assert await hz_grid.get(n.stock, "1") == {"stock": 2}
