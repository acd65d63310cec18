"""The stock processor contract on real Hazelcast members (the Java processors of
grid_config/member/), plus what only the members can show: byte-identical canonical JSON,
no-ops that leave the stored entry untouched, and backups that hold every change."""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator

import pytest

from grid_config.entry_processors import (
    StockAnswer,
    StockForget,
    StockHold,
    StockProcessor,
    StockRelease,
    StockReturn,
    StockSettle,
    StockSteps,
    hold,
    return_stock,
)
from grid_config.hazelcast_grid import _encode, _load
from tools.local.stack import LocalStack
from tests.contract.stock_processor_contract import NOW, PID, T0, T1, StockProcessorContract

pytestmark = pytest.mark.integration


async def _client(members: list[str], cluster_name: str) -> Any:
    from hazelcast.asyncio import HazelcastClient

    return await HazelcastClient.create_and_start(
        cluster_name=cluster_name, cluster_members=members, cluster_connect_timeout=30.0
    )


class MapSpace:
    """A products map on the cluster, written and read in the Python adapter's encoding
    (read as stored: the ``_meta`` stamp kept, the sort key dropped)."""

    def __init__(self, client: Any, map_name: str) -> None:
        self.client = client
        self.map_name = map_name
        self.map: Any = None

    async def open(self) -> "MapSpace":
        self.map = await self.client.get_map(self.map_name)
        return self

    async def seed(self, product_id: str, value: dict[str, Any]) -> None:
        await self.map.set(product_id, _encode(product_id, value))

    async def get(self, product_id: str) -> dict[str, Any] | None:
        return _load(await self.map.get(product_id))

    async def raw(self, product_id: str) -> str | None:
        stored = await self.map.get(product_id)
        return None if stored is None else stored.to_string()

    async def run_raw(self, product_id: str, processor: StockProcessor) -> str:
        return await self.map.execute_on_key(product_id, processor)

    async def run(self, product_id: str, processor: StockProcessor) -> StockAnswer:
        return StockAnswer.from_json(await self.run_raw(product_id, processor))

    async def run_steps(self, product_id: str, steps: StockSteps) -> list[StockAnswer]:
        return StockSteps.decode(await self.map.execute_on_key(product_id, steps))


@pytest.fixture
async def map_space(hazelcast_cluster: Any, namespace: str) -> AsyncIterator[MapSpace]:
    client = await _client(hazelcast_cluster.members, hazelcast_cluster.cluster_name)
    try:
        yield await MapSpace(client, f"{namespace}products").open()
    finally:
        await client.shutdown()


class TestJavaStockProcessors(StockProcessorContract):
    @pytest.fixture
    def space(self, map_space: MapSpace) -> MapSpace:
        return map_space


def canonical(product_id: str, value: dict[str, Any]) -> str:
    """What the Python adapter would store for ``value`` (sorted keys, sort key field)."""
    return _encode(product_id, value).to_string()


async def test_stored_values_and_answers_are_byte_identical_to_python(map_space: MapSpace) -> None:
    """Java's JSON equals orjson's: key order by code point, escapes, raw non-ASCII, numbers,
    in the entry (holds, returns, _meta included) and in the answers."""
    value = {"stock": 100, "version": 1, "price": 12.5, "big": 12345678901234567, "neg": -3,
             "exp": 1e300, "text": "tab\t nl\n é \u2028 \x7f \x01 😀", "empty": {},
             "list": [3, {"z": None, "y": True}]}
    await map_space.seed(PID, value)
    order_ids = ["b", "a", "B", "_x", "é", "z\u00ff", "😀", "\uffff", 'quote"back\\slash', "ctl\x1f\b\f\r"]
    expected = value
    for i, order_id in enumerate(order_ids):
        attempt, request_id = f"att-{order_id}-\u2028", f"req-{i}-é\x00"
        expected, answer = hold(expected, order_id, attempt, i + 1, NOW + i, request_id, T0)  # type: ignore[assignment]
        got = await map_space.run_raw(PID, StockHold(order_id, attempt, i + 1, NOW + i, request_id, T0))
        assert got == answer.to_json()
        expected, answer = return_stock(expected, order_id, i + 2, NOW - i, request_id, T1)  # type: ignore[assignment]
        got = await map_space.run_raw(PID, StockReturn(order_id, i + 2, NOW - i, request_id, T1))
        assert got == answer.to_json()
    assert await map_space.raw(PID) == canonical(PID, expected)
    assert "_sk" in (await map_space.raw(PID) or "")  # the adapter's sort key survives


