"""HazelcastGrid reads never wait on a transaction's locks (a product read must not queue behind orders)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import AsyncIterator

import pytest

from grid_config.hazelcast_grid import HazelcastGrid
from grid_config.names import Names
from grid_config.ports import Tx
from grid_config.settings import CommonSettings, load
from tests.support.engines import ClusterHandle

HOLD_S = 3.0


@pytest.fixture
async def grid(hazelcast_cluster: ClusterHandle, names: Names) -> AsyncIterator[HazelcastGrid]:
    settings = load(
        CommonSettings, grid="hazelcast", hazelcast_members=",".join(hazelcast_cluster.members),
        hazelcast_cluster=hazelcast_cluster.cluster_name, namespace=names.namespace,
    )
    g = HazelcastGrid(settings, names)
    await g.start()
    yield g
    await g.close()


async def test_get_does_not_wait_for_a_key_locked_by_a_transaction(grid: HazelcastGrid) -> None:
    products = grid.names.products
    await grid.put(products, "42", {"id": "42", "stock": 5, "version": 1})
    locked = threading.Event()

    def hold(tx: Tx) -> None:
        tx.get(products, "42")  # read-for-update: the key is locked until the transaction ends
        locked.set()
        time.sleep(HOLD_S)
        raise RuntimeError("roll back")

    holder = asyncio.create_task(grid.transact(hold))
    await asyncio.get_running_loop().run_in_executor(None, locked.wait, 10)
    started = time.monotonic()
    value = await grid.get(products, "42")
    waited = time.monotonic() - started
    assert value == {"id": "42", "stock": 5, "version": 1}
    assert waited < HOLD_S / 3, f"get waited {waited:.2f}s behind a transaction's lock"
    with pytest.raises(RuntimeError):
        await holder
