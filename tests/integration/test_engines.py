"""The foundation's engines for real: a 3-member Hazelcast cluster and a Kafka broker."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import uuid

import hazelcast
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tools.local.stack import LocalStack
from tests.support.eventually import eventually


def _client(members: list[str], cluster_name: str) -> hazelcast.HazelcastClient:
    return hazelcast.HazelcastClient(
        cluster_name=cluster_name, cluster_members=members, cluster_connect_timeout=30.0
    )


def _grid_status(env: dict[str, str], *extra: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "spacegrid.cli", "grid", "status", *extra],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_backed_up_map_survives_sigkill_of_a_member(engine_factory) -> None:
    """10,000 entries with one backup: all readable after one of 3 members is SIGKILLed."""
    stack: LocalStack = engine_factory()
    stack.cluster.start(3)
    env = {
        "SPACEGRID_HAZELCAST_MEMBERS": stack.cluster.member_list,
        "SPACEGRID_HAZELCAST_CLUSTER": stack.cluster.cluster_name,
    }
    assert "members: 3" in _grid_status(env)

    client = _client(stack.cluster.addresses(), stack.cluster.cluster_name)
    try:
        entries = client.get_map(f"survive-{uuid.uuid4().hex[:6]}").blocking()
        entries.put_all({f"k{i}": f"v{i}" for i in range(10_000)})
        assert entries.size() == 10_000

        victim = stack.cluster.members()[1]
        stack.cluster.kill(victim)
        stack.cluster.wait_until(2, timeout=120)

        values = entries.get_all([f"k{i}" for i in range(10_000)])
        assert len(values) == 10_000
        assert all(values[f"k{i}"] == f"v{i}" for i in range(10_000))
    finally:
        client.shutdown()

    status = _grid_status(env)
    assert "members: 2" in status
    assert "cluster safe: True" in status
    assert victim.address not in status


def test_grid_status_reports_members_partitions_and_maps(hazelcast_cluster, namespace) -> None:
    client = _client(hazelcast_cluster.members, hazelcast_cluster.cluster_name)
    try:
        client.get_map(f"{namespace}scratch").blocking().put_all({str(i): "x" for i in range(25)})
    finally:
        client.shutdown()
    status = _grid_status(hazelcast_cluster.settings_env)
    assert "members: 3" in status
    partition_counts = [int(n) for n in re.findall(r" owned=(\d+) ", status)]
    assert len(partition_counts) == 3 and sum(partition_counts) == 271
    assert f"map {namespace}scratch: 25 entries, 25 backup entries (backups 1)" in status
    assert f"cluster {hazelcast_cluster.cluster_name}: state ACTIVE, version 5.6" in status

    # the operator's view as JSON: UUIDs, one master, every partition owned once and backed up once
    doc = json.loads(_grid_status(hazelcast_cluster.settings_env, "--json"))
    assert doc["cluster_name"] == hazelcast_cluster.cluster_name and doc["cluster_state"] == "ACTIVE"
    assert doc["cluster_safe"] is True and doc["partition_count"] == 271 and doc["detail_missing"] is None
    members = doc["members"]
    assert sorted(m["address"] for m in members) == sorted(hazelcast_cluster.members)
    assert len({m["uuid"] for m in members}) == 3 and [m["master"] for m in members].count(True) == 1
    assert sum(m["owned_partitions"] for m in members) == 271
    assert sum(m["backup_partitions"] for m in members) == 271  # one backup per partition
    scratch = doc["maps"][f"{namespace}scratch"]
    assert scratch["entries"] == 25 and scratch["backup_entries"] == 25 and scratch["backup_count"] == 1
    assert scratch["memory_bytes"] > 0 and scratch["backup_memory_bytes"] > 0
    assert doc["migrations"]["queued"] == 0


def test_grid_status_lists_the_processes_that_announce_themselves(hazelcast_cluster, namespace) -> None:
    """A unit's record in the processes map (as grid_config.processes.Announcer writes it)
    shows in both views; a record not renewed within its TTL does not."""
    import time

    from hazelcast.core import HazelcastJsonValue

    now = time.time()
    alive = {"id": "u-1", "kind": "unit", "address": "127.0.0.1:18080", "host": "h", "pid": 4242,
             "started_at": now - 60, "seen_at": now}
    stale = {**alive, "id": "u-2", "address": "127.0.0.1:18081", "seen_at": now - 3600}
    client = _client(hazelcast_cluster.members, hazelcast_cluster.cluster_name)
    try:
        processes = client.get_map(f"{namespace}processes").blocking()
        for record in (alive, stale):
            processes.put(record["id"], HazelcastJsonValue(json.dumps(record)))
    finally:
        client.shutdown()
    env = {**hazelcast_cluster.settings_env, "SPACEGRID_NAMESPACE": namespace}
    status = _grid_status(env)
    assert "processes: 1" in status
    assert re.search(r"unit\s+127\.0\.0\.1:18080\s+pid=4242 host=h up=6\ds", status), status
    assert "18081" not in status.split("processes: 1", 1)[1]
    doc = json.loads(_grid_status(env, "--json"))
    assert [(p["kind"], p["address"], p["pid"]) for p in doc["processes"]] == [("unit", "127.0.0.1:18080", 4242)]


def test_idempotent_producer_and_committing_consumer_group(kafka_broker, namespace) -> None:
    """10,000 records with acks=all + idempotence, all consumed back by a committing group."""
    topic = f"{namespace}records"
    group = f"{namespace}group"
    count = 10_000

    async def scenario() -> tuple[int, int]:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
        finally:
            await admin.close()
        producer = AIOKafkaProducer(
            bootstrap_servers=kafka_broker.bootstrap, enable_idempotence=True, acks="all"
        )
        await producer.start()
        try:
            batch = [producer.send(topic, key=str(i % 97).encode(), value=str(i).encode()) for i in range(count)]
            await asyncio.gather(*[await f for f in batch])
        finally:
            await producer.stop()

        seen: set[int] = set()
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=kafka_broker.bootstrap,
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            while len(seen) < count:
                polled = await consumer.getmany(timeout_ms=2000, max_records=2000)
                for records in polled.values():
                    seen.update(int(r.value) for r in records)
                await consumer.commit()
            committed = 0
            for tp in consumer.assignment():
                committed += await consumer.committed(tp) or 0
        finally:
            await consumer.stop()
        return len(seen), committed

    consumed, committed = asyncio.run(scenario())
    assert consumed == count
    assert committed == count


def test_local_up_down_leaves_nothing_and_never_duplicates(tmp_path) -> None:
    """The person-facing CLI on a profile of its own: up, up again, down, and a taken port."""
    from tools.local.processes import free_ports, port_is_free

    ports = free_ports(12)
    env = {
        **os.environ,
        "SPACEGRID_CACHE_DIR": os.environ.get("SPACEGRID_CACHE_DIR", os.path.expanduser("~/.cache/spacegrid")),
        "SPACEGRID_HAZELCAST_MEMBERS": f"127.0.0.1:{ports[0]}",
        "SPACEGRID_HAZELCAST_CLUSTER": f"cli-{uuid.uuid4().hex[:6]}",
        "SPACEGRID_KAFKA_BOOTSTRAP": f"127.0.0.1:{ports[10]}",
    }

    def spacegrid(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "spacegrid.cli", *args], env=env, capture_output=True, text=True, timeout=300
        )

    try:
        first = spacegrid("local", "up", "--members", "3", "--kafka")
        assert first.returncode == 0, first.stdout + first.stderr
        pids = sorted(line.split()[1] for line in spacegrid("local", "status").stdout.splitlines())
        assert len(pids) == 4

        again = spacegrid("local", "up", "--members", "3", "--kafka")
        assert again.returncode == 0, again.stdout + again.stderr
        assert sorted(line.split()[1] for line in spacegrid("local", "status").stdout.splitlines()) == pids
    finally:
        down = spacegrid("local", "down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert down.stdout.startswith("stopped 4 engine(s):"), down.stdout
    assert spacegrid("local", "status").stdout.startswith("nothing runs")
    for pid in pids:
        assert not os.path.exists(f"/proc/{pid}") or "Z" in open(f"/proc/{pid}/stat").read().split(") ")[1][:1]
    eventually(lambda: all(port_is_free(p) for p in (ports[0], ports[1], ports[2], ports[10], ports[11])), timeout=20)

    # a port already taken: a clear error, and nothing left running
    import socket

    with socket.socket() as blocker:
        blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        blocker.bind(("127.0.0.1", ports[1]))
        blocker.listen()
        taken = spacegrid("local", "up", "--members", "3")
    assert taken.returncode == 1
    assert f"port 127.0.0.1:{ports[1]}" in taken.stderr and "already in use" in taken.stderr  # errors: stderr
    assert spacegrid("local", "status").stdout.startswith("nothing runs")


def test_grid_status_shows_what_waits_in_the_journals_and_the_credits_taken(hazelcast_cluster, namespace) -> None:
    """A write leaves one entry un-shipped and its credit taken (the writer's unspent lease
    goes back when it closes): the operator sees both per journaled map."""
    from grid_config.hazelcast_grid import HazelcastGrid
    from grid_config.names import Names
    from tests.integration.test_hazelcast_grid_contract import settings_for

    names = Names(namespace=namespace)

    async def write_once() -> int:
        grid = HazelcastGrid(settings_for(hazelcast_cluster), names)
        await grid.start()
        try:
            await grid.put(names.products, "1", {"id": "1", "version": 1})
            return grid.change_log.bound(names.products)
        finally:
            await grid.close()

    bound = asyncio.run(write_once())
    env = {**hazelcast_cluster.settings_env, "SPACEGRID_NAMESPACE": namespace}
    products = json.loads(_grid_status(env, "--json"))["journals"][names.products]
    assert products["unshipped"] == 1 and products["positions"] == 0
    assert products["credits_taken"] == 1 and products["fewest_credits"] == bound - 1
    assert products["credit_bound"] == bound
    assert (f"journal {names.products}: un-shipped=1" in (text := _grid_status(env))
            and f"credits-taken=1 fewest-credits-left={bound - 1}/{bound}" in text), text
