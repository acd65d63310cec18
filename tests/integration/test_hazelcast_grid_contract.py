"""The grid contract on the Hazelcast adapter (3-member harness cluster), plus its own promises."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from typing import Any, AsyncIterator

import pytest

from grid_config.errors import GridUnavailable
from grid_config.hazelcast_grid import HazelcastGrid
from grid_config.names import Names
from grid_config.ports import Grid, Value
from grid_config.settings import CommonSettings
from tests.contract.change_log_contract import same_partition_keys
from tests.contract.grid_contract import GridContract, GridFactory, journal
from tests.support.eventually import eventually_async

pytestmark = pytest.mark.integration


def settings_for(cluster: Any, namespace: str = "") -> CommonSettings:
    return CommonSettings(
        grid="hazelcast",
        hazelcast_members=",".join(cluster.members),
        hazelcast_cluster=cluster.cluster_name,
        namespace=namespace,
    )


class TestHazelcastGridContract(GridContract):
    @pytest.fixture
    async def grid_factory(self, hazelcast_cluster: Any) -> AsyncIterator[GridFactory]:
        made: list[Grid] = []

        async def make(names: Names, *_: Any, **journaled: Any) -> Grid:
            grid = HazelcastGrid(settings_for(hazelcast_cluster), names, **journaled)
            await grid.start()
            made.append(grid)
            return grid

        yield make
        for grid in made:
            await grid.close()


@pytest.fixture
async def hz_grid(hazelcast_cluster: Any, namespace: str) -> AsyncIterator[HazelcastGrid]:
    names = Names(namespace=namespace)
    grid = HazelcastGrid(settings_for(hazelcast_cluster), names)
    await grid.start()
    yield grid
    await grid.close()


async def test_unreachable_cluster_fails_fast_with_grid_unavailable() -> None:
    settings = CommonSettings(grid="hazelcast", hazelcast_members="127.0.0.1:1", hazelcast_cluster="nobody")
    grid = HazelcastGrid(settings, Names(namespace="x-"), connect_timeout_s=2.0)
    started = time.monotonic()
    with pytest.raises(GridUnavailable):
        await grid.start()
    assert time.monotonic() - started < 10
    with pytest.raises(GridUnavailable):
        await grid.get("x-products", "1")  # not started: refuses at once, never hangs
    await grid.close()


def bump(current: Value | None) -> Value:
    """``update``'s change: the next version of a product."""
    assert current is not None
    return {**current, "version": current["version"] + 1}


async def test_product_reads_see_updates_at_once(
    hazelcast_cluster: Any, hz_grid: HazelcastGrid, namespace: str
) -> None:
    """No near cache (decision 0017): every unit reads an acknowledged write at once."""
    n = hz_grid.names
    await hz_grid.put(n.products, "1", {"id": "1", "version": 1})
    assert (await hz_grid.get(n.products, "1"))["version"] == 1
    await hz_grid.update(n.products, "1", bump)
    assert (await hz_grid.get(n.products, "1"))["version"] == 2  # own write: at once

    other = HazelcastGrid(settings_for(hazelcast_cluster), n)
    await other.start()
    try:
        assert (await other.get(n.products, "1"))["version"] == 2
        await hz_grid.update(n.products, "1", bump)
        assert (await other.get(n.products, "1"))["version"] == 3  # another unit: at once too
        assert (await other.get_many(n.products, ["1"]))["1"]["version"] == 3
    finally:
        await other.close()


async def put_version(grid: HazelcastGrid, key: str, version: int) -> None:
    await grid.put(grid.names.products, key, {"id": key, "version": version}, request_id=f"r-{key}-{version}")


READER = textwrap.dedent(
    """
    import asyncio, sys
    from grid_config.hazelcast_grid import HazelcastGrid
    from grid_config.names import Names
    from grid_config.settings import CommonSettings

    async def main():
        names = Names(namespace=sys.argv[1])
        grid = HazelcastGrid(CommonSettings(), names)
        await grid.start()
        read = await grid.change_log.read(names.products, int(sys.argv[2]), 0, max_items=3)
        print("read", ",".join(c.key for c in read.changes), flush=True)
        await asyncio.sleep(3600)  # never stores its position: killed here

    asyncio.run(main())
    """
)


