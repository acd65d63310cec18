"""Helpers of the writer's integration tests: writer subprocesses, a shop's event history
with replays and poison, Kafka produce/read, committed offsets, and the drift check
against the state the produced events imply."""

from __future__ import annotations

import asyncio
import os
import random
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from data_writer.batching import newer
from data_writer.drift import DriftReport, drift
from data_writer.ports import Sink
from grid_config.events import ChangeEvent
from grid_config.local_grid import LocalGrid
from grid_config.names import KINDS, Names
from grid_config.layout import Entries, grid_entries, merge_into
from tests.support.workers import REPO, WorkerProcess



# ---- the writer process -----------------------------------------------------------------


def writer_env(bootstrap: str, namespace: str, database_url: str, cache_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPACEGRID_")}
    env.update(
        {
            "SPACEGRID_KAFKA_BOOTSTRAP": bootstrap,
            "SPACEGRID_NAMESPACE": namespace,
            "SPACEGRID_KAFKA_PARTITIONS": "6",
            "SPACEGRID_DATABASE_URL": database_url,
            "SPACEGRID_CACHE_DIR": str(cache_dir),
            "SPACEGRID_WRITE_BATCH_SIZE": "500",
            "SPACEGRID_WRITE_INTERVAL_MS": "200",
            "SPACEGRID_WRITER_SESSION_TIMEOUT_S": "6",
            "PYTHONPATH": str(REPO),
            **extra,
        }
    )
    return env


class WriterProcess(WorkerProcess):
    """``python -m spacegrid.cli writer`` as a child process, SIGKILLed by PID when asked."""

    command = "writer"

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=2) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, ""
        except OSError:
            return 0, ""

    def metric(self, name: str) -> float:
        """Sum of a metric's samples on /metrics (0 when absent or unreachable)."""
        _, text = self.get("/metrics")
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name) and not line.startswith("#"):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def tail(self, n: int = 4000) -> str:
        logs = self.log_files()
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-n:]}" for p in logs)


# ---- a shop's history: versions per key, replays, poison --------------------------------


@dataclass
class History:
    """What a test produces: (topic kind, key, value) in send order, and what it means."""

    records: list[tuple[str, bytes, bytes]] = field(default_factory=list)
    valid: list[ChangeEvent] = field(default_factory=list)
    poison: Counter = field(default_factory=Counter)  # payload -> times injected

    def newest(self) -> dict[tuple[str, str], ChangeEvent]:
        best: dict[tuple[str, str], ChangeEvent] = {}
        for e in self.valid:
            cur = best.get((e.kind, e.id))
            if cur is None or newer(e, cur):
                best[(e.kind, e.id)] = e
        return best


