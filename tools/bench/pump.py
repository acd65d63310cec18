"""``spacegrid bench pump``: pump changes/s into Kafka vs a raw aiokafka producer (docs/benchmarks.md §4).

Same machine, same run, same records:

1. **pump**: ``--records`` changes are written through the grid port (one single-key
   ``put`` per change, as units write them), so the map journals hold them un-shipped; then the
   real pump -- the Faust app of ``spacegrid pump`` (``data_pump.app.build``: shard
   ownership, journal readers, idempotent acks=all Faust producer) -- runs in this process
   and ships them. Rate = changes / (time from owning its shards to the last change
   acknowledged and its position stored).
2. **raw**: a bare aiokafka producer (idempotent, acks=all) sends the very bytes the pump
   published, to the same topics with the same keys: the ceiling without the grid.
3. **lag**: with the pump running, writers add changes at ``--lag-rate`` per second for
   ``--lag-seconds``; p50/p99 of (acknowledged_at - changed_at), the time a change waits
   in the journal plus its trip to Kafka (acknowledged_at is taken when the broker's ack
   arrives). The drain phase has no such figure: its changes waited in the journals by design.

Rounds alternate pump and raw (``--rounds``) so machine noise hits both alike; the table
shows the median. Engines (Hazelcast members with capped heaps, one Kafka broker) are
started on free loopback ports through ``tools.local`` and stopped at the end.
JSON goes to ``bench-results/pump-<time>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import statistics
import time
import uuid
from pathlib import Path
from typing import Any, Awaitable

ROUND_KEYS = 2000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--records", type=int, default=10_000,
                        help="changes waiting in the journals per round; with the pump stopped a "
                             "partition holds at most its bound B (G7), so keep well under B x 271")
    parser.add_argument("--rounds", type=int, default=2, help="pump/raw rounds, alternating")
    parser.add_argument("--members", type=int, default=2, help="Hazelcast members (one synchronous backup)")
    parser.add_argument("--lag-rate", type=float, default=500.0, help="changes/s written during the lag phase")
    parser.add_argument("--lag-seconds", type=float, default=10.0, help="duration of the lag phase")
    parser.add_argument("--results", type=Path, default=Path("bench-results"))


class TimedPublisher:
    """Wraps the pump's publisher: notes (ack time, topic, key, value) of every acknowledged record."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.acked: list[tuple[float, str, bytes, bytes]] = []
        #: off during the throughput phase: a callback per record would slow the pump side
        self.timing = False

    async def send(self, topic: str, key: bytes, value: bytes, headers: Any = None) -> Awaitable[Any]:
        ack = await self.inner.send(topic, key, value, headers)
        if not self.timing:
            return ack
        fut = asyncio.ensure_future(ack)

        def done(f: "asyncio.Future[Any]") -> None:
            if not f.cancelled() and f.exception() is None:
                self.acked.append((time.time(), topic, key, value))

        fut.add_done_callback(done)
        return fut

    async def flush(self) -> None:
        await self.inner.flush()


def _latencies_ms(acked: list[tuple[float, str, bytes, bytes]]) -> list[float]:
    import orjson

    from grid_config.events import parse_iso

    return [(t - parse_iso(orjson.loads(v)["changed_at"]).timestamp()) * 1000 for t, _, _, v in acked]


