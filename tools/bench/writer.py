"""``spacegrid bench writer``: the data writer measured side by side (docs/benchmarks.md §5, §6).

1. **Sink vs raw executemany**, SQLite and PostgreSQL, per batch size: the sink's
   version-guarded apply (version lookup, row building, guarded upsert, order lines) vs a
   hand-written baseline doing the least a correct writer must: build the same rows from
   the same events and ``executemany`` a plain ``INSERT .. ON CONFLICT (id) DO UPDATE``
   (no guard) into the *same* tables with the *same* indexes, one transaction per batch.
   Each round writes every key twice (inserts, then updates); the two sides alternate.
2. **Whole writer vs raw consumer**: the same events pre-produced to Kafka, consumed by
   ``spacegrid writer`` (Faust, a subprocess) vs a raw aiokafka consumer feeding the same
   BatchWriter + PostgreSQL sink; throughput from first to last event persisted.
3. **Write-behind lag**: ``persisted_at - changed_at`` of every row, with the writer
   running and events produced at a fixed rate.

Engines are its own: a Kafka broker through ``tools.local`` and a private PostgreSQL
(fsync on) on free loopback ports, stopped by PID at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from tools.bench.results import percentile, save

REPO = Path(__file__).resolve().parents[2]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--keys", type=int, default=6000, help="entities per sink round (each written twice)")
    parser.add_argument("--batch-sizes", default="100,500,2000")
    parser.add_argument("--repeats", type=int, default=2, help="alternating rounds per side and batch size")
    parser.add_argument("--kafka-events", type=int, default=30000, help="events for the whole-writer comparison")
    parser.add_argument("--lag-rate", type=int, default=1000, help="events/s for the lag measurement")
    parser.add_argument("--lag-seconds", type=int, default=20)
    parser.add_argument("--only", choices=["sink", "kafka"], help="run one part only")
    parser.add_argument("--results", type=Path, default=Path("bench-results"))


# ---- events -----------------------------------------------------------------------------


def shop_events(keys: int, version: int = 1, seed: int = 1, tag: str = "") -> list[Any]:
    """``keys`` entities: 1/6 users, 1/6 products, the rest orders of 1-3 lines (parents first)."""
    from grid_config.events import ChangeEvent, utc_now_iso

    rng = random.Random(seed)
    n_users = n_products = max(1, keys // 6)
    now = utc_now_iso()
    out = []
    for i in range(n_users):
        uid = f"{tag}u{i}"
        out.append(ChangeEvent("users", "upsert", uid, version, {
            "id": uid, "email": f"{uid}@bench.invalid", "name": f"user {i}", "is_admin": False,
            "password_hash": "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo", "version": version},
            changed_at=now))
    for i in range(n_products):
        pid = f"{tag}p{i}"
        out.append(ChangeEvent("products", "upsert", pid, version, {
            "id": pid, "sku": f"SKU-{tag}{i}", "name": f"product {i}", "category": f"c{i % 9}",
            "price_cents": 100 + i, "stock": 1000 - version, "version": version}, changed_at=now))
    for i in range(keys - n_users - n_products):
        oid = f"{tag}o{i}"
        lines = [{"product_id": f"{tag}p{rng.randrange(n_products)}", "quantity": rng.randint(1, 3), "price_cents": 100}
                 for _ in range(rng.randint(1, 3))]
        lines = list({ln["product_id"]: ln for ln in lines}.values())
        out.append(ChangeEvent("orders", "upsert", oid, version, {
            "id": oid, "user_id": f"{tag}u{rng.randrange(n_users)}", "status": "placed" if version == 1 else "paid",
            "lines": lines, "total_cents": 100 * sum(ln["quantity"] for ln in lines), "version": version},
            changed_at=now))
    return out


# ---- 1. sink vs raw executemany ---------------------------------------------------------


class RawWriter:
    """The baseline: same rows from the same events, plain upsert, no guard, no lookups."""

    def __init__(self, conn: Any, ph: str, ts: Callable[[datetime], Any]) -> None:
        from data_writer import schema
        from data_writer.sql_core import on_conflict_upsert_sql

        self.conn, self.ph, self.ts = conn, ph, ts
        self.sql = {k: on_conflict_upsert_sql(k, ph).split(" WHERE ")[0] for k in schema.ENTITY_TABLES}
        cols = ", ".join(schema.LINE_COLUMNS)
        self.lines_delete = f"DELETE FROM {schema.LINES_TABLE} WHERE order_id = {ph}"
        self.lines_insert = f"INSERT INTO {schema.LINES_TABLE} ({cols}) VALUES ({', '.join([ph] * 5)})"

    def write(self, events: list[Any]) -> None:
        from data_writer import schema
        from grid_config.events import parse_iso

        now = self.ts(datetime.now(timezone.utc))
        by_kind: dict[str, list[tuple[Any, ...]]] = {k: [] for k in schema.ENTITY_TABLES}
        lines: list[tuple[Any, ...]] = []
        for e in events:
            s = e.state
            if e.kind == "users":
                data: tuple[Any, ...] = (s.get("email"), s.get("name"), s.get("is_admin"), s.get("password_hash"))
            elif e.kind == "products":
                data = (s.get("sku"), s.get("name"), s.get("category"), s.get("price_cents"), s.get("stock"))
            else:
                data = (s.get("user_id"), s.get("status"), s.get("total_cents"))
                lines.extend((e.id, i, ln["product_id"], ln["quantity"], ln.get("price_cents", 0))
                             for i, ln in enumerate(s["lines"]))
            by_kind[e.kind].append(
                (e.id, *data, schema.state_json(schema.stored_state(e.kind, s)), e.version, False, self.ts(parse_iso(e.changed_at)), now))
        cur = self.conn.cursor()
        if self.ph == "?":
            cur.execute("BEGIN IMMEDIATE")
        for kind, rows in by_kind.items():
            if rows:
                cur.executemany(self.sql[kind], rows)
        if by_kind["orders"]:
            cur.executemany(self.lines_delete, [(r[0],) for r in by_kind["orders"]])
            cur.executemany(self.lines_insert, lines)
        self.conn.commit()


async def _sink_round(make_sink: Callable[[], Any], events: list[list[Any]], batch: int) -> float:
    """Rows/s of the sink applying ``events`` (rounds of prepared batches)."""
    from data_writer.batching import parents_first

    sink = make_sink()
    try:
        await sink.migrate()
        rows = 0
        started = time.perf_counter()
        for round_ in events:
            for i in range(0, len(round_), batch):
                part = parents_first(round_[i:i + batch])
                await sink.apply(part)
                rows += len(part)
        return rows / (time.perf_counter() - started)
    finally:
        await sink.close()


def _raw_round(connect: Callable[[], Any], ph: str, ts: Callable[[datetime], Any],
               events: list[list[Any]], batch: int) -> float:
    from data_writer.batching import parents_first

    conn = connect()
    try:
        raw = RawWriter(conn, ph, ts)
        rows = 0
        started = time.perf_counter()
        for round_ in events:
            for i in range(0, len(round_), batch):
                part = parents_first(round_[i:i + batch])
                raw.write(part)
                rows += len(part)
        return rows / (time.perf_counter() - started)
    finally:
        conn.close()


async def bench_sinks(args: argparse.Namespace, pg_admin_dsn: str | None, work: Path) -> list[dict[str, Any]]:
    from data_writer.postgres import postgres_sink
    from data_writer.sqlite import SqliteDialect, sqlite_sink

    rounds = [shop_events(args.keys, 1), shop_events(args.keys, 2)]
    out = []
    dialects = ["sqlite"] + (["postgresql"] if pg_admin_dsn else [])
    for dialect in dialects:
        for batch in [int(b) for b in args.batch_sizes.split(",")]:
            sink_rates, raw_rates = [], []
            for rep in range(args.repeats):
                for side in (("sink", "raw") if rep % 2 == 0 else ("raw", "sink")):
                    if dialect == "sqlite":
                        path = work / f"bench-{uuid.uuid4().hex[:8]}.db"
                        if side == "sink":
                            rate = await _sink_round(lambda: sqlite_sink(path), rounds, batch)
                        else:
                            migrator = sqlite_sink(path)
                            await migrator.migrate()
                            await migrator.close()
                            d = SqliteDialect(path)

                            def connect() -> Any:
                                conn = d.connect()
                                conn.isolation_level = None
                                return conn

                            rate = await asyncio.to_thread(_raw_round, connect, "?", d.ts, rounds, batch)
                        for f in work.glob(path.name + "*"):
                            f.unlink()
                    else:
                        dsn = _new_database(pg_admin_dsn)  # type: ignore[arg-type]
                        try:
                            if side == "sink":
                                rate = await _sink_round(lambda: postgres_sink(dsn), rounds, batch)
                            else:
                                migrator = postgres_sink(dsn)
                                await migrator.migrate()
                                await migrator.close()
                                import psycopg

                                rate = await asyncio.to_thread(
                                    _raw_round, lambda: psycopg.connect(dsn), "%s", lambda d: d, rounds, batch)
                        finally:
                            _drop_database(pg_admin_dsn, dsn)  # type: ignore[arg-type]
                    (sink_rates if side == "sink" else raw_rates).append(rate)
            s, r = max(sink_rates), max(raw_rates)
            row = {"dialect": dialect, "batch": batch, "sink_rows_s": round(s), "raw_rows_s": round(r),
                   "ratio": round(s / r, 2), "sink_all": [round(x) for x in sink_rates],
                   "raw_all": [round(x) for x in raw_rates]}
            print(f"  {dialect:<10} batch {batch:>5}: sink {s:>8.0f} rows/s   raw {r:>8.0f} rows/s   "
                  f"sink/raw {s / r:.2f}", flush=True)
            out.append(row)
    return out


def _new_database(admin_dsn: str) -> str:
    import psycopg

    name = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin_dsn.rsplit("/", 1)[0] + "/" + name


def _drop_database(admin_dsn: str, dsn: str) -> None:
    import psycopg

    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{dsn.rsplit("/", 1)[1]}" WITH (FORCE)')


# ---- 2. whole writer vs raw consumer; 3. lag ---------------------------------------------


async def _produce(bootstrap: str, topic_of: Callable[[str], str], events: list[Any],
                   rate: float | None = None, stamp: bool = False) -> None:
    from aiokafka import AIOKafkaProducer

    from grid_config.events import utc_now_iso

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5)
    await producer.start()
    try:
        started = time.monotonic()
        chunk = 200
        for i in range(0, len(events), chunk):
            futs = []
            for e in events[i:i + chunk]:
                value = e.to_bytes() if not stamp else _restamp(e, utc_now_iso()).to_bytes()
                futs.append(await producer.send(topic_of(e.kind), value, key=e.key))
            await asyncio.gather(*futs)
            if rate:
                ahead = (i + chunk) / rate - (time.monotonic() - started)
                if ahead > 0:
                    await asyncio.sleep(ahead)
    finally:
        await producer.stop()


def _restamp(e: Any, changed_at: str) -> Any:
    from dataclasses import replace

    return replace(e, changed_at=changed_at)


async def _raw_consumer(bootstrap: str, topics: list[str], dsn: str, total: int, batch: int) -> float:
    """aiokafka consumer -> the same BatchWriter + PostgreSQL sink; events/s first->last."""
    from aiokafka import AIOKafkaConsumer

    from data_writer.pipeline import BatchWriter, SinkDeadLetters
    from data_writer.postgres import postgres_sink

    sink = postgres_sink(dsn)
    await sink.migrate()
    writer = BatchWriter(sink, SinkDeadLetters(sink))
    consumer = AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap, group_id=f"raw-{uuid.uuid4().hex[:6]}",
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        seen, first = 0, None
        while seen < total:
            batches = await consumer.getmany(timeout_ms=200, max_records=batch)
            values = [r.value for records in batches.values() for r in records]
            if not values:
                continue
            first = first or time.perf_counter()
            await writer.write(values)
            await consumer.commit()
            seen += len(values)
        while await sink.deferred_count():
            await writer.retry_deferred()
        return total / (time.perf_counter() - (first or time.perf_counter()))
    finally:
        await consumer.stop()
        await sink.close()


def _metric(port: int, name: str) -> float:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return -1.0
    return sum(float(ln.rsplit(" ", 1)[1]) for ln in text.splitlines() if ln.startswith(name))


def _start_writer(bootstrap: str, namespace: str, dsn: str, cache: Path, port: int, batch: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPACEGRID_")}
    env.update({
        "SPACEGRID_KAFKA_BOOTSTRAP": bootstrap, "SPACEGRID_NAMESPACE": namespace, "SPACEGRID_DATABASE_URL": dsn,
        "SPACEGRID_CACHE_DIR": str(cache), "SPACEGRID_HTTP_PORT": str(port), "SPACEGRID_KAFKA_PARTITIONS": "6",
        "SPACEGRID_WRITE_BATCH_SIZE": str(batch), "SPACEGRID_WRITE_INTERVAL_MS": "200",
        "PYTHONPATH": str(REPO),
    })
    log = open(cache / f"writer-{port}.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "spacegrid.cli", "writer", "--loglevel", "warning"], env=env,
                            stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    log.close()
    return proc


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


async def _faust_writer(bootstrap: str, namespace: str, dsn: str, cache: Path, total: int, batch: int,
                        entities: int) -> float:
    """``spacegrid writer`` on pre-produced events: rows/s from first to last entity written."""
    from tools.local.processes import free_ports

    port = free_ports(1)[0]
    proc = _start_writer(bootstrap, namespace, dsn, cache, port, batch)
    try:
        first = None
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            events = _metric(port, "spacegrid_writer_events_total")
            if first is None and events > 0:
                first = time.perf_counter()
            written = _metric(port, 'spacegrid_writer_rows_total{outcome="written"}')
            if written >= entities:
                return total / (time.perf_counter() - (first or time.perf_counter()))
            if proc.poll() is not None:
                raise RuntimeError(f"writer exited: {(cache / f'writer-{port}.log').read_text()[-2000:]}")
            await asyncio.sleep(0.05)
        raise TimeoutError("writer did not finish")
    finally:
        _stop(proc)


async def _lag(bootstrap: str, namespace: str, admin_dsn: str, cache: Path, rate: int, seconds: int,
               batch: int) -> dict[str, Any]:
    import psycopg

    from data_writer.settings import WriterSettings
    from data_writer.topics import ensure_topics
    from tools.local.processes import free_ports

    settings = WriterSettings(kafka_bootstrap=bootstrap, namespace=namespace, kafka_partitions=6)
    await ensure_topics(settings)
    dsn = _new_database(admin_dsn)
    port = free_ports(1)[0]
    proc = _start_writer(bootstrap, namespace, dsn, cache, port, batch)
    try:
        while _metric(port, "spacegrid_writer_database_up") < 0:
            await asyncio.sleep(0.2)
        await asyncio.sleep(3)  # group joined, partitions assigned (no events yet: nothing skipped either way)
        # parents first, as units create them (a shuffled stream would measure deferrals, not lag)
        events = shop_events(rate * seconds, 1, seed=5, tag="lag")
        await _produce(bootstrap, settings.names.topic, events, rate=rate, stamp=True)
        entities = len(events)
        deadline = time.monotonic() + 120
        while _metric(port, 'spacegrid_writer_rows_total{outcome="written"}') < entities:
            if time.monotonic() > deadline:
                raise TimeoutError("lag run did not finish")
            await asyncio.sleep(0.2)
        with psycopg.connect(dsn) as conn:
            delays = [r[0] * 1000 for t in ("users", "products", "orders") for r in conn.execute(
                f"SELECT EXTRACT(EPOCH FROM persisted_at - changed_at)::float8 FROM {t}").fetchall()]
        return {"rate": rate, "seconds": seconds, "rows": len(delays), "batch": batch, "interval_ms": 200,
                "p50_ms": round(percentile(delays, 50)), "p99_ms": round(percentile(delays, 99)),
                "max_ms": round(max(delays))}
    finally:
        _stop(proc)
        _drop_database(admin_dsn, dsn)


async def bench_kafka(args: argparse.Namespace, bootstrap: str, admin_dsn: str, cache: Path) -> dict[str, Any]:
    from data_writer.settings import WriterSettings
    from data_writer.topics import ensure_topics
    from grid_config.names import KINDS

    batch = 500
    namespace = f"bench{uuid.uuid4().hex[:6]}-"
    settings = WriterSettings(kafka_bootstrap=bootstrap, namespace=namespace, kafka_partitions=6)
    await ensure_topics(settings)
    events = shop_events(args.kafka_events, 1, seed=9, tag="k")  # parents first, as units create them
    await _produce(bootstrap, settings.names.topic, events)
    topics = [settings.names.topic(k) for k in KINDS]
    raw_rates, faust_rates = [], []
    for rep in range(2):
        for side in (("raw", "faust") if rep == 0 else ("faust", "raw")):
            dsn = _new_database(admin_dsn)
            try:
                if side == "raw":
                    rate = await _raw_consumer(bootstrap, topics, dsn, len(events), batch)
                else:
                    # a fresh consumer group per run: the namespace prefixes the group id
                    ns = f"{namespace}r{rep}-"
                    rate = await _faust_writer_on(bootstrap, namespace, ns, dsn, cache, len(events), batch)
            finally:
                _drop_database(admin_dsn, dsn)
            (raw_rates if side == "raw" else faust_rates).append(rate)
            print(f"  {side:<6} run {rep + 1}: {rate:8.0f} events/s", flush=True)
    lag = await _lag(bootstrap, f"lag{uuid.uuid4().hex[:6]}-", admin_dsn, cache, args.lag_rate, args.lag_seconds,
                     batch)
    return {"events": len(events), "batch": batch, "raw_events_s": round(max(raw_rates)),
            "faust_events_s": round(max(faust_rates)), "ratio": round(max(faust_rates) / max(raw_rates), 2),
            "raw_all": [round(x) for x in raw_rates], "faust_all": [round(x) for x in faust_rates], "lag": lag}


async def _faust_writer_on(bootstrap: str, topics_ns: str, group_ns: str, dsn: str, cache: Path, total: int,
                           batch: int) -> float:
    """The writer reads the topics of ``topics_ns`` but must start a new consumer group each run.

    Topic names and the group both derive from SPACEGRID_NAMESPACE, so the events are
    copied once per run into the new namespace's topics before the writer starts.
    """
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from data_writer.settings import WriterSettings
    from data_writer.topics import ensure_topics
    from grid_config.events import ChangeEvent
    from grid_config.names import KINDS

    src = WriterSettings(kafka_bootstrap=bootstrap, namespace=topics_ns)
    dst = WriterSettings(kafka_bootstrap=bootstrap, namespace=group_ns, kafka_partitions=6)
    await ensure_topics(dst)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    events: list[Any] = []
    try:
        await consumer._client.force_metadata_update()  # noqa: SLF001
        tps = [TopicPartition(src.names.topic(k), p) for k in KINDS
               for p in consumer.partitions_for_topic(src.names.topic(k)) or ()]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        while len(events) < total:
            for records in (await consumer.getmany(timeout_ms=500, max_records=10_000)).values():
                events.extend(ChangeEvent.from_bytes(r.value) for r in records)
    finally:
        await consumer.stop()
    await _produce(bootstrap, dst.names.topic, events)
    return await _faust_writer(bootstrap, group_ns, dsn, cache, total, batch, total)


# ---- run --------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    from tools.local.jars import ensure_jars, require_tools
    from tools.local.postgres import ensure_postgres_installed, start_postgres
    from tools.local.processes import free_ports
    from tools.local.stack import LocalStack

    cache = Path(os.environ.get("SPACEGRID_CACHE_DIR", os.path.expanduser("~/.cache/spacegrid")))
    work = Path(tempfile.mkdtemp(prefix="bench-writer-"))
    result: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}}
    pg = stack = None
    try:
        ensure_postgres_installed()
        pg = start_postgres(cache / "postgres" / f"bench-writer-{os.getpid()}")
        admin = pg.dsn()
        print("PostgreSQL (fsync on) on", pg.port, flush=True)
        if args.only in (None, "sink"):
            print(f"sink vs raw executemany: {args.keys} entities x 2 versions per round, best of {args.repeats}",
                  flush=True)
            result["sink"] = asyncio.run(bench_sinks(args, admin, work))
        if args.only in (None, "kafka"):
            require_tools()
            ensure_jars(cache, "kafka")
            ports = free_ports(2)
            stack = LocalStack.create(cache, profile=f"bench-writer-{uuid.uuid4().hex[:6]}",
                                      kafka_port=ports[0], controller_port=ports[1], member_slots=1)
            stack.broker.start()
            print("Kafka on", stack.broker.bootstrap, flush=True)
            (work / "logs").mkdir()
            result["kafka"] = asyncio.run(bench_kafka(args, stack.broker.bootstrap, admin, work / "logs"))
            k = result["kafka"]
            print(f"whole writer (Faust + sink) {k['faust_events_s']} events/s vs raw aiokafka consumer + same sink "
                  f"{k['raw_events_s']} events/s: ratio {k['ratio']}")
            lag = k["lag"]
            print(f"write-behind lag at {lag['rate']} events/s for {lag['seconds']} s: p50 {lag['p50_ms']} ms, "
                  f"p99 {lag['p99_ms']} ms, max {lag['max_ms']} ms ({lag['rows']} rows)")
    finally:
        if stack is not None:
            stack.down()
            shutil.rmtree(stack.profile.root, ignore_errors=True)
        if pg is not None:
            pg.stop()
            shutil.rmtree(pg.data_dir.parent, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    print("results:", save("writer", result, args.results))
    return 0