def _ts(base: datetime, i: int) -> str:
    return (base + timedelta(milliseconds=i)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def shop_history(total: int, seed: int = 7, poison_share: float = 0.002, replay_share: float = 0.08,
                 tag: str = "") -> History:
    """About ``total`` records: users, products (stock changes), orders (placed -> paid ->
    shipped/cancelled, a few deleted), interleaved; then replays of earlier versions out of
    order; poison of five sorts sprinkled in, a third of it sent twice."""
    rng = random.Random(seed)
    h = History()
    base = datetime.now(timezone.utc)
    n_poison = max(5, int(total * poison_share))
    n_replay = int(total * replay_share)
    budget = total - n_poison - n_replay - n_poison // 3
    users = max(2, budget // 25)
    products = max(2, budget // 50)
    tick = 0
    streams: list[list[ChangeEvent]] = []

    def event(kind: str, op: str, eid: str, v: int, state: dict[str, Any]) -> ChangeEvent:
        nonlocal tick
        tick += 1
        return ChangeEvent(kind=kind, op=op, id=eid, version=v, state=state,  # type: ignore[arg-type]
                           request_id=f"r{tick}", changed_at=_ts(base, tick))

    for i in range(users):
        uid = f"{tag}u{i}"
        versions = rng.choice((1, 1, 2))
        streams.append([event("users", "upsert", uid, v, {
            "id": uid, "email": f"{uid}@t.invalid", "name": f"user {i} v{v}", "is_admin": False,
            "password_hash": "$argon2id$fake", "version": v}) for v in range(1, versions + 1)])
    for i in range(products):
        pid = f"{tag}p{i}"
        versions = rng.randint(1, 8)
        evs = [event("products", "upsert", pid, v, {
            "id": pid, "sku": f"SKU-{tag}{i}", "name": f"product {i}", "category": f"c{i % 7}",
            "price_cents": 100 + i, "stock": 1000 - v, "version": v}) for v in range(1, versions + 1)]
        streams.append(evs)
    made = sum(len(s) for s in streams)
    i = 0
    while made < budget:
        oid = f"{tag}o{i}"
        uid = f"{tag}u{rng.randrange(users)}"
        lines = [{"product_id": f"{tag}p{p}", "quantity": rng.randint(1, 3), "price_cents": 100 + p}
                 for p in rng.sample(range(products), k=min(products, rng.randint(1, 3)))]
        total_cents = sum(ln["quantity"] * ln["price_cents"] for ln in lines)
        path = ["placed"] + rng.choice([[], ["paid"], ["paid", "shipped"], ["cancelled"], ["paid", "cancelled"]])
        evs = [event("orders", "upsert", oid, v, {
            "id": oid, "user_id": uid, "status": status, "lines": lines, "total_cents": total_cents, "version": v})
            for v, status in enumerate(path, start=1)]
        if rng.random() < 0.02:
            evs.append(event("orders", "delete", oid, len(evs) + 1, {"id": oid}))
        streams.append(evs)
        made += len(evs)
        i += 1
    # interleave the keys' histories at random, each key's own versions in order
    rng.shuffle(streams)
    cursors = [0] * len(streams)
    live = list(range(len(streams)))
    ordered: list[ChangeEvent] = []
    while live:
        j = rng.randrange(len(live))
        s = live[j]
        ordered.append(streams[s][cursors[s]])
        cursors[s] += 1
        if cursors[s] == len(streams[s]):
            live[j] = live[-1]
            live.pop()
    h.valid = list(ordered)
    # replays: earlier versions again, out of order, spread over the second half
    replays = [rng.choice(ordered[: max(1, len(ordered) // 2 + k)]) for k in range(n_replay)]
    for r in replays:
        ordered.insert(rng.randrange(len(ordered) // 2, len(ordered) + 1), r)
    h.valid.extend(replays)
    recs: list[tuple[str, bytes, bytes]] = [(e.kind, e.key, e.to_bytes()) for e in ordered]
    # poison: undecodable, unknown schema, and three check violations, each payload unique
    for k in range(n_poison):
        sort = k % 5
        pid = f"{tag}bad{k}"
        if sort == 0:
            kind, value = "orders", b"{not json " + pid.encode()
        elif sort == 1:
            kind, value = "users", orjson.dumps({"schema": 2, "kind": "users", "op": "upsert", "id": pid,
                                                 "version": 1, "changed_at": _ts(base, 0), "state": {}})
        elif sort == 2:
            kind = "products"
            value = event("products", "upsert", pid, 1, {"id": pid, "sku": pid, "name": "x", "category": "c",
                                                          "price_cents": -5, "stock": 1, "version": 1}).to_bytes()
        elif sort == 3:
            kind = "orders"
            value = event("orders", "upsert", pid, 1, {"id": pid, "user_id": f"{tag}u0", "status": "lost",
                                                        "lines": [{"product_id": f"{tag}p0", "quantity": 1}],
                                                        "total_cents": 1, "version": 1}).to_bytes()
        else:
            kind, value = "users", event("users", "upsert", pid, 1, {"id": pid, "name": "no email"}).to_bytes()
        times = 2 if k % 3 == 0 else 1
        h.poison[value] += times
        for _ in range(times):
            recs.insert(rng.randrange(len(recs) + 1), (kind, pid.encode(), value))
    h.records = recs
    return h


# ---- Kafka ------------------------------------------------------------------------------


async def produce(bootstrap: str, names: Names, records: list[tuple[str, bytes, bytes]],
                  rate: float | None = None, chunk: int = 500) -> None:
    """Send every record (acks=all, idempotent); ``rate`` caps records/s."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True,
                                linger_ms=5, max_batch_size=256 * 1024)
    await producer.start()
    try:
        started = time.monotonic()
        for i in range(0, len(records), chunk):
            futures = [await producer.send(names.topic(kind), value, key=key) for kind, key, value in records[i:i + chunk]]
            await asyncio.gather(*futures)
            if rate:
                ahead = (i + chunk) / rate - (time.monotonic() - started)
                if ahead > 0:
                    await asyncio.sleep(ahead)
    finally:
        await producer.stop()


async def read_all(bootstrap: str, topic: str, timeout: float = 60.0) -> list[Any]:
    """Every record of ``topic`` from the beginning to its current end."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        deadline = time.monotonic() + timeout
        tps = [TopicPartition(topic, p) for p in await partitions(consumer, topic)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        out: list[Any] = []
        while any([await consumer.position(tp) < ends[tp] for tp in tps]):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: not read to its end in {timeout}s")
            batches = await consumer.getmany(timeout_ms=500, max_records=10_000)
            for records in batches.values():
                out.extend(records)
        return out
    finally:
        await consumer.stop()


async def partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    parts = consumer.partitions_for_topic(topic)
    if not parts:
        await consumer._client.force_metadata_update()  # noqa: SLF001 (topic metadata, once)
        parts = consumer.partitions_for_topic(topic)
    assert parts, f"topic {topic} has no partitions"
    return parts


async def lag(bootstrap: str, group: str, topics: list[str]) -> int:
    """End offsets minus the group's committed offsets, summed over ``topics``."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
        tps = [TopicPartition(t, p) for t in topics for p in await partitions(consumer, t)]
        ends = await consumer.end_offsets(tps)
        return sum(ends[tp] - (committed[tp].offset if tp in committed and committed[tp].offset >= 0 else 0)
                   for tp in tps)
    finally:
        await consumer.stop()
        await admin.close()


# ---- what the database must hold --------------------------------------------------------


async def expected_grid(names: Names, newest: dict[tuple[str, str], ChangeEvent]) -> LocalGrid:
    """An in-process grid holding each key's newest live state, laid out as the units do."""
    grid = LocalGrid(names, journaled_maps=())  # a reference state only: nothing to journal
    for kind in KINDS:
        pending: Entries = {}
        for (k, _), e in newest.items():
            if k == kind and e.op == "upsert":
                merge_into(pending, grid_entries(names, kind, e.state))
        for map_name, values in pending.items():
            await grid.put_all(map_name, values)
    return grid


async def drift_against(grid: LocalGrid, names: Names, sink: Sink) -> DriftReport:
    return await drift(grid, names, sink)
