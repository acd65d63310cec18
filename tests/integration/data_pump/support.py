"""Helpers of the pump's integration tests: pump subprocesses, a write load, a Kafka reader."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition

from data_pump.shipping import journal_status, unshipped
from grid_config.errors import BacklogFull, GridUnavailable, WriteConflict
from grid_config.events import ChangeEvent
from grid_config.hazelcast_grid import HazelcastGrid
from grid_config.names import KINDS, Names
from grid_config.settings import CommonSettings
from tests.support.workers import REPO, WorkerProcess



def keep_logs(tmp_path: Path, namespace: str) -> Path:
    """Pump logs under ``SPACEGRID_TEST_LOGS`` when set (kept after the run), else ``tmp_path``."""
    root = os.environ.get("SPACEGRID_TEST_LOGS")
    path = Path(root) / namespace if root else tmp_path
    path.mkdir(parents=True, exist_ok=True)
    return path


def pump_env(cluster_env: dict[str, str], bootstrap: str, namespace: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPACEGRID_")}
    env.update(cluster_env)
    env.update(
        {
            "SPACEGRID_KAFKA_BOOTSTRAP": bootstrap,
            "SPACEGRID_NAMESPACE": namespace,
            "SPACEGRID_KAFKA_PARTITIONS": "6",
            "SPACEGRID_PUMP_SESSION_TIMEOUT_S": "6",
            "PYTHONPATH": str(REPO),
        }
    )
    env.update(extra)
    return env


class PumpProcess(WorkerProcess):
    """``python -m spacegrid.cli pump`` as a child process, SIGKILLed by PID when asked."""

    command = "pump"

    async def metric(self, name: str) -> float | None:
        """One sample of the pump's /metrics (None while it is not serving yet)."""
        import aiohttp

        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
                async with http.get(f"http://127.0.0.1:{self.port}/metrics") as resp:
                    text = await resp.text()
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
            return None
        for line in text.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
        return None

    async def kill_mid_batch(self, within_s: float = 10.0, backlog_s: float = 1.0, delay_s: float = 0.0) -> bool:
        """SIGKILL as soon as /metrics shows a batch being published and not yet forgotten.

        The pump is first frozen (SIGSTOP) for ``backlog_s`` while the load goes on, so the
        batches it takes on SIGCONT are hundreds of records long and take tens of ms to
        publish, acknowledge and commit: the kill lands inside one, ``delay_s`` after the
        gauge showed it (0-40 ms spreads kills over publish, ack and commit). Returns whether an
        open batch was seen (else it kills anyway at the deadline). The duplicates on
        Kafka tell how many records were acknowledged but not yet removed at the kill.
        """
        if backlog_s > 0 and self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGSTOP)
            await asyncio.sleep(backlog_s)
            os.kill(self.proc.pid, signal.SIGCONT)
        deadline = time.monotonic() + within_s
        seen = False
        while time.monotonic() < deadline:
            if (await self.metric("spacegrid_pump_batches_open") or 0) > 0:
                seen = True
                await asyncio.sleep(delay_s)
                break
        self.kill()
        return seen

    def log_lines(self) -> list[str]:
        return [line for f in self.log_files()
                for line in f.read_text(errors="replace").splitlines() if line.strip()]


def grid_settings(cluster_env: dict[str, str], namespace: str) -> CommonSettings:
    return CommonSettings(
        grid="hazelcast",
        hazelcast_members=cluster_env["SPACEGRID_HAZELCAST_MEMBERS"],
        hazelcast_cluster=cluster_env["SPACEGRID_HAZELCAST_CLUSTER"],
        namespace=namespace,
    )


async def open_grid(settings: CommonSettings) -> HazelcastGrid:
    grid = HazelcastGrid(settings, settings.names)
    await grid.start()
    return grid