async def _fill(grid: Any, count: int, start: int, rate: float | None = None, concurrency: int = 32,
                written: list[tuple[str, bytes, bytes]] | None = None) -> float:
    """Write ``count`` product changes, one single-key ``put`` each; returns changes/s achieved.

    ``written`` collects (topic, key, record) of each committed change: the raw side
    sends exactly these.
    """
    from grid_config.events import ChangeEvent

    names = grid.names
    versions: dict[str, int] = {}
    counter = iter(range(start, start + count))
    t0 = time.monotonic()

    async def worker(w: int) -> None:
        for i in counter:
            if rate:  # open-loop schedule: change i is due at t0 + i / rate
                await asyncio.sleep(max(0.0, t0 + (i - start) / rate - time.monotonic()))
            pid = str(10**15 + i % ROUND_KEYS)
            version = versions[pid] = versions.get(pid, 0) + 1
            state = {"id": pid, "sku": f"sku-{pid}", "name": "bench", "category": "c",
                     "price_cents": 100, "stock": version, "version": version}

            event = ChangeEvent(kind="products", op="upsert", id=pid, version=version, state=state,
                                request_id=f"bench-{i}")
            await grid.put(names.products, pid, state, request_id=event.request_id)  # as a unit writes
            if written is not None:
                written.append((names.topic(event.kind), event.key, event.to_bytes()))

    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return count / (time.monotonic() - t0)


async def _pump_round(settings: Any, fill_grid: Any, records: int, lag: tuple[float, float] | None) -> dict:
    """Fill the journals, then run the real pump app until it shipped everything."""
    from data_pump.app import build
    from data_pump.shipping import unshipped
    from spacegrid.bootstrap import open_grid

    written: list[tuple[str, bytes, bytes]] = []
    fill_rate = await _fill(fill_grid, records, 0, written=written)
    assert await unshipped(fill_grid.change_log) == records
    app = build(settings, open_grid(settings))
    runtime = app.pump_runtime  # type: ignore[attr-defined]
    timed = runtime.publisher = TimedPublisher(runtime.publisher)
    await app.start()
    try:
        while not runtime.drainer.owned or not runtime.grid_ready.is_set():
            await asyncio.sleep(0.002)
        t0 = time.monotonic()
        while runtime.metrics.shipped._value.get() < records:  # noqa: SLF001 - in-process counter
            await asyncio.sleep(0.002)
        seconds = time.monotonic() - t0
        result = {"records": records, "seconds": seconds, "rate": records / seconds, "fill_rate": fill_rate,
                  "owned_shards": len(runtime.drainer.owned)}
        if lag is not None:
            rate, duration = lag
            timed.timing = True
            n = int(rate * duration)
            achieved = await _fill(fill_grid, n, records, rate=rate, concurrency=8)
            while runtime.metrics.shipped._value.get() < records + n:  # noqa: SLF001
                await asyncio.sleep(0.01)
            lat = _latencies_ms(timed.acked)
            result["lag"] = {"rate": achieved, "records": len(lat), **_pcts(lat)}
        result["sent"] = written
        return result
    finally:
        await app.stop()


def _pcts(samples: list[float]) -> dict:
    from tools.bench.results import percentile

    return {"p50_ms": percentile(samples, 50), "p99_ms": percentile(samples, 99)}


async def _raw_round(bootstrap: list[str], sent: list[tuple[str, bytes, bytes]]) -> dict:
    """The same records through a bare idempotent acks=all aiokafka producer."""
    from data_pump.kafka_publisher import AiokafkaPublisher

    publisher = AiokafkaPublisher(bootstrap)
    await publisher.start()
    try:
        t0 = time.monotonic()
        acks = [await publisher.send(topic, key, value) for topic, key, value in sent]
        await asyncio.gather(*acks)
        seconds = time.monotonic() - t0
    finally:
        await publisher.stop()
    return {"records": len(sent), "seconds": seconds, "rate": len(sent) / seconds}


