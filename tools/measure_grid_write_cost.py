"""Measure the cost of a transactional write (entity + change record) vs a plain put.

Usage: python tools/measure_grid_write_cost.py --members 127.0.0.1:5701 --cluster spacegrid [-n 500]

Runs, side by side against one cluster, sequentially (latency, one caller) and with 16
concurrent callers (throughput): a plain ``put`` of a product-sized value, a transaction
writing that value plus its change record, and a read-modify-write transaction
(get_for_update + put + record). Prints p50/p95/p99 in ms and ops/s.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from typing import Awaitable, Callable

from grid_config.events import ChangeEvent
from grid_config.hazelcast_grid import HazelcastGrid
from grid_config.names import Names
from grid_config.ports import Tx
from grid_config.settings import CommonSettings


def pct(samples: list[float], p: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(p / 100 * len(s)))] * 1000


async def run(label: str, op: Callable[[int], Awaitable[None]], n: int, concurrency: int) -> None:
    lat: list[float] = []
    counter = iter(range(n))

    async def worker() -> None:
        for i in counter:
            t0 = time.perf_counter()
            await op(i)
            lat.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - t0
    print(f"{label:<34} c={concurrency:<3} p50={pct(lat, 50):6.2f} p95={pct(lat, 95):6.2f} "
          f"p99={pct(lat, 99):6.2f} ms  {n / wall:7.0f} ops/s  (mean {statistics.mean(lat)*1000:.2f})")


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--members", required=True)
    ap.add_argument("--cluster", required=True)
    ap.add_argument("-n", type=int, default=500)
    args = ap.parse_args()
    names = Names(namespace=f"bench{uuid.uuid4().hex[:6]}-", stripes=8)
    settings = CommonSettings(grid="hazelcast", hazelcast_members=args.members,
                              hazelcast_cluster=args.cluster, backlog_limit=10_000_000)
    grid = HazelcastGrid(settings, names)
    await grid.start()
    value = {"id": "0", "sku": "SKU-1", "name": "a product", "category": "books",
             "price_cents": 1999, "version": 1}

    async def plain_put(i: int) -> None:
        await grid.put(names.products, str(i + 1), {**value, "id": str(i + 1)})

    async def tx_put(i: int) -> None:
        key = str(i + 1)

        def work(tx: Tx) -> None:
            tx.put(names.products, key, {**value, "id": key})
            tx.record(ChangeEvent(kind="products", op="upsert", id=key, version=1, state=value))

        await grid.transact(work)

    async def tx_rmw(i: int) -> None:
        key = str(i % 200 + 1)  # 200 hot keys: some lock waits under concurrency

        def work(tx: Tx) -> None:
            current = tx.get(names.products, key) or value
            new = {**current, "version": current["version"] + 1}
            tx.put(names.products, key, new)
            tx.record(ChangeEvent(kind="products", op="upsert", id=key, version=new["version"], state=new))

        await grid.transact(work)

    try:
        for concurrency in (1, 16):
            for label, op in (("plain put", plain_put), ("tx: put + record", tx_put),
                              ("tx: get_for_update + put + record", tx_rmw)):
                await run(label, op, 50, concurrency)  # warm-up
                await run(label, op, args.n, concurrency)
        print("backlog after run:", await grid.backlog())
    finally:
        await grid.close()


if __name__ == "__main__":
    asyncio.run(main())