async def test_entries_read_by_a_killed_reader_stay_in_order(
    hazelcast_cluster: Any, hz_grid: HazelcastGrid
) -> None:
    """(Formerly: records taken from an outbox stripe by a killed process stay in order.)
    A journal read reserves nothing and removes nothing: a reader killed before storing
    its position leaves every entry where the next reader finds it, in order."""
    n = hz_grid.names
    log = hz_grid.change_log
    ids = same_partition_keys(log, 5)
    p = log.partition_of(ids[0])
    for i in ids:
        await put_version(hz_grid, i, 1)
    env = {**os.environ, **hazelcast_cluster.settings_env, "PYTHONPATH": os.getcwd()}
    proc = subprocess.Popen([sys.executable, "-c", READER, n.namespace, str(p)], env=env,
                            stdout=subprocess.PIPE, text=True)
    try:
        line = await asyncio.to_thread(proc.stdout.readline)  # type: ignore[union-attr]
        assert line.strip() == "read " + ",".join(ids[:3])
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert await log.position(n.products, p) is None
        got = await log.read(n.products, p, 0, max_items=100)
        assert [c.key for c in got.changes] == ids and got.lost == 0
        assert [c.seq for c in got.changes] == list(range(5))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


SHIPPER = textwrap.dedent(
    """
    import asyncio, sys
    from data_pump.ownership import SHARDS
    from data_pump.shipping import ship_shard
    from grid_config.events import ChangeEvent
    from grid_config.hazelcast_grid import HazelcastGrid
    from grid_config.names import Names
    from grid_config.settings import CommonSettings

    class FilePublisher:
        # "acknowledged" = appended to the file
        def __init__(self, out):
            self.out = out

        async def send(self, topic, key, value, headers=None):
            e = ChangeEvent.from_bytes(value)
            self.out.write(f"{e.id}:{e.version}\\n")
            self.out.flush()
            done = asyncio.get_running_loop().create_future()
            done.set_result(None)
            return done

        async def flush(self):
            pass

    async def main():
        names = Names(namespace=sys.argv[1])
        grid = HazelcastGrid(CommonSettings(), names)
        await grid.start()
        pub, stop, log = FilePublisher(open(sys.argv[2], "a")), asyncio.Event(), grid.change_log
        await asyncio.gather(*(ship_shard(log, names, pub, s, SHARDS, stop, batch_size=50, on_shipped=log.shipped)
                               for s in range(SHARDS)))

    asyncio.run(main())
    """
)


async def test_shippers_sigkilled_at_random_instants_lose_no_entry(
    hazelcast_cluster: Any, hz_grid: HazelcastGrid, tmp_path: Any
) -> None:
    """(Formerly: outbox takers SIGKILLed at random instants lose no record; a regression
    of transactional polls.) The pump's shipping code in a process SIGKILLed 10 times
    while 6,000 puts write: every change reaches the "broker" (a file)."""
    import random

    from data_pump.shipping import unshipped

    n = hz_grid.names
    out = tmp_path / "shipped.txt"
    cmd = [sys.executable, "-c", SHIPPER, n.namespace, str(out)]
    env = {**os.environ, **hazelcast_cluster.settings_env, "PYTHONPATH": os.getcwd()}
    written: set[str] = set()
    sem = asyncio.Semaphore(16)

    async def write(i: int) -> None:
        key, version = str(10**15 + i % 300), i // 300 + 1
        async with sem:
            await put_version(hz_grid, key, version)
        written.add(f"{key}:{version}")

    rng = random.Random(11)
    proc = subprocess.Popen(cmd, env=env)
    try:
        writing = asyncio.ensure_future(asyncio.gather(*(write(i) for i in range(6000))))
        for _ in range(10):
            await asyncio.sleep(rng.uniform(0.3, 1.2))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            proc = subprocess.Popen(cmd, env=env)
        await writing

        async def shipped_all() -> None:
            assert await unshipped(hz_grid.change_log) == 0

        await eventually_async(shipped_all, timeout=90, interval=0.3)
        shipped = out.read_text().split()
        missing = written - set(shipped)
        print(f"\n[shipper kills] written={len(written)} shipped={len(shipped)} "
              f"repeated={len(shipped) - len(set(shipped))} missing={len(missing)}")
        assert not missing, f"{len(missing)} changes lost, e.g. {sorted(missing)[:5]}"
    finally:
        proc.kill()
        proc.wait()