@dataclass
class WriteLoad:
    """Product changes over many keys; each key is written by one coroutine, so versions ascend.

    Each change is one ``put`` of the whole product (stamped with its request id by the
    grid); its journal entry is its change record."""

    grid: HazelcastGrid
    keys: int
    seed: int = 5
    versions: dict[str, int] = field(default_factory=dict)
    written: list[tuple[str, int]] = field(default_factory=list)
    refused: int = 0  # BacklogFull answers (the units' 503)
    failed: int = 0  # conflicts / grid unavailable: not acknowledged, written again

    def key_ids(self) -> list[str]:
        return [str(10**15 + i) for i in range(self.keys)]

    async def change(self, pid: str) -> bool:
        version = self.versions.get(pid, 0) + 1
        state = {"id": pid, "sku": f"sku-{pid}", "name": "p", "category": "c", "price_cents": 100,
                 "stock": version, "version": version}
        try:
            await self.grid.put(self.grid.names.products, pid, state, request_id=f"load-{pid}-{version}")
        except BacklogFull:
            self.refused += 1
            return False
        except (WriteConflict, GridUnavailable):
            self.failed += 1
            return False
        self.versions[pid] = version
        self.written.append((pid, version))
        return True

    async def run(self, total: int, concurrency: int = 16, rate: float | None = None,
                  stop: asyncio.Event | None = None) -> None:
        """Write ``total`` changes (or until ``stop``); ``rate``: changes/s cap over all writers."""
        ids = self.key_ids()
        rng = random.Random(self.seed)
        done = 0
        lock = asyncio.Lock()

        async def writer(mine: list[str]) -> None:
            nonlocal done
            while True:
                async with lock:
                    if done >= total or (stop is not None and stop.is_set()):
                        return
                    done += 1
                ok = await self.change(rng.choice(mine))
                if not ok:
                    async with lock:
                        done -= 1
                    await asyncio.sleep(0.05)
                if rate:
                    await asyncio.sleep(concurrency / rate)

        await asyncio.gather(*(writer(ids[i::concurrency]) for i in range(concurrency)))


async def read_topics(bootstrap: str, names: Names, expected: set[tuple[str, int]],
                      timeout: float = 120.0) -> list[tuple[str, int]]:
    """Every record of the entity topics, partition by partition in log order, as (id, version).

    Reads until every expected (id, version) was seen and the end offsets are reached.
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                isolation_level="read_committed")
    await consumer.start()
    try:
        tps = [TopicPartition(names.topic(k), p)
               for k in KINDS for p in (consumer.partitions_for_topic(names.topic(k)) or
                                        await _partitions(consumer, names.topic(k)))]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        per_tp: dict[TopicPartition, list[tuple[str, int]]] = {tp: [] for tp in tps}
        seen: set[tuple[str, int]] = set()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500, max_records=10_000)
            for tp, records in batches.items():
                for r in records:
                    e = ChangeEvent.from_bytes(r.value)
                    assert r.key == e.id.encode(), "key must be the entity id"
                    per_tp[tp].append((e.id, e.version))
                    seen.add((e.id, e.version))
            if not batches and expected <= seen:
                ends = await consumer.end_offsets(tps)
                positions = {tp: await consumer.position(tp) for tp in tps}
                if all(positions[tp] >= ends[tp] for tp in tps):
                    break
        return [kv for tp in tps for kv in per_tp[tp]]
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer._client.force_metadata_update()  # noqa: SLF001 (topic metadata, once)
    return consumer.partitions_for_topic(topic) or set()


async def wait_shipped(grid: HazelcastGrid, timeout: float = 120.0) -> float:
    """Seconds until no journal of the grid holds an un-shipped entry (stored positions)."""
    started = time.monotonic()
    while (waiting := await unshipped(grid.change_log)) != 0:
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{waiting} journal entries still unshipped after {timeout}s")
        await asyncio.sleep(0.2)
    return time.monotonic() - started


async def max_unshipped(grid: HazelcastGrid, map_name: str) -> tuple[int, int]:
    """(fullest partition's un-shipped entries, total) of one journaled map, from
    ``change_log.bounds`` and the stored positions."""
    log = grid.change_log
    parts = [(map_name, p) for p in range(log.partition_count)]
    status = (await journal_status(log, parts))[map_name]
    return round(status.fill * log.capacity(map_name)), status.unshipped
