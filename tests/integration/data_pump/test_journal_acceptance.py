"""Acceptance of the journal change capture on real members, Kafka and PostgreSQL (G2, G4, G7).

1. Pump stopped, writes go on (many keys, and several writers hammering ONE product):
   writes turn 503 (BacklogFull) before any journal could overwrite an un-shipped entry:
   no (map, partition) ever holds more than B un-shipped entries and none lost its oldest
   entry; the pump restarts, ``spacegrid_journal_lost_total`` stays 0 and the database
   converges (``spacegrid verify`` exit 0).
2. A deliberately tiny journal without the credit guard: the pump counts exactly the
   entries that were overwritten, and its gap repair (a re-ship) makes the database converge.
3. ``spacegrid verify --repair``: rows deleted and corrupted behind the writer's back are
   found (exit 1), re-shipped through journal -> pump -> Kafka -> writer (exit 0), and a
   plain ``verify`` agrees (exit 0).

(This file replaces test_hazelcast_outbox_bound.py, whose bound was the outbox stripes':
here the same guarantee, G7, is checked on the journals.)
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from typing import Any

import psycopg
import pytest

from data_pump.shipping import every_journal
from grid_config.errors import BacklogFull, GridUnavailable, WriteConflict
from grid_config.hazelcast_grid import HazelcastGrid
from grid_config.journal import journal_of
from grid_config.names import Names
from tests.integration.data_pump.support import (
    PumpProcess,
    WriteLoad,
    grid_settings,
    keep_logs,
    open_grid,
    pump_env,
    wait_shipped,
)
from tests.integration.data_writer.support import WriterProcess, writer_env
from tests.support.workers import REPO

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]


def product(pid: str, version: int, **extra: Any) -> dict[str, Any]:
    return {"id": pid, "sku": f"sku-{pid}", "name": "p", "category": "c", "price_cents": 100,
            "stock": version, "version": version, **extra}


def verify(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "spacegrid.cli", "verify", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=180)


def verify_env(cluster_env: dict[str, str], namespace: str, dsn: str, bootstrap: str) -> dict[str, str]:
    return {**writer_env(bootstrap, namespace, dsn, REPO / ".no-cache"), **cluster_env}


async def journal_fill(grid: HazelcastGrid) -> dict[tuple[str, int], tuple[int, int]]:
    """(oldest sequence held, un-shipped entries) of every journal, from ``change_log.bounds``
    and the stored positions (0 when the pump never shipped)."""
    log = grid.change_log
    gate = asyncio.Semaphore(32)

    async def one(m: str, p: int) -> tuple[tuple[str, int], tuple[int, int]]:
        async with gate:
            b = await log.bounds(m, p)
            pos = await log.position(m, p) or 0
        return (m, p), (b.oldest, b.newest + 1 - max(pos, b.oldest))

    return dict(await asyncio.gather(*(one(m, p) for m, p in every_journal(log))))


async def lost_metric(pump: PumpProcess) -> float:
    """spacegrid_journal_lost_total over all maps (0 while no gap was ever seen)."""
    assert await pump.metric("spacegrid_pump_owned_shards") is not None, "pump not serving /metrics"
    return await pump.metric("spacegrid_journal_lost_total") or 0.0


async def test_pump_stopped_writes_turn_503_before_a_journal_could_overwrite(
    hazelcast_cluster, kafka_broker, postgres_dsn, namespace, tmp_path
):
    grid = await open_grid(grid_settings(hazelcast_cluster.settings_env, namespace))
    names: Names = grid.names
    log = grid.change_log
    bound = journal_of(names.products, names.namespace).bound
    hot = "7" * 16
    logs = keep_logs(tmp_path, namespace)
    pump = PumpProcess(pump_env(hazelcast_cluster.settings_env, kafka_broker.bootstrap, namespace), logs)
    writer = WriterProcess(writer_env(kafka_broker.bootstrap, namespace, postgres_dsn, tmp_path / "cache"), logs)
    hot_acks, hot_refused = [0], [0]
    try:
        await grid.put(names.products, hot, product(hot, 1))
        load = WriteLoad(grid, keys=200)
        stop = asyncio.Event()

        async def hammer_one() -> None:
            """Read-modify-write of the one hot product (versions ascend: compare-and-set)."""
            def bump(cur: dict[str, Any] | None) -> dict[str, Any]:
                assert cur is not None
                return product(hot, cur["version"] + 1)

            while not stop.is_set():
                try:
                    await grid.update(names.products, hot, bump, request_id="hot")
                    hot_acks[0] += 1
                except BacklogFull:
                    hot_refused[0] += 1
                    await asyncio.sleep(0.02)
                except (WriteConflict, GridUnavailable):
                    await asyncio.sleep(0.01)

        writers = [asyncio.create_task(hammer_one()) for _ in range(6)]
        writers.append(asyncio.create_task(load.run(10**9, concurrency=12, stop=stop)))
        peak, started = 0, time.monotonic()
        # write until the hot journal refused for a while and the many-key load was refused too
        while time.monotonic() - started < 90:
            fill = await journal_fill(grid)
            peak = max(peak, max(u for _, u in fill.values()))
            assert peak <= bound, f"un-shipped entries past B={bound}: {peak}"
            if hot_refused[0] > 200 and load.refused > 50:
                break
            await asyncio.sleep(0.5)
        stop.set()
        await asyncio.gather(*writers)
        fill = await journal_fill(grid)
        hot_partition = (names.products, log.partition_of(hot))
        overwritten = {mp: oldest for mp, (oldest, _) in fill.items() if oldest > 0}
        over_bound = {mp: u for mp, (_, u) in fill.items() if u > journal_of(mp[0], names.namespace).bound}
        print(f"\n[pump stopped] hot product: {hot_acks[0]} writes acknowledged, {hot_refused[0]} refused (503); "
              f"many keys: {len(load.written)} acknowledged, {load.refused} refused; fullest journal "
              f"{max(u for _, u in fill.values())} un-shipped (B={bound}, slots {log.capacity(names.products)}); "
              f"hot journal {fill[hot_partition][1]}")
        assert hot_refused[0] > 0 and load.refused > 0
        assert fill[hot_partition][1] == bound  # the hot journal stops exactly at B ...
        assert hot_acks[0] + 1 + sum(1 for k, _ in load.written if log.partition_of(k) == hot_partition[1]) == bound
        assert not over_bound, over_bound  # ... and no journal holds more than B
        assert not overwritten, f"journals overwrote entries: {overwritten}"

        pump.start()
        writer.start()
        shipped_in = await wait_shipped(grid, timeout=120)
        env = verify_env(hazelcast_cluster.settings_env, namespace, postgres_dsn, kafka_broker.bootstrap)
        done = await asyncio.to_thread(verify, env, "--wait", "90")
        print(f"[pump restarted] every journal shipped {shipped_in:.1f}s after the start; verify exit "
              f"{done.returncode}")
        assert await lost_metric(pump) == 0
        assert done.returncode == 0, done.stdout + done.stderr
        # writes go on once shipped (credits given back)
        await grid.put(names.products, hot, product(hot, 10**6))
    finally:
        pump.kill()
        writer.kill()
        await grid.close()


async def test_an_unguarded_overflow_is_counted_exactly_and_repaired_by_a_reship(
    hazelcast_cluster, kafka_broker, postgres_dsn, namespace, tmp_path
):
    """G2's gap detection and repair, with the G7 guard out of the way.

    How the guard is bypassed (the least artificial way found): the hot product is
    rewritten with ``put_all``, the reader's cold-start path, which is journaled like any
    write but takes no journal credits (Grid.put_all; the margin B..slots exists for such
    writes, decision 0018). The journal is the real products journal (256 slots per
    partition) read by the real pump process, not the test-only ``*journal-tiny`` map:
    the pump ships entity maps only (``Names.kind_of``), so a tiny map could only be
    shipped by a pump wired by hand. The pump first ships and stores a position, is
    stopped, and ``slots + 37`` entries then land in that one partition: exactly 37 were
    overwritten before the pump read them, which the restarted pump must count
    (``spacegrid_journal_lost_total``), log, and repair by re-shipping the partition's
    current entities, after which the database converges.
    """
    grid = await open_grid(grid_settings(hazelcast_cluster.settings_env, namespace))
    names: Names = grid.names
    log = grid.change_log
    slots = log.capacity(names.products)
    hot = "7" * 16
    part = log.partition_of(hot)
    logs = keep_logs(tmp_path, namespace)
    env = pump_env(hazelcast_cluster.settings_env, kafka_broker.bootstrap, namespace)
    pump = PumpProcess(env, logs).start()
    writer = WriterProcess(writer_env(kafka_broker.bootstrap, namespace, postgres_dsn, tmp_path / "cache"),
                           logs).start()
    try:
        load = WriteLoad(grid, keys=100)
        await load.run(300, concurrency=8)
        await grid.put(names.products, hot, product(hot, 1))
        await wait_shipped(grid, timeout=90)
        assert await lost_metric(pump) == 0
        pump.stop()  # positions stored: everything so far shipped
        position = await log.position(names.products, part)
        assert position == (await log.bounds(names.products, part)).newest + 1
        overflow = slots + 37
        for version in range(2, 2 + overflow):
            await grid.put_all(names.products, {hot: product(hot, version)})
        bounds = await log.bounds(names.products, part)
        assert bounds.oldest - position == 37  # overwritten, never shipped
        pump.start()
        await wait_shipped(grid, timeout=90)

        lost = await lost_metric(pump)
        vlog = verify_env(hazelcast_cluster.settings_env, namespace, postgres_dsn, kafka_broker.bootstrap)
        done = await asyncio.to_thread(verify, vlog, "--wait", "90")
        gap_logged = [line for line in pump.log_lines() if "overwritten before they were shipped" in line]
        print(f"\n[journal gap] {overflow} entries into one partition of {slots} slots while the pump was "
              f"stopped: spacegrid_journal_lost_total={lost:.0f} (expected 37), verify exit {done.returncode}")
        assert lost == 37
        assert gap_logged, "the gap was not logged as an error"
        assert done.returncode == 0, done.stdout + done.stderr
    finally:
        pump.kill()
        writer.kill()
        await grid.close()


async def test_verify_repair_reships_deleted_and_corrupted_rows(
    hazelcast_cluster, kafka_broker, postgres_dsn, namespace, tmp_path
):
    grid = await open_grid(grid_settings(hazelcast_cluster.settings_env, namespace))
    logs = keep_logs(tmp_path, namespace)
    pump = PumpProcess(pump_env(hazelcast_cluster.settings_env, kafka_broker.bootstrap, namespace), logs).start()
    writer = WriterProcess(writer_env(kafka_broker.bootstrap, namespace, postgres_dsn, tmp_path / "cache"),
                           logs).start()
    env = verify_env(hazelcast_cluster.settings_env, namespace, postgres_dsn, kafka_broker.bootstrap)
    try:
        load = WriteLoad(grid, keys=300)
        await load.run(1200, concurrency=12)
        await wait_shipped(grid, timeout=90)
        done = await asyncio.to_thread(verify, env, "--wait", "90")
        assert done.returncode == 0, done.stdout + done.stderr

        ids = sorted(load.versions)  # keys written at least once (random picks miss some keys)
        deleted = ids[:5]
        with psycopg.connect(postgres_dsn) as conn:  # drift behind the writer's back
            # corrupt rows that can step a version back (a key written once is at version 1)
            corrupted = [r[0] for r in conn.execute(
                "SELECT id FROM products WHERE version > 1 AND id = ANY(%s) AND NOT id = ANY(%s) ORDER BY id LIMIT 5",
                (ids, deleted)).fetchall()]
            assert len(corrupted) == 5, corrupted
            conn.execute("DELETE FROM products WHERE id = ANY(%s)", (deleted,))
            conn.execute("UPDATE products SET version = version - 1, "
                         "state = jsonb_set(state, '{name}', '\"corrupt\"') WHERE id = ANY(%s)",
                         (corrupted,))
        done = await asyncio.to_thread(verify, env, "--json")
        assert done.returncode == 1, done.stdout + done.stderr
        kinds = {k["kind"]: k for k in json.loads(done.stdout)["kinds"]}
        assert (kinds["products"]["missing"], kinds["products"]["stale"]) == (5, 5), kinds["products"]
        assert sorted(kinds["products"]["examples"]["missing"]) == sorted(deleted)
        assert sorted(kinds["products"]["examples"]["stale"]) == sorted(corrupted)
        repaired = await asyncio.to_thread(verify, env, "--repair", "--wait", "90")
        print(f"\n[verify --repair] {repaired.stderr.strip().splitlines()[-1:]}\n{repaired.stdout}")
        assert repaired.returncode == 0, repaired.stdout + repaired.stderr
        assert "re-shipped 0 users, 10 products, 0 orders" in repaired.stderr, repaired.stderr
        done = await asyncio.to_thread(verify, env)
        assert done.returncode == 0 and "converged" in done.stdout, done.stdout + done.stderr
    finally:
        pump.kill()
        writer.kill()
        await grid.close()


async def test_order_latency_does_not_grow_with_unshipped_entries(
    hazelcast_cluster, kafka_broker, namespace, tmp_path
):
    """Sequential ``POST /orders`` through a real unit: p50 with about half of the bound B
    un-shipped in every product journal the orders touch stays within 1.5x of the p50
    starting from nothing waiting (every journal shipped). The pump is stopped for both
    phases (its shipping would load the 2 shared cores in one phase only).

    16 products in 16 different partitions, orders round-robin over them (one line, qty 1).
    An order appends one or two entries to its product's journal: its stock hold and, off
    the request path, the hold's settlement (an entry of its own, or carried by the next
    hold of the product: decision 0033). So each measured order appends to a product
    journal holding ~B/2 entries: it is pre-filled to B/2 - 14 = 50 by orders through the
    unit (counted, not assumed), then 13 measured orders per product take it to 63-76 of 128.
    32 warm-up orders first; 208 samples per phase."""
    import statistics

    import aiohttp

    from tests.support.eventually import eventually_async
    from tools.local.processes import free_ports
    from tools.local.units import LOAD_ENV, start_unit

    grid = await open_grid(grid_settings(hazelcast_cluster.settings_env, namespace))
    names: Names = grid.names
    log = grid.change_log
    bound = journal_of(names.products, names.namespace).bound
    logs = keep_logs(tmp_path, namespace)
    pump = PumpProcess(pump_env(hazelcast_cluster.settings_env, kafka_broker.bootstrap, namespace), logs).start()
    admin = ("admin@latency.invalid", "latency-admin-pw")
    unit = start_unit({**hazelcast_cluster.settings_env, **LOAD_ENV, "SPACEGRID_NAMESPACE": namespace,
                       "SPACEGRID_TOKEN_SECRET": "latency-test-secret-" + "x" * 20,
                       "SPACEGRID_BOOTSTRAP_ADMIN": f"{admin[0]}:{admin[1]}"},
                      free_ports(1)[0], logs, name="unit")
    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
    count = 16  # products
    per_phase = 13 * count
    try:
        await asyncio.to_thread(unit.wait_ready, 60)

        async def post(path: str, body: dict, token: str | None = None) -> tuple[int, Any]:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            async with http.post(f"{unit.url}{path}", json=body, headers=headers) as r:
                return r.status, await r.json(content_type=None)

        status, body = await post("/sessions", {"email": admin[0], "password": admin[1]})
        assert status == 201, body
        admin_token = body["token"]
        products: list[str] = []
        seen_partitions: set[int] = set()
        while len(products) < count:
            status, body = await post("/products", {"sku": f"L-{len(products)}-{time.monotonic_ns()}", "name": "l",
                                                    "category": "c", "price_cents": 100, "stock": 100_000},
                                      admin_token)
            assert status == 201, body
            p = log.partition_of(body["id"])
            if p not in seen_partitions:
                seen_partitions.add(p)
                products.append(body["id"])
        status, body = await post("/users", {"email": "buyer@latency.invalid", "name": "b",
                                             "password": "buyer-password-1"})
        assert status == 201, body
        status, body = await post("/sessions", {"email": "buyer@latency.invalid", "password": "buyer-password-1"})
        token = body["token"]

        async def orders(n: int) -> list[float]:
            took = []
            for i in range(n):
                started = time.perf_counter()
                status, body = await post("/orders", {"lines": [{"product_id": products[i % count], "quantity": 1}]},
                                          token)
                took.append(time.perf_counter() - started)
                assert status == 201, body
            return took

        async def waiting() -> list[int]:
            """Un-shipped entries of each product's journal."""
            out = []
            for pid in products:
                part = log.partition_of(pid)
                b = await log.bounds(names.products, part)
                out.append(b.newest + 1 - (await log.position(names.products, part) or 0))
            return out

        async def no_holds() -> None:  # every placed order's settle landed
            held = [pid for pid, p in (await grid.get_many(names.products, products)).items() if p.get("holds")]
            assert not held, held

        async def quiet() -> list[int]:
            """Un-shipped entries per product journal once every settle landed (the pump is
            stopped and nothing else writes: the counts are final)."""
            await eventually_async(no_holds, timeout=30, interval=0.1)
            return await waiting()

        await orders(2 * count)  # warm-up
        await eventually_async(no_holds, timeout=30, interval=0.1)
        await wait_shipped(grid, timeout=60)
        pump.stop()  # both phases without a pump: only what waits in the journals differs
        assert await quiet() == [0] * count
        idle = await orders(per_phase)  # from nothing waiting: each product journal 0 -> 13-26 of 128
        after_idle = await quiet()
        # fill each product journal to B/2 - 14 un-shipped entries (positions are at the end):
        # n orders in a row on one product append n + 1 to 2n entries, so halve the gap each pass
        fill_to = bound // 2 - 14
        filled = after_idle
        while any(n < fill_to - 1 for n in filled):
            for pid, n in zip(products, filled):
                for _ in range(max(0, (fill_to - n) // 2)):
                    status, body = await post("/orders", {"lines": [{"product_id": pid, "quantity": 1}]}, token)
                    assert status == 201, body
            filled = await quiet()
        assert all(fill_to - 1 <= n <= fill_to for n in filled), filled
        loaded = await orders(per_phase)
        after_loaded = await quiet()
        p50_idle, p50_loaded = statistics.median(idle), statistics.median(loaded)
        print(f"\n[order p50] nothing waiting (journals 0 -> {min(after_idle)}-{max(after_idle)}): "
              f"{p50_idle * 1000:.2f} ms; ~50% of B={bound} waiting (pump stopped, product journals "
              f"{min(filled)}-{max(filled)} -> {min(after_loaded)}-{max(after_loaded)}): "
              f"{p50_loaded * 1000:.2f} ms; ratio {p50_loaded / p50_idle:.2f}")
        assert p50_loaded <= 1.5 * p50_idle
    finally:
        await http.close()
        await asyncio.to_thread(unit.stop, 20)
        pump.kill()
        await grid.close()