async def test_an_update_that_keeps_losing_its_compare_and_set_is_a_write_conflict(
    hazelcast_cluster: Any, hz_grid: HazelcastGrid
) -> None:
    """Another client changes the product between every read and compare-and-set of an
    update: after its rounds the update gives up with WriteConflict (safe to retry) and
    has written nothing; an update left alone then applies."""
    import threading

    from grid_config.errors import WriteConflict
    from grid_config.hazelcast_grid import UPDATE_ROUNDS

    n = hz_grid.names
    await hz_grid.put(n.products, "1", {"id": "1", "version": 1})
    # the other writer: its own client on its own event loop, so the change (synchronous,
    # run on this loop) can wait for its write
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def on_other(coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=30)

    other = HazelcastGrid(settings_for(hazelcast_cluster), n)
    on_other(other.start())
    rounds = [0]

    def interfered(current: Value | None) -> Value:
        rounds[0] += 1
        assert current is not None
        on_other(other.put(n.products, "1", {"id": "1", "version": 1000 + rounds[0]}, request_id="other"))
        return {**current, "version": current["version"] + 1}

    try:
        with pytest.raises(WriteConflict):
            await hz_grid.update(n.products, "1", interfered, request_id="loser")
    finally:
        on_other(other.close())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
    assert rounds[0] == UPDATE_ROUNDS
    assert await hz_grid.get(n.products, "1") == {"id": "1", "version": 1000 + UPDATE_ROUNDS}  # the other's
    versions = [c.value["version"] for c in await journal(hz_grid, n.products, "1")]
    assert versions == [1] + [1000 + r for r in range(1, UPDATE_ROUNDS + 1)]  # nothing of the loser's
    assert (await hz_grid.update(n.products, "1", bump))["version"] == 1001 + UPDATE_ROUNDS


async def test_two_readers_of_one_journal_duplicate_but_never_lose_or_reorder(
    hazelcast_cluster: Any, hz_grid: HazelcastGrid
) -> None:
    """(Formerly: a second outbox taker's positional commit hands back what it removed.)
    Ownership violated: two shippers on one journal, interleaved while the key changes.
    Nothing is removed by reading, so each ships every entry it reads in order; together
    they miss nothing, and the position only ever lands on an entry boundary."""
    from data_pump.shipping import PartitionShipper
    from tests.integration.journal_audit import RecordingPublisher

    n = hz_grid.names
    log = hz_grid.change_log
    key = same_partition_keys(log, 1)[0]
    p = log.partition_of(key)
    other = HazelcastGrid(settings_for(hazelcast_cluster), n)
    await other.start()
    try:
        pubs = [RecordingPublisher(), RecordingPublisher()]
        shippers = [PartitionShipper(g.change_log, n, pub, n.products, p, batch_size=3)
                    for g, pub in zip((hz_grid, other), pubs)]
        version = 0
        for round_ in range(6):
            for _ in range(4):
                version += 1
                await put_version(hz_grid, key, version)
            await shippers[round_ % 2].ship_once()
            await shippers[(round_ + 1) % 2].ship_once()
        while await shippers[0].ship_once() or await shippers[1].ship_once():
            pass
        seen = [[e.version for e in pub.events(n)] for pub in pubs]
        for versions in seen:
            assert versions == sorted(versions), seen
        assert set(seen[0]) | set(seen[1]) == set(range(1, version + 1)), seen
        assert await log.position(n.products, p) == version  # sequences 0..version-1 shipped
    finally:
        await other.close()


async def test_the_client_fails_on_indeterminate_operation_state(hz_grid: HazelcastGrid) -> None:
    """A write whose backups did not all acknowledge raises instead of passing as done, and
    it is Indeterminate (a GridUnavailable: the unit answers 503), never a WriteConflict,
    which callers retry as is and which could apply a non-idempotent write twice."""
    from hazelcast.errors import IndeterminateOperationStateError

    from grid_config.errors import Indeterminate, WriteConflict
    from grid_config.hazelcast_grid import _translate

    client = hz_grid.connection.client()
    assert client._config.fail_on_indeterminate_operation_state is True  # noqa: SLF001
    translated = _translate(IndeterminateOperationStateError("backup of set did not acknowledge"))
    assert isinstance(translated, Indeterminate) and isinstance(translated, GridUnavailable)
    assert not isinstance(translated, WriteConflict)