async def _bench(args: argparse.Namespace, env: dict[str, str]) -> dict:
    from data_pump.settings import PumpSettings
    from data_pump.topics import ensure_topics, pump_topics
    from spacegrid.bootstrap import open_grid
    from tools.local.processes import free_ports

    pumps: list[dict] = []
    raws: list[dict] = []
    for n in range(args.rounds):
        ns = f"bp{uuid.uuid4().hex[:6]}-"
        settings = PumpSettings(**{k.removeprefix("SPACEGRID_").lower(): v for k, v in env.items()},
                                namespace=ns,
                                http_port=free_ports(1)[0])
        await ensure_topics(settings.bootstrap_servers, pump_topics(settings))
        fill_grid = open_grid(settings)
        await fill_grid.start()
        try:
            lag = (args.lag_rate, args.lag_seconds) if n == 0 and args.lag_seconds > 0 else None
            pump = await _pump_round(settings, fill_grid, args.records, lag)
        finally:
            await fill_grid.close()
        sent = pump.pop("sent")
        raw = await _raw_round(settings.bootstrap_servers, sent)
        pumps.append(pump)
        raws.append(raw)
        print(f"  round {n + 1}: pump {pump['rate']:8.0f} changes/s ({pump['seconds']:.2f} s)   "
              f"raw aiokafka {raw['rate']:8.0f} records/s ({raw['seconds']:.2f} s)   "
              f"ratio {pump['rate'] / raw['rate']:.0%}   (journals filled at {pump['fill_rate']:.0f}/s)",
              flush=True)
    pump_rate = statistics.median(p["rate"] for p in pumps)
    raw_rate = statistics.median(r["rate"] for r in raws)
    return {"pump": pumps, "raw": raws, "pump_rate_median": pump_rate, "raw_rate_median": raw_rate,
            "ratio": pump_rate / raw_rate, "lag": pumps[0].get("lag"), "records": args.records,
            "members": args.members}


def run(args: argparse.Namespace) -> int:
    from tools.bench import results as bench_results
    from tools.local import jars
    from tools.local.processes import free_ports
    from tools.local.stack import LocalStack

    logging.basicConfig(level=logging.WARNING)
    cache = Path(os.environ.get("SPACEGRID_CACHE_DIR", os.path.expanduser("~/.cache/spacegrid")))
    jars.require_tools()
    for engine in ("hazelcast", "kafka"):
        jars.ensure_jars(cache, engine)
    tag = uuid.uuid4().hex[:8]
    ports = free_ports(args.members + 2)
    stack = LocalStack.create(cache, profile=f"bench-pump-{tag}", cluster_name=f"spacegrid-bench-{tag}",
                              member_base_port=ports[0], kafka_port=ports[-2], controller_port=ports[-1],
                              member_slots=args.members)
    try:
        print(f"starting {args.members} Hazelcast member(s) and a Kafka broker on loopback ...", flush=True)
        stack.cluster.start(args.members)
        stack.broker.start()
        env = {"SPACEGRID_GRID": "hazelcast", "SPACEGRID_HAZELCAST_MEMBERS": stack.cluster.member_list,
               "SPACEGRID_HAZELCAST_CLUSTER": stack.cluster.cluster_name,
               "SPACEGRID_KAFKA_BOOTSTRAP": stack.broker.bootstrap, "SPACEGRID_CACHE_DIR": str(cache)}
        print(f"{args.records} records per round over {ROUND_KEYS} keys, {args.rounds} round(s), "
              f"pump in this process (Faust app + shipping), raw producer right after", flush=True)
        result = asyncio.run(_bench(args, env))
    finally:
        stack.down()
        shutil.rmtree(stack.profile.root, ignore_errors=True)
    print()
    print(table(result))
    path = bench_results.save("pump", result, args.results)
    print(f"\nJSON: {path}")
    return 0


def table(r: dict) -> str:
    lines = [
        "| side | changes/s (median) | vs raw |",
        "|---|---:|---:|",
        f"| pump (Faust app: journal read + publish + ack + position stored) | {r['pump_rate_median']:.0f} | {r['ratio']:.0%} |",
        f"| raw aiokafka producer (idempotent, acks=all), same records | {r['raw_rate_median']:.0f} | 100% |",
    ]
    lag = r.get("lag")
    if lag:
        lines += [
            "",
            f"published_at - changed_at at {lag['rate']:.0f} changes/s steady load "
            f"({lag['records']} records): p50 {lag['p50_ms']:.0f} ms, p99 {lag['p99_ms']:.0f} ms",
        ]
    return "\n".join(lines)