async def test_no_op_leaves_the_entry_untouched(map_space: MapSpace) -> None:
    """Repeats, refusals and absent holds or markers write nothing: same bytes, same entry
    version, same last update time."""
    await map_space.seed(PID, {"stock": 5, "version": 1})
    await map_space.run(PID, StockHold("o-1", "a1", 2, NOW, "r-1", T0))
    await map_space.run(PID, StockReturn("o-8", 1, NOW, "r-2", T0))
    before = await map_space.map.get_entry_view(PID)
    raw_before = await map_space.raw(PID)
    await asyncio.sleep(0.05)  # so a write would show in last_update_time
    no_ops: list[StockProcessor] = [
        StockHold("o-1", "a1", 2, NOW + 5, "n", T1), StockHold("o-1", "a2", 1, NOW, "n", T1),
        StockHold("o-2", "a1", 9, NOW, "n", T1), StockRelease("o-9", "a1", "n", T1), StockSettle("o-9", "a1", "n", T1),
        StockRelease("o-1", "a2", "n", T1), StockSettle("o-1", "a2", "n", T1), StockReturn("o-8", 3, NOW, "n", T1),
        StockForget("o-9", "n", T1),
    ]
    answers = [await map_space.run(PID, p) for p in no_ops]
    assert [a.outcome for a in answers] == ["held", "busy", "short", "absent", "absent", "absent", "absent",
                                            "returned", "absent"]
    after = await map_space.map.get_entry_view(PID)
    assert await map_space.raw(PID) == raw_before
    assert (after.version, after.last_update_time) == (before.version, before.last_update_time)
    # a real change moves both
    await map_space.run(PID, StockRelease("o-1", "a1", "c", T1))
    changed = await map_space.map.get_entry_view(PID)
    assert changed.version > before.version


async def test_a_malformed_entry_is_refused_unchanged(map_space: MapSpace) -> None:
    from hazelcast.core import HazelcastJsonValue
    from hazelcast.errors import HazelcastError

    await map_space.map.set("7", HazelcastJsonValue('{"version":1}'))
    with pytest.raises(HazelcastError, match="stock"):
        await map_space.run("7", StockHold("o-1", "a1", 1, NOW, "r", T0))
    assert await map_space.raw("7") == '{"version":1}'
    await map_space.map.set("8", HazelcastJsonValue('{"holds":{"o-1":{"at":1,"by":7,"qty":1}},"stock":1,"version":1}'))
    with pytest.raises(HazelcastError, match="by"):
        await map_space.run("8", StockRelease("o-1", "a1", "r", T0))
    await map_space.seed(PID, {"stock": 1, "version": 1})
    with pytest.raises(HazelcastError, match="qty"):
        await map_space.run(PID, StockHold("o-1", "a1", 0, NOW, "r", T0))
    with pytest.raises(HazelcastError, match="qty"):
        await map_space.run(PID, StockReturn("o-1", -1, NOW, "r", T0))
    with pytest.raises(HazelcastError, match="qty"):  # arguments are checked before the entry
        await map_space.run("404", StockHold("o-1", "a1", 0, NOW, "r", T0))
    with pytest.raises(HazelcastError, match="changed_at"):
        await map_space.run(PID, StockForget("o-1", "r", "2026-11-28T10:00:00Z"))
    with pytest.raises(HazelcastError, match="order id"):
        await map_space.run(PID, StockSettle("", "a1", "r", T0))
    assert await map_space.get(PID) == {"stock": 1, "version": 1}


async def test_backups_hold_every_change_after_a_member_dies(engine_factory: Any, namespace: str) -> None:
    """Changes reach the backup (re-run there), no-ops send none: after SIGKILL of either
    member of two, every key reads exactly what the primary answered."""
    stack: LocalStack = engine_factory()
    stack.cluster.start(2)
    client = await _client(stack.cluster.addresses(), stack.cluster.cluster_name)
    try:
        space = await MapSpace(client, f"{namespace}products").open()
        keys = [str(1000 + i) for i in range(40)]  # spread over both members' partitions
        expected: dict[str, dict[str, Any]] = {}
        for k in keys:
            await space.seed(k, {"stock": 5, "version": 1})
            steps: list[StockProcessor] = [
                StockHold("a", "x", 2, NOW, "r1", T0), StockHold("a", "x", 2, NOW, "r2", T1),  # change, no-op
                StockHold("a", "y", 1, NOW, "r3", T1), StockHold("b", "x", 9, NOW, "r4", T1),  # busy, short
                StockHold("c", "x", 1, NOW, "r5", T0), StockRelease("c", "x", "r6", T1),  # change, change
                StockRelease("c", "x", "r7", T1),  # no-op
                StockHold("d", "x", 2, NOW, "r8", T0), StockSettle("d", "x", "r9", T1),  # change, change
                StockSettle("zz", "x", "r10", T1),  # no-op
                StockReturn("d", 2, NOW, "r11", T0), StockReturn("d", 2, NOW, "r12", T1),  # change, no-op
                StockReturn("e", 1, NOW, "r13", T0), StockForget("e", "r14", T1),  # change, change
                StockForget("e", "r15", T0),  # no-op
            ]
            value: dict[str, Any] | None = {"stock": 5, "version": 1}
            for step in steps:
                value = step.apply(value)[0] or value
                await space.run(k, step)
            for several in (StockSteps([StockHold("f", "x", 1, NOW, "r16", T0), StockSettle("a", "x", "r17", T1)]),
                            StockSteps([StockSettle("a", "x", "r18", T1), StockHold("g", "x", 9, NOW, "r19", T1)])):
                value = several.apply(value)[0] or value  # a change, then steps that change nothing
                await space.run_steps(k, several)
            expected[k] = value  # type: ignore[assignment]
        assert {k: await space.get(k) for k in keys} == expected
        stack.cluster.kill(stack.cluster.members()[-1])
        stack.cluster.wait_until(1, timeout=120)
        assert {k: await space.get(k) for k in keys} == expected
    finally:
        await client.shutdown()