async def test_a_map_proxy_whose_connection_closes_under_its_creation_is_created_again(
    hz_grid: HazelcastGrid, namespace: str
) -> None:
    """CI once saw a grid's start fail: the client closed the connection its proxy creation
    was sent on (TargetDisconnectedError, not retried by the client for a bound invocation).
    Here every connection closes right after the creation is sent: the map still comes."""
    connection = hz_grid.connection
    client = connection.client()
    creating = asyncio.create_task(connection.map(f"{namespace}fresh"))
    await asyncio.sleep(0)  # the creation request is bound to a connection now
    await close_every_connection(client)
    proxy = await asyncio.wait_for(creating, timeout=30)
    # a read, not a write: until the client is back on every member, a write's backup
    # acknowledgement can miss it (Indeterminate, answered 503 by a unit)
    assert await connection.call(lambda: proxy.get("k")) is None


async def test_a_map_proxy_asked_for_while_the_client_has_no_connection_comes_once_it_reconnects(
    hz_grid: HazelcastGrid, namespace: str
) -> None:
    """CI saw the resend of a creation (the test above) find the client with no connection
    yet (``ClientOfflineError``, it reconnects in the background): that is waited out too."""
    connection = hz_grid.connection
    client = connection.client()

    async def offline() -> bool:
        assert not client._connection_manager.active_connections  # noqa: SLF001
        return True

    closing = asyncio.create_task(close_every_connection(client))  # its last close awaits the reconnection
    await eventually_async(offline, timeout=10, interval=0.001)
    proxy = await asyncio.wait_for(connection.map(f"{namespace}offline"), timeout=30)
    await closing
    assert await connection.call(lambda: proxy.get("k")) is None


async def close_every_connection(client: Any) -> None:
    """Close each of the client's open connections (the last close awaits its reconnection)."""
    for open_connection in list(client._connection_manager.active_connections.values()):  # noqa: SLF001
        await open_connection.close_connection("closed by the test", None)


async def connected_to_every_member(client: Any) -> None:
    """Wait until the client is connected to the session's 3 members again (it reconnects in
    the background after a connection closed)."""
    async def on_every_member() -> bool:
        return len(client._connection_manager.active_connections) == 3  # noqa: SLF001

    await eventually_async(on_every_member, timeout=30)


async def test_a_read_of_many_keys_whose_connection_closes_under_it_is_sent_again(
    hz_grid: HazelcastGrid, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A member's connection closing under a ``get_many`` (the client's ``get_all``, one task
    per member, not resent by the client itself) is read again, not a 503: the member-SIGKILL
    test saw multi-line orders answered 503 from this. Repeated until one read did lose its
    connection (the close must land while the read is out)."""
    name = f"{namespace}many"
    values = {f"k{i}": {"id": f"k{i}", "n": i} for i in range(64)}  # keys on both members
    for key, value in values.items():
        await hz_grid.put(name, key, value)
    client = hz_grid.connection.client()

    resent = 0
    with caplog.at_level("WARNING", logger="grid_config.hazelcast_asyncio"):
        for _ in range(20):
            await connected_to_every_member(client)
            reading = asyncio.create_task(hz_grid.get_many(name, list(values)))
            for _ in range(3):
                await asyncio.sleep(0)  # the per-member requests are out now
            victim = next(iter(client._connection_manager.active_connections.values()))  # noqa: SLF001
            await victim.close_connection("closed by the test", None)
            assert await asyncio.wait_for(reading, timeout=30) == values
            resent = sum("lost its connection" in r.getMessage() for r in caplog.records)
            if resent:
                break
    assert resent, "no read lost its connection in 20 tries: the test did not test anything"


async def test_a_compare_and_set_whose_connection_closes_is_read_back_and_never_applied_twice(
    hazelcast_cluster: Any, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Pay, cancel and ship are ``update``s (a compare-and-set): a member's connection
    closing under one made it a 503 although it was applied. Now it is read back: our own
    document stored means done. Sequential increments while connections close at random
    moments: every increment answered done is in the count exactly once (none lost, none
    applied twice); the ones answered "unknown" may or may not be."""
    from grid_config.errors import GridUnavailable as Unknown

    # a journaled map (its documents are stamped, which the read-back relies on); no pump
    # here to give journal credits back, so this grid takes none (G7 is not under test)
    grid = HazelcastGrid(settings_for(hazelcast_cluster), Names(namespace=namespace), journal_guard=False)
    await grid.start()
    try:
        name, key = grid.names.orders, "counter"
        await grid.put(name, key, {"n": 0})
        client = grid.connection.client()
        stop = asyncio.Event()

        async def close_connections() -> None:
            rng = random.Random(7)
            while not stop.is_set():
                await asyncio.sleep(rng.uniform(0.002, 0.02))
                open_now = list(client._connection_manager.active_connections.values())  # noqa: SLF001
                if len(open_now) == 3:  # one at a time: the client stays online
                    await rng.choice(open_now).close_connection("closed by the test", None)

        done = unknown = read_back = 0
        closer = asyncio.create_task(close_connections())
        deadline = time.monotonic() + 60
        try:
            with caplog.at_level("WARNING", logger="grid_config.hazelcast_grid"):
                while time.monotonic() < deadline and not (read_back and done >= 50):
                    try:
                        await grid.update(name, key, lambda v: {"n": v["n"] + 1})
                        done += 1
                    except Unknown:
                        unknown += 1
                    read_back = sum("read back: applied" in r.getMessage() for r in caplog.records)
        finally:
            stop.set()
            await closer
        stored = await grid.get(name, key)
    finally:
        await grid.close()
    print(f"\ncompare-and-sets under closing connections: {done} done ({read_back} read back), "
          f"{unknown} unknown, stored count {stored and stored['n']}")
    assert stored is not None and done <= stored["n"] <= done + unknown, (stored, done, unknown)
    assert read_back, f"no compare-and-set lost its connection in 60 s ({done} done, {unknown} unknown)"


