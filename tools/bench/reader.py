"""``spacegrid bench reader``: cold-start entities/s of the reader vs raw ``put_all`` (docs/benchmarks.md §7).

Same run, same cluster: a SQLite database is filled with N users, products and orders
through the writer's sink; then (1) the reader loads it into an empty namespace of a
real Hazelcast cluster (read rows + lay out + encode + put_all), and (2) the same grid
entries, prepared beforehand, go through raw hazelcast-python-client ``put_all`` calls
into another empty namespace. Engines are started on free loopback ports and stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from tools.bench.results import save


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--entities", type=int, default=30_000, help="total entities (1/3 each kind)")
    parser.add_argument("--members", type=int, default=1, help="Hazelcast members to start")
    parser.add_argument("--batch", type=int, default=1000, help="entities per put_all")


def _events(n: int) -> list:
    from grid_config.events import ChangeEvent

    third = max(1, n // 3)
    events = []
    for i in range(third):
        uid, pid, oid = f"{10**15 + i}", f"{2 * 10**15 + i}", f"{3 * 10**15 + i}"
        events.append(ChangeEvent("users", "upsert", uid, 1, {
            "id": uid, "email": f"u{i}@bench.invalid", "name": f"U{i}", "is_admin": False,
            "password_hash": "$argon2id$v=19$m=64,t=1,p=1$x$y", "version": 1}))
        events.append(ChangeEvent("products", "upsert", pid, 1, {
            "id": pid, "sku": f"B-{i}", "name": f"P{i}", "category": f"c{i % 10}", "price_cents": 100 + i,
            "stock": 50, "version": 1}))
        events.append(ChangeEvent("orders", "upsert", oid, 1, {
            "id": oid, "user_id": uid, "status": "placed", "lines": [{"product_id": pid, "quantity": 1, "price_cents": 100 + i}],
            "total_cents": 100 + i, "version": 1}))
    return events


async def _bench(entities: int, members: int, batch: int) -> dict:
    import hazelcast
    from hazelcast.core import HazelcastJsonValue

    from data_reader.loader import load_grid
    from data_writer.batching import prepare
    from data_writer.sqlite import sqlite_sink
    from spacegrid.bootstrap import open_grid
    from grid_config.names import Names
    from grid_config.settings import CommonSettings
    from grid_config.layout import Entries, grid_entries, merge_into
    from tools.local.processes import free_ports
    from tools.local.stack import LocalStack

    import orjson

    with tempfile.TemporaryDirectory() as tmp:
        sink = sqlite_sink(Path(tmp) / "bench.db")
        await sink.migrate()
        events = _events(entities)
        for i in range(0, len(events), 5000):
            await sink.apply(prepare(events[i : i + 5000]).events)

        from grid_config.settings import load

        cache = load(CommonSettings).cache_dir
        ports = free_ports(members + 2)
        stack = LocalStack.create(cache, profile=f"bench-reader-{ports[0]}", cluster_name=f"bench-{ports[0]}",
                                  member_base_port=ports[0], kafka_port=ports[-2], controller_port=ports[-1],
                                  member_slots=members)
        await asyncio.to_thread(stack.cluster.start, members)
        try:
            settings = CommonSettings(grid="hazelcast", hazelcast_members=stack.cluster.member_list,
                                      hazelcast_cluster=stack.cluster.cluster_name)
            grid = open_grid(settings, Names("reader-"))
            await grid.start()
            try:
                started = time.perf_counter()
                report = await load_grid(grid, sink, batch=batch)
                reader_s = time.perf_counter() - started
            finally:
                await grid.close()

            raw_names = Names("raw-")
            prepared: Entries = {}
            async for kind_rows in _all_rows(sink):
                kind, row = kind_rows
                merge_into(prepared, grid_entries(raw_names, kind, row.state))
            client = hazelcast.HazelcastClient(cluster_name=stack.cluster.cluster_name,
                                               cluster_members=stack.cluster.addresses())
            try:
                values = {m: [(k, HazelcastJsonValue(orjson.dumps(v).decode())) for k, v in entries.items()]
                          for m, entries in prepared.items()}
                started = time.perf_counter()
                for m, items in values.items():
                    target = client.get_map(m).blocking()
                    for i in range(0, len(items), batch):
                        target.put_all(dict(items[i : i + batch]))
                raw_s = time.perf_counter() - started
            finally:
                client.shutdown()
        finally:
            await sink.close()
            await asyncio.to_thread(stack.down)
    loaded = report.total
    return {
        "entities": loaded, "members": members, "batch": batch,
        "reader_s": reader_s, "reader_entities_per_s": loaded / reader_s,
        "raw_put_all_s": raw_s, "raw_entities_per_s": loaded / raw_s,
        "ratio": raw_s / reader_s,
    }


async def _all_rows(sink):  # noqa: ANN001, ANN202 - a small generator over every kind
    from grid_config.names import KINDS

    for kind in KINDS:
        async for row in sink.read_entities(kind):
            yield kind, row


def run(args: argparse.Namespace) -> int:
    result = asyncio.run(_bench(args.entities, args.members, args.batch))
    print(f"{'path':<28}{'entities':>10}{'seconds':>10}{'entities/s':>12}")
    print(f"{'reader (SQLite -> grid)':<28}{result['entities']:>10}{result['reader_s']:>10.2f}{result['reader_entities_per_s']:>12,.0f}")
    print(f"{'raw put_all (prepared)':<28}{result['entities']:>10}{result['raw_put_all_s']:>10.2f}{result['raw_entities_per_s']:>12,.0f}")
    print(f"reader / raw throughput: {result['ratio']:.0%}   ({args.members} member(s), batch {args.batch})")
    print(f"saved {save('reader', result)}")
    return 0
