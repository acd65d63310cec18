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


async def test_product_reads_see_transactional_updates_at_once(
    hazelcast_cluster: Any, hz_grid: HazelcastGrid, namespace: str
) -> None:
    """No near cache (decision 0017): every unit reads a committed write at once."""
    n = hz_grid.names
    await hz_grid.put(n.products, "1", {"id": "1", "version": 1})
    assert (await hz_grid.get(n.products, "1"))["version"] == 1
    await hz_grid.transact(lambda tx: tx.put(n.products, "1", {"id": "1", "version": 2}))
    assert (await hz_grid.get(n.products, "1"))["version"] == 2  # own write: at once

    other = HazelcastGrid(settings_for(hazelcast_cluster, 10_000, 4), n)
    await other.start()
    try:
        assert (await other.get(n.products, "1"))["version"] == 2
        await hz_grid.transact(lambda tx: tx.put(n.products, "1", {"id": "1", "version": 3}))
        assert (await other.get(n.products, "1"))["version"] == 3  # another unit: at once too
        assert (await other.get_many(n.products, ["1"]))["1"]["version"] == 3
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


async def test_records_taken_by_a_killed_process_stay_in_order(
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
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        # nothing is reserved on the members: the records never left the head of the stripe
        batch = await hz_grid.take_changes(1, 10)
        assert [e.id for e in batch.events] == ids
        await batch.rollback()
        assert [e.id for e in await drain(hz_grid, 1)] == ids
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


SHIPPER = textwrap.dedent(
    """
    import asyncio, random, sys
    from grid_config.hazelcast_grid import HazelcastGrid
    from grid_config.names import Names
    from grid_config.settings import CommonSettings

    async def main():
        grid = HazelcastGrid(CommonSettings(), Names(namespace=sys.argv[1], stripes=4))
        await grid.start()
        shipped = open(sys.argv[2], "a")

        async def ship(stripe):
            rng = random.Random(stripe)
            while True:
                batch = await grid.take_changes(stripe, rng.randint(1, 50))
                if batch.events:  # "acknowledged" = appended to the file, then forgotten
                    shipped.write("".join(f"{e.id}:{e.version}\\n" for e in batch.events))
                    shipped.flush()
                    await batch.commit()
                else:
                    await batch.rollback()
                    await asyncio.sleep(0.005)

        await asyncio.gather(*(ship(s) for s in range(4)))

    asyncio.run(main())
    """
)


async def test_takers_sigkilled_at_random_instants_lose_no_record(
    hazelcast_cluster: Any, hz_grid: HazelcastGrid, tmp_path: Any
) -> None:
    """Regression: with transactional polls, a taker killed while a poll was in flight
    orphaned that record on the member (10-12 lost of 20,000 over 15 kills, for good)."""
    import random

    n = hz_grid.names
    out = tmp_path / "shipped.txt"
    cmd = [sys.executable, "-c", SHIPPER, n.namespace, str(out)]
    env = {**os.environ, **hazelcast_cluster.settings_env, "PYTHONPATH": os.getcwd()}
    written: set[str] = set()
    sem = asyncio.Semaphore(16)

    async def write(i: int) -> None:
        key, version = str(10**15 + i % 300), i // 300 + 1
        async with sem:
            await hz_grid.transact(lambda tx: tx.record(event(key, version)))
        written.add(f"{key}:{version}")

    rng = random.Random(11)
    proc = subprocess.Popen(cmd, env=env)
    try:
        writing = asyncio.ensure_future(asyncio.gather(*(write(i) for i in range(6000))))
        for _ in range(10):
            await asyncio.sleep(rng.uniform(0.3, 1.2))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            proc = subprocess.Popen(cmd, env=env)
        await writing

        async def drained() -> None:
            assert await hz_grid.backlog() == 0

        await eventually_async(drained, timeout=60, interval=0.3)
        shipped = out.read_text().split()
        missing = written - set(shipped)
        print(f"\n[taker kills] written={len(written)} shipped={len(shipped)} "
              f"repeated={len(shipped) - len(set(shipped))} missing={len(missing)}")
        assert not missing, f"{len(missing)} records lost, e.g. {sorted(missing)[:5]}"
    finally:
        proc.kill()
        proc.wait()


async def test_lock_wait_timeout_is_a_transaction_conflict(hz_grid: HazelcastGrid) -> None:
    import threading

    from grid_config.errors import TransactionConflict

    n = hz_grid.names
    await hz_grid.put(n.products, "1", {"stock": 1})
    locked, release = threading.Event(), threading.Event()

    def holder(tx: Tx) -> None:
        tx.get(n.products, "1")
        locked.set()
        release.wait(30)

    holding = asyncio.create_task(hz_grid.transact(holder, timeout_s=30))
    await asyncio.to_thread(locked.wait, 10)
    try:
        with pytest.raises(TransactionConflict):
            await hz_grid.transact(lambda tx: tx.get(n.products, "1"), timeout_s=1)
    finally:
        release.set()
        await holding
    await hz_grid.transact(lambda tx: tx.put(n.products, "1", {"stock": 2}))
    assert await hz_grid.get(n.products, "1") == {"stock": 2}


async def test_commit_reports_records_it_removed_without_taking_them(
    hazelcast_cluster: Any, hz_grid: HazelcastGrid
) -> None:
    """A second taker on a stripe (ownership violated): the first taker's positional
    commit removes records it never shipped and hands them back instead of losing them."""
    from grid_config.errors import OutboxDisturbed

    n = hz_grid.names
    ids = ids_in_stripe(n, 2, 6)
    for i in ids:
        await hz_grid.transact(lambda tx, i=i: tx.record(event(i)))
    other = HazelcastGrid(settings_for(hazelcast_cluster, 10_000, 4), n)
    await other.start()
    try:
        mine = await hz_grid.take_changes(2, 3)
        theirs = await other.take_changes(2, 3)
        assert [e.id for e in mine.events] == [e.id for e in theirs.events] == ids[:3]
        await theirs.commit()
        with pytest.raises(OutboxDisturbed) as caught:
            await mine.commit()
        assert [event_from(r).id for r in caught.value.records] == ids[3:]
        assert await hz_grid.backlog() == 0
    finally:
        await other.close()


def event_from(raw: bytes) -> Any:
    from grid_config.events import ChangeEvent

    return ChangeEvent.from_bytes(raw)


async def test_a_failed_commit_is_unavailable_never_a_retryable_conflict(hz_grid: HazelcastGrid) -> None:
    """A commit that fails may have been applied: the unit must answer 503, not retry the
    unit of work (TransactionConflict is retried by the units and could apply it twice)."""
    n = hz_grid.names

    def outlives_its_timeout(tx: Tx) -> None:
        tx.put(n.products, "9001", {"id": "9001"})
        time.sleep(1.2)  # the transaction (timeout 1 s) expires before its commit

    with pytest.raises(GridUnavailable, match="outcome unknown"):
        await hz_grid.transact(outlives_its_timeout, timeout_s=1)
    assert await hz_grid.get(n.products, "9001") is None
