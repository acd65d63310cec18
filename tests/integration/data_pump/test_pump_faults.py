"""The pump against the real 3-member cluster and a real broker: crashes, fail-over, outage."""

from __future__ import annotations

from grid_config.events import unstamped

import asyncio
import random
import time

import orjson
import pytest

from data_pump.ownership import SHARDS
from data_pump.shipping import unshipped
from grid_config.events import ERROR_HEADER, SOURCE_HEADER, dead_letter_headers
from grid_config.names import Names
from tests.integration.data_pump.support import (
    keep_logs,
    PumpProcess,
    WriteLoad,
    grid_settings,
    open_grid,
    pump_env,
    max_unshipped,
    read_topics,
    wait_shipped,
)
from tests.support.eventually import eventually_async
from tests.support.ordering import check_log

pytestmark = pytest.mark.integration


async def test_pump_sigkilled_three_times_under_load_loses_nothing_and_keeps_key_order(
    hazelcast_cluster, kafka_broker, namespace, tmp_path
):
    env = pump_env(hazelcast_cluster.settings_env, kafka_broker.bootstrap, namespace)
    grid = await open_grid(grid_settings(hazelcast_cluster.settings_env, namespace))
    log_dir = keep_logs(tmp_path, namespace)
    pump = PumpProcess(env, log_dir).start()
    rng = random.Random(42)
    try:
        load = WriteLoad(grid, keys=2000)
        writing = asyncio.create_task(load.run(20_000, concurrency=24))
        mid_batch = 0
        for _ in range(3):
            await asyncio.sleep(rng.uniform(2, 5))
            # SIGKILL while a batch is open (read, publishing or acknowledged, position not
            # stored yet): the entries stay in the journal and are shipped again after restart
            mid_batch += await pump.kill_mid_batch(backlog_s=2.5, delay_s=rng.uniform(0.005, 0.05))
            await asyncio.sleep(rng.uniform(0, 2))
            pump.start()
        await writing
        drained_in = await wait_shipped(grid, timeout=180)
        published = await read_topics(kafka_broker.bootstrap, grid.names, set(load.written))
        report = check_log(published, load.written)
        print(
            f"\n[pump crash run] written={len(load.written)} on kafka={report.records} "
            f"keys={report.keys} duplicates={report.duplicates} missing={len(report.missing)} "
            f"kills with a batch open={mid_batch}/3, drained {drained_in:.1f}s after the load ended"
        )
        if report.missing:
            for key in sorted({k for k, _ in report.missing})[:5]:
                print(f"  key {key}: written {[v for k, v in load.written if k == key]}, "
                      f"on kafka {[v for k, v in published if k == key]}")
            print(f"  unshipped now {await unshipped(grid.change_log)}; pump logs in {log_dir}")
        assert report.missing == [], f"{len(report.missing)} change records never reached Kafka"
        assert len(load.written) == 20_000
        lines = pump.log_lines()
        assert lines and all(line.startswith("{") and orjson.loads(line) for line in lines), lines[:3]
    finally:
        pump.kill()
        await grid.close()


async def test_two_pumps_one_sigkilled_the_other_takes_over_its_shards(
    hazelcast_cluster, kafka_broker, namespace, tmp_path
):
    env = pump_env(hazelcast_cluster.settings_env, kafka_broker.bootstrap, namespace)
    grid = await open_grid(grid_settings(hazelcast_cluster.settings_env, namespace))
    names: Names = grid.names
    first, second = PumpProcess(env, tmp_path).start(), PumpProcess(env, tmp_path).start()
    try:
        load = WriteLoad(grid, keys=400)
        await load.run(400, concurrency=16)
        await wait_shipped(grid, timeout=90)  # both running and shipping
        # the group settled on two members: each pump ships some shards, together all of them
        async def split_between_both() -> None:
            owned = [await first.metric("spacegrid_pump_owned_shards"), await second.metric("spacegrid_pump_owned_shards")]
            assert all(owned) and sum(owned) == SHARDS, owned

        await eventually_async(split_between_both, timeout=60, interval=0.5)
        first.kill()
        killed_at = time.monotonic()
        # one marker change per pump shard (grid partition p ships in shard p % SHARDS),
        # written right after the kill
        per_shard = {}
        for pid in load.key_ids():
            per_shard.setdefault(grid.change_log.partition_of(pid) % SHARDS, pid)
        assert len(per_shard) == SHARDS
        for pid in per_shard.values():
            assert await load.change(pid)
        markers = {(pid, load.versions[pid]) for pid in per_shard.values()}
        await wait_shipped(grid, timeout=90)
        failover_s = time.monotonic() - killed_at
        published = await read_topics(kafka_broker.bootstrap, names, set(load.written))
        report = check_log(published, load.written)
        print(f"\n[pump fail-over] every shard shipping again {failover_s:.1f}s after SIGKILL "
              f"(session timeout 6 s); duplicates={report.duplicates}")
        assert markers <= set(published) and report.missing == []
        assert failover_s < 30, f"fail-over took {failover_s:.1f}s"
    finally:
        first.kill()
        second.kill()
        await grid.close()