async def lose_the_next_compare_and_set(client: Any, meanwhile: Any = None) -> list[Any]:
    """Make the client's next ``replace_if_same`` never reach its member, then close that
    connection (after awaiting ``meanwhile()``, when given): the outcome the client sees is
    a closed connection, as when a member dies while a call is out. Returns the lost ones."""
    import struct

    from hazelcast.protocol.client_message import _OUTBOUND_MESSAGE_MESSAGE_TYPE_OFFSET as TYPE_AT
    from hazelcast.protocol.codec import map_replace_if_same_codec

    lost: list[Any] = []

    async def close(connection: Any) -> None:
        if meanwhile is not None:
            await meanwhile()
        await connection.close_connection("lost by the test", None)

    def on(connection: Any) -> None:
        send = connection.send_message

        def send_message(message: Any) -> bool:
            kind = struct.unpack_from("<i", message.buf, TYPE_AT)[0]
            if kind == map_replace_if_same_codec._REQUEST_MESSAGE_TYPE and not lost:  # noqa: SLF001
                lost.append(message)  # never written: the member does not see it
                asyncio.get_running_loop().create_task(close(connection))
                return True
            return send(message)

        connection.send_message = send_message

    await connected_to_every_member(client)
    for connection in list(client._connection_manager.active_connections.values()):  # noqa: SLF001
        on(connection)
    return lost


async def test_a_compare_and_set_lost_with_its_connection_is_sent_again(
    hazelcast_cluster: Any, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A compare-and-set that never reached its member, whose connection then closed (the
    member died as it was sent): its outcome is unknown to the client, and the read back
    finds the very document it was to replace. Sent again, it is answered done and applied
    once (decision 0036); before, a 503 for a change that could simply be made. But when
    another write came in between, ours may have landed and been replaced: still a 503."""
    from grid_config.errors import Indeterminate

    grid = HazelcastGrid(settings_for(hazelcast_cluster), Names(namespace=namespace), journal_guard=False)
    other = HazelcastGrid(settings_for(hazelcast_cluster), Names(namespace=namespace), journal_guard=False)
    await grid.start()
    await other.start()
    try:
        name, key = grid.names.orders, "lost-compare-and-set"
        await grid.put(name, key, {"n": 0})
        lost = await lose_the_next_compare_and_set(grid.connection.client())
        with caplog.at_level("WARNING", logger="grid_config.hazelcast_grid"):
            updated = await grid.update(name, key, lambda v: {"n": v["n"] + 1}, request_id="lost-once")
        assert lost, "no compare-and-set was lost: the test did not test anything"
        assert updated == {"n": 1}
        assert await grid.get(name, key) == {"n": 1}
        assert any("not applied, sent again" in r.getMessage() for r in caplog.records), caplog.text

        async def another_write() -> None:
            await other.put(name, key, {"n": 100}, request_id="the-other-writer")

        lost = await lose_the_next_compare_and_set(grid.connection.client(), another_write)
        with pytest.raises(Indeterminate):
            await grid.update(name, key, lambda v: {"n": v["n"] + 1}, request_id="lost-then-replaced")
        assert lost
        assert await grid.get(name, key) == {"n": 100}  # the other's, and not changed on top of it
    finally:
        await other.close()
        await grid.close()
