"""grid_config.hazelcast_journal against real 5.6 members (the 3-member harness cluster).

Each test writes maps of its own namespace; the map names end in the patterns of
grid_config/hazelcast.yaml that enable the journal (``*products``, ``*orders``; the
test-only ``*journal-tiny`` with 10 slots per partition for the overflow test).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, AsyncIterator

import pytest
from hazelcast.core import HazelcastJsonValue
from hazelcast.errors import UnsupportedOperationError

from grid_config import hazelcast_journal as journal
from grid_config.hazelcast_journal import EventType, JournalBounds, JournalEvent
from tests.support.eventually import eventually_async

pytestmark = pytest.mark.integration

TINY_CAPACITY = 271 * 10  # grid_config/hazelcast.yaml "*journal-tiny"


@pytest.fixture
async def client(hazelcast_cluster: Any) -> AsyncIterator[Any]:
    from hazelcast.asyncio import HazelcastClient

    c = await HazelcastClient.create_and_start(
        cluster_name=hazelcast_cluster.cluster_name,
        cluster_members=hazelcast_cluster.members,
        cluster_connect_timeout=30.0,
    )
    yield c
    await c.shutdown()


def doc(**fields: Any) -> HazelcastJsonValue:
    return HazelcastJsonValue(json.dumps(fields, sort_keys=True))


def shape(e: JournalEvent) -> tuple[EventType, Any, Any, Any]:
    """An event without its sequence, values as dicts, for comparisons."""
    load = lambda v: None if v is None else v.loads()  # noqa: E731
    return e.type, e.key, load(e.new_value), load(e.old_value)


def keys_in_partition(client: Any, partition_id: int, count: int, prefix: str = "k") -> list[str]:
    keys: list[str] = []
    i = 0
    while len(keys) < count:
        key = f"{prefix}{i}"
        if journal.partition_of(client, key) == partition_id:
            keys.append(key)
        i += 1
    return keys


async def test_partition_helpers_agree_with_the_client(client: Any) -> None:
    assert journal.partition_count(client) == 271
    for key in ("1", "p-42", "4b9a-uuid-like-0001"):
        assert journal.partition_of(client, key) == await client.partition_service.get_partition_id(key)


async def test_subscribe_bounds_on_empty_and_filled_partitions(client: Any, namespace: str) -> None:
    name = f"{namespace}products"
    m = await client.get_map(name)
    p = journal.partition_of(client, "a")
    assert await journal.subscribe(client, name, p) == JournalBounds(0, -1)  # never written
    for i in range(3):
        await m.set("a", doc(v=i))
    assert await journal.subscribe(client, name, p) == JournalBounds(0, 2)
    other = (p + 1) % 271
    assert await journal.subscribe(client, name, other) == JournalBounds(0, -1)

    # every partition's journal, in parallel: 3 events in all, all in p
    all_bounds = await asyncio.gather(*(journal.subscribe(client, name, q) for q in range(271)))
    assert sum(b.newest - b.oldest + 1 for b in all_bounds) == 3


async def test_put_set_remove_are_added_updated_removed_with_old_and_new_values(
    client: Any, namespace: str
) -> None:
    name = f"{namespace}products"
    m = await client.get_map(name)
    await m.put("k", doc(v=1))
    await m.set("k", doc(v=2))
    await m.put("k", doc(v=3))
    await m.remove("k")
    await m.set("k2", doc(v=1))  # maybe another partition: not in k's journal unless co-located
    await m.delete("k2")

    p = journal.partition_of(client, "k")
    batch = await journal.read(client, name, p, 0)
    mine = [e for e in batch.events if e.key == "k"]
    assert [shape(e) for e in mine] == [
        (EventType.ADDED, "k", {"v": 1}, None),
        (EventType.UPDATED, "k", {"v": 2}, {"v": 1}),
        (EventType.UPDATED, "k", {"v": 3}, {"v": 2}),
        (EventType.REMOVED, "k", None, {"v": 3}),
    ]
    assert isinstance(mine[0].new_value, HazelcastJsonValue)
    assert batch.lost == 0

    p2 = journal.partition_of(client, "k2")
    k2 = [shape(e) for e in (await journal.read(client, name, p2, 0)).events if e.key == "k2"]
    assert k2 == [(EventType.ADDED, "k2", {"v": 1}, None), (EventType.REMOVED, "k2", None, {"v": 1})]


async def test_conditional_writes_record_only_what_changed(client: Any, namespace: str) -> None:
    """replace_if_same (compare-and-set) is an UPDATED; refused conditional writes leave no event.
    (Entry processors need a Java class on the members; none is deployed yet.)"""
    name = f"{namespace}orders"
    m = await client.get_map(name)
    await m.put("o", doc(status="new", version=1))
    assert await m.replace_if_same("o", doc(status="new", version=1), doc(status="paid", version=2))
    assert not await m.replace_if_same("o", doc(status="new", version=1), doc(status="x", version=9))
    assert await m.put_if_absent("o", doc(status="x", version=9)) is not None
    await m.replace("o", doc(status="shipped", version=3))

    batch = await journal.read(client, name, journal.partition_of(client, "o"), 0)
    assert [shape(e) for e in batch.events] == [
        (EventType.ADDED, "o", {"status": "new", "version": 1}, None),
        (EventType.UPDATED, "o", {"status": "paid", "version": 2}, {"status": "new", "version": 1}),
        (EventType.UPDATED, "o", {"status": "shipped", "version": 3}, {"status": "paid", "version": 2}),
    ]


async def test_read_from_a_sequence_in_the_middle_and_in_pages(client: Any, namespace: str) -> None:
    name = f"{namespace}products"
    m = await client.get_map(name)
    for i in range(10):
        await m.set("k", doc(v=i))
    p = journal.partition_of(client, "k")

    middle = await journal.read(client, name, p, 4)
    assert [e.seq for e in middle.events] == list(range(4, 10))
    assert [e.new_value.loads()["v"] for e in middle.events] == list(range(4, 10))
    assert (middle.read_count, middle.next_seq, middle.lost) == (6, 10, 0)

    page = await journal.read(client, name, p, 2, max_size=3)
    assert [e.seq for e in page.events] == [2, 3, 4]
    assert (page.read_count, page.next_seq, page.lost) == (3, 5, 0)

    at_end = await journal.read(client, name, p, 10)
    assert (at_end.events, at_end.read_count, at_end.next_seq, at_end.lost) == ([], 0, 10, 0)


async def test_long_poll_returns_when_a_write_arrives(client: Any, namespace: str) -> None:
    name = f"{namespace}orders"
    m = await client.get_map(name)
    p = journal.partition_of(client, "k")
    start = (await journal.subscribe(client, name, p)).newest + 1
    poll = asyncio.create_task(journal.read(client, name, p, start, min_size=1))
    done, _ = await asyncio.wait({poll}, timeout=0.5)
    assert not done, "a long poll answered before any write"

    await m.set("k", doc(v=1))
    batch = await asyncio.wait_for(poll, timeout=10)
    assert [shape(e) for e in batch.events] == [(EventType.ADDED, "k", {"v": 1}, None)]
    assert (batch.events[0].seq, batch.next_seq, batch.lost) == (start, start + 1, 0)


async def test_one_key_keeps_its_order_across_1000_updates(client: Any, namespace: str) -> None:
    """A concurrent long-polling reader sees 1,000 updates of one key in write order, each
    event's old value the previous event's new value, sequences without holes."""
    name = f"{namespace}orders"
    m = await client.get_map(name)
    p = journal.partition_of(client, "hot")
    seen: list[JournalEvent] = []
    lost: list[int] = []

    start = (await journal.subscribe(client, name, p)).newest + 1

    async def reader() -> None:
        seq = start
        while True:
            batch = await journal.read(client, name, p, seq, min_size=1)
            lost.append(batch.lost)
            seen.extend(batch.events)
            seq = batch.next_seq

    task = asyncio.create_task(reader())
    try:
        for chunk in range(10):  # 100 at a time, well below the 256 slots of the partition
            for i in range(chunk * 100, chunk * 100 + 100):
                await m.set("hot", doc(n=i))

            async def caught_up(expected: int = chunk * 100 + 100) -> None:
                assert len(seen) == expected

            await eventually_async(caught_up, timeout=30, interval=0.02)
    finally:
        task.cancel()
        # a cancelled long poll stays parked on the member until the partition's next write
        await m.set("hot", doc(n=-1))
    assert set(lost) == {0}
    assert [e.new_value.loads()["n"] for e in seen] == list(range(1000))
    assert [e.seq for e in seen] == list(range(start, start + 1000))
    assert seen[0].type == EventType.ADDED and all(e.type == EventType.UPDATED for e in seen[1:])
    assert all(b.old_value == a.new_value for a, b in zip(seen, seen[1:]))


async def test_gap_detection_counts_exactly_the_overwritten_events(client: Any, namespace: str) -> None:
    name = f"{namespace}journal-tiny"
    m = await client.get_map(name)
    slots = TINY_CAPACITY // journal.partition_count(client)
    assert slots == 10
    p = journal.partition_of(client, "seed")
    keys = keys_in_partition(client, p, 25)
    for i, key in enumerate(keys):
        await m.set(key, doc(i=i))

    assert await journal.subscribe(client, name, p) == JournalBounds(15, 24)  # 10 slots: 0..14 gone
    from_zero = await journal.read(client, name, p, 0)
    assert from_zero.lost == 15
    assert [e.seq for e in from_zero.events] == list(range(15, 25))
    assert [e.key for e in from_zero.events] == keys[15:]
    assert (await journal.read(client, name, p, 12)).lost == 3
    assert (await journal.read(client, name, p, 15)).lost == 0
    tail = await journal.read(client, name, p, from_zero.next_seq)
    assert (tail.events, tail.lost) == ([], 0)

    # a reader that keeps up loses nothing: read, then write 9 more, read on
    for i in range(9):
        await m.set(keys[i], doc(i=100 + i))
    batch = await journal.read(client, name, p, from_zero.next_seq)
    assert (batch.read_count, batch.lost) == (9, 0)


async def test_a_start_beyond_the_journal_shows_as_negative_lost(client: Any, namespace: str) -> None:
    """A reader ahead of the journal (it was recreated) reads from its start: lost < 0."""
    name = f"{namespace}products"
    m = await client.get_map(name)
    p = journal.partition_of(client, "k")
    empty = await journal.read(client, name, p, 5)
    assert (empty.events, empty.next_seq, empty.lost) == ([], 5, 0)  # an empty read cannot tell

    poll = asyncio.create_task(journal.read(client, name, p, 5, min_size=1))
    done, _ = await asyncio.wait({poll}, timeout=0.5)  # parked on the member before the write
    assert not done
    await m.set("k", doc(v=1))
    batch = await asyncio.wait_for(poll, timeout=10)
    assert [e.seq for e in batch.events] == [0]
    assert batch.lost == -5


async def test_a_map_without_journal_is_refused(client: Any, namespace: str) -> None:
    name = f"{namespace}scratch"
    await (await client.get_map(name)).set("k", 1)
    with pytest.raises(UnsupportedOperationError):
        await journal.subscribe(client, name, 0)
    with pytest.raises(UnsupportedOperationError):
        await journal.read(client, name, 0, 0)