async def _post_user(http, url: str, i: int) -> tuple[int, str | None]:
    body = {"email": f"outage-{i}@example.com", "name": "o", "password": "correct horse battery"}
    async with http.post(f"{url}/users", json=body) as resp:
        await resp.read()
        return resp.status, resp.headers.get("Retry-After")


async def _ready(http, url: str) -> int:
    async with http.get(f"{url}/health/ready") as resp:
        await resp.read()
        return resp.status


async def _post_order(http, url: str, token: str, product_id: str) -> tuple[int, str | None]:
    body = {"lines": [{"product_id": product_id, "quantity": 1}]}
    async with http.post(f"{url}/orders", json=body, headers={"Authorization": f"Bearer {token}"}) as resp:
        await resp.read()
        return resp.status, resp.headers.get("Retry-After")


async def test_broker_stopped_30s_journals_hit_their_bound_then_drain(
    hazelcast_cluster, engine_factory, namespace, tmp_path
):
    """G7 end to end: the broker stops under load; the busy journals fill to their bound B
    of un-shipped entries and never past it; a real unit then answers writes to those
    journals' partitions with 503 + Retry-After and is not ready; all drains after.

    (Formerly "the backlog fills to SPACEGRID_BACKLOG_LIMIT": the bound is now per (map,
    partition) journal, B = slots/2, held by journal credits; the unit's refused write is
    an order of a product whose partition is full, since writes elsewhere go on.)"""
    import aiohttp

    from grid_config.journal import journal_of
    from tools.local.processes import free_ports
    from tools.local.units import FAST_HASH_ENV, start_unit

    stack = engine_factory()
    await asyncio.to_thread(stack.broker.start)  # blocking launcher: off the event loop
    bootstrap = stack.broker.bootstrap
    env = pump_env(hazelcast_cluster.settings_env, bootstrap, namespace, SPACEGRID_PUMP_REQUEST_TIMEOUT_S="5")
    grid = await open_grid(grid_settings(hazelcast_cluster.settings_env, namespace))
    names: Names = grid.names
    bound = journal_of(names.products, names.namespace).bound
    pump = PumpProcess(env, tmp_path).start()
    unit = start_unit({**hazelcast_cluster.settings_env, **FAST_HASH_ENV, "SPACEGRID_NAMESPACE": namespace,
                       "SPACEGRID_TOKEN_SECRET": "outage-test-secret-" + "x" * 20},
                      free_ports(1)[0], tmp_path, name="unit")
    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
    try:
        await asyncio.to_thread(unit.wait_ready, 60)
        # 64 hot products (4 per writer): their partitions fill within the outage
        load = WriteLoad(grid, keys=64)
        await load.run(500, concurrency=16)
        await wait_shipped(grid, timeout=90)
        user = {"email": "outage@example.com", "name": "o", "password": "correct horse battery"}
        async with http.post(f"{unit.url}/users", json=user) as resp:
            assert resp.status == 201, await resp.text()
        async with http.post(f"{unit.url}/sessions", json={"email": user["email"], "password": user["password"]}) as resp:
            assert resp.status == 201, await resp.text()
            token = (await resp.json())["token"]
        assert (await _post_order(http, unit.url, token, sorted(load.versions)[0]))[0] == 201
        await asyncio.to_thread(stack.broker.stop, False)
        stopped_at = time.monotonic()
        stop = asyncio.Event()
        writing = asyncio.create_task(load.run(10**9, concurrency=16, stop=stop))
        peak = 0
        while time.monotonic() - stopped_at < 30:
            fullest, _ = await max_unshipped(grid, names.products)
            peak = max(peak, fullest)
            await asyncio.sleep(0.5)
        # past the bound: the unit refuses writes to a full journal with 503 + Retry-After
        # and is not ready
        log = grid.change_log
        full = []
        for pid in load.key_ids():
            p = log.partition_of(pid)
            b = await log.bounds(names.products, p)
            if b.newest + 1 - (await log.position(names.products, p) or 0) >= bound:
                full.append(pid)
        assert full, "no product journal reached its bound during the outage"
        answers = [await _post_order(http, unit.url, token, full[i % len(full)]) for i in range(5)]
        ready_during = await _ready(http, unit.url)
        stop.set()
        await writing
        fullest_after, _ = await max_unshipped(grid, names.products)
        refused_during_outage = load.refused
        await asyncio.to_thread(stack.broker.start)
        drained_in = await wait_shipped(grid, timeout=180)

        async def unit_recovered() -> None:
            assert await _ready(http, unit.url) == 200
            assert (await _post_order(http, unit.url, token, full[0]))[0] == 201

        await eventually_async(unit_recovered, timeout=30, interval=0.5)
        published = await read_topics(bootstrap, grid.names, set(load.written))
        report = check_log(published, load.written)
        print(f"\n[broker outage] fullest journal un-shipped peak={peak} (bound B={bound}, "
              f"slots {log.capacity(names.products)}), {len(full)}/{len(load.key_ids())} products in full journals, "
              f"writes refused={refused_during_outage}, unit answers past the bound={answers}, ready={ready_during}, "
              f"drained {drained_in:.1f}s after the broker returned, duplicates={report.duplicates}")
        assert peak == bound and fullest_after == bound and refused_during_outage > 0
        assert all(status == 503 and retry_after and int(retry_after) > 0 for status, retry_after in answers)
        assert ready_during == 503
        assert report.missing == []
        lost = await pump.metric("spacegrid_journal_lost_total")
        assert not lost, f"{lost} journal entries overwritten"
    finally:
        await http.close()
        await asyncio.to_thread(unit.stop, 20)
        pump.kill()
        await grid.close()
        await asyncio.to_thread(stack.down)


async def test_member_sigkilled_under_load_loses_no_change_record(
    engine_factory, kafka_broker, namespace, tmp_path
):
    """G1 + G2 across a member crash: a dedicated 3-member cluster, one member SIGKILLed
    while units-like writers and the pump run; every acknowledged change reaches Kafka."""
    stack = engine_factory()
    await asyncio.to_thread(stack.cluster.start, 3)
    cluster_env = {
        "SPACEGRID_GRID": "hazelcast",
        "SPACEGRID_HAZELCAST_MEMBERS": stack.cluster.member_list,
        "SPACEGRID_HAZELCAST_CLUSTER": stack.cluster.cluster_name,
    }
    env = pump_env(cluster_env, kafka_broker.bootstrap, namespace)
    grid = await open_grid(grid_settings(cluster_env, namespace))
    pump = PumpProcess(env, keep_logs(tmp_path, namespace)).start()
    try:
        load = WriteLoad(grid, keys=1000)
        writing = asyncio.create_task(load.run(8000, concurrency=16))
        await asyncio.sleep(4)
        members = stack.cluster.members()
        victim = members[-1]
        written_before = len(load.written)
        await asyncio.to_thread(stack.cluster.kill, victim)
        killed_at = time.monotonic()
        await writing
        drained_in = await wait_shipped(grid, timeout=120)
        published = await read_topics(kafka_broker.bootstrap, grid.names, set(load.written), timeout=60)
        report = check_log(published, load.written)
        print(f"\n[member SIGKILL] acknowledged={len(load.written)} ({written_before} before the kill), "
              f"failed writes retried={load.failed}, on kafka={report.records} duplicates={report.duplicates} "
              f"missing={len(report.missing)}; all shipped {time.monotonic() - killed_at:.1f}s after the kill "
              f"({drained_in:.1f}s after the load)")
        assert report.missing == [], f"lost {len(report.missing)} acknowledged changes, e.g. {report.missing[:5]}"
        assert len(load.written) == 8000
    finally:
        pump.kill()
        await grid.close()


async def test_poison_entry_reaches_the_deadletter_topic_and_its_journal_goes_on(
    hazelcast_cluster, kafka_broker, namespace, tmp_path
):
    """The real pump process and broker: a journal entry that is no valid entity (written
    behind the units' back) is published to spacegrid.deadletter (the entry, key, error
    and source headers); later changes of the same journal still ship."""
    from aiokafka import AIOKafkaConsumer

    env = pump_env(hazelcast_cluster.settings_env, kafka_broker.bootstrap, namespace)
    grid = await open_grid(grid_settings(hazelcast_cluster.settings_env, namespace))
    names: Names = grid.names
    load = WriteLoad(grid, keys=1)
    key = load.key_ids()[0]
    bad = {"id": key, "version": "x"}
    pump = PumpProcess(env, keep_logs(tmp_path, namespace))
    try:
        assert await load.change(key)
        await grid.put(names.products, key, bad)  # plant poison: not an entity (no integer version)
        assert await load.change(key)
        pump.start()
        await wait_shipped(grid, timeout=60)
        published = await read_topics(kafka_broker.bootstrap, names, set(load.written), timeout=30)
        assert published == [(key, 1), (key, 2)]
        consumer = AIOKafkaConsumer(names.deadletter_topic, bootstrap_servers=kafka_broker.bootstrap,
                                    auto_offset_reset="earliest", enable_auto_commit=False)
        await consumer.start()
        try:
            record = await asyncio.wait_for(consumer.getone(), 30)
        finally:
            await consumer.stop()
        headers = dict(record.headers)
        dead = orjson.loads(record.value)
        assert record.key == key.encode() and dead["key"] == key and unstamped(dead["value"]) == bad, dead
        assert dead["old"]["version"] == 1
        # the same header names as the writer's dead letters (test_writer_on_kafka checks those)
        assert set(headers) == set(dead_letter_headers("", "")), headers
        assert b"version" in headers[ERROR_HEADER], headers
        assert headers[SOURCE_HEADER] == f"{names.products}#{grid.change_log.partition_of(key)}".encode()
    finally:
        pump.kill()
        await grid.close()
