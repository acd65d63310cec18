"""The journal-credit contract on real Hazelcast members (the Java CreditsTake/CreditsGive of
grid_config/member/), plus what only the members can show: byte-identical canonical JSON,
no-ops that leave the stored entry untouched, refusals of bad input, and backups that hold
every change."""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator

import pytest

from grid_config.credit_processors import CreditAnswer, CreditsGive, CreditsProcessor, CreditsTake
from grid_config.hazelcast_grid import _decode, _encode
from grid_config.journal import credit_key
from grid_config.names import Names
from tools.local.stack import LocalStack
from tests.contract.credit_processor_contract import B, KEY, CreditProcessorContract

pytestmark = pytest.mark.integration


async def _client(members: list[str], cluster_name: str) -> Any:
    from hazelcast.asyncio import HazelcastClient

    return await HazelcastClient.create_and_start(
        cluster_name=cluster_name, cluster_members=members, cluster_connect_timeout=30.0
    )


class MapSpace:
    """The journal-credits map on the cluster, written and read in the Python adapter's encoding."""

    def __init__(self, client: Any, map_name: str) -> None:
        self.client = client
        self.map_name = map_name
        self.map: Any = None

    async def open(self) -> "MapSpace":
        self.map = await self.client.get_map(self.map_name)
        return self

    async def seed(self, key: str, value: dict[str, Any]) -> None:
        await self.map.set(key, _encode(key, value))

    async def get(self, key: str) -> dict[str, Any] | None:
        return _decode(await self.map.get(key))

    async def raw(self, key: str) -> str | None:
        stored = await self.map.get(key)
        return None if stored is None else stored.to_string()

    async def run_raw(self, key: str, processor: CreditsProcessor) -> str:
        return await self.map.execute_on_key(key, processor)

    async def run(self, key: str, processor: CreditsProcessor) -> CreditAnswer:
        return CreditAnswer.from_json(await self.run_raw(key, processor))


@pytest.fixture
async def map_space(hazelcast_cluster: Any, names: Names) -> AsyncIterator[MapSpace]:
    client = await _client(hazelcast_cluster.members, hazelcast_cluster.cluster_name)
    try:
        yield await MapSpace(client, names.journal_credits).open()
    finally:
        await client.shutdown()


class TestJavaCreditProcessors(CreditProcessorContract):
    @pytest.fixture
    def space(self, map_space: MapSpace) -> MapSpace:
        return map_space


async def test_stored_values_and_answers_are_byte_identical_to_python(map_space: MapSpace, names: Names) -> None:
    """Java's JSON equals orjson's, for created entries, updated ones and kept fields."""
    created = credit_key(names.products, 3)
    step = CreditsTake(5, B)
    value, answer = step.apply(None)
    assert await map_space.run_raw(created, step) == answer.to_json()
    assert await map_space.raw(created) == _encode(created, value or {}).to_string() == '{"credits":45}'

    kept = credit_key(names.orders, 270)
    start = {"credits": 7, "text": "tab\t é \u2028 😀", "big": 12345678901234567, "exp": 1e300, "z": [None, True]}
    await map_space.seed(kept, start)
    expected: dict[str, Any] = start
    for p in (CreditsTake(3, B), CreditsGive(100, B), CreditsTake(B, B), CreditsTake(1, B), CreditsGive(2, B)):
        new, answer = p.apply(expected)
        assert await map_space.run_raw(kept, p) == answer.to_json()
        expected = new or expected
    assert await map_space.raw(kept) == _encode(kept, expected).to_string()


async def test_no_op_leaves_the_entry_untouched(map_space: MapSpace) -> None:
    """Refused takes and gives at the bound write nothing: same bytes, same entry version."""
    await map_space.run(KEY, CreditsTake(2, B))
    await map_space.run(KEY, CreditsGive(2, B))  # back at the bound, stored
    before = await map_space.map.get_entry_view(KEY)
    raw_before = await map_space.raw(KEY)
    await asyncio.sleep(0.05)  # so a write would show in last_update_time
    answers = [await map_space.run(KEY, p) for p in (CreditsGive(3, B), CreditsTake(B + 1, B))]
    assert answers == [CreditAnswer("given", B, capped=3), CreditAnswer("refused", B)]
    after = await map_space.map.get_entry_view(KEY)
    assert await map_space.raw(KEY) == raw_before == '{"credits":50}'
    assert (after.version, after.last_update_time) == (before.version, before.last_update_time)
    await map_space.run(KEY, CreditsTake(1, B))
    assert (await map_space.map.get_entry_view(KEY)).version > before.version
    # on a missing key neither a give nor a refused take creates anything
    await map_space.run("nobody#1", CreditsGive(1, B))
    await map_space.run("nobody#1", CreditsTake(B + 1, B))
    assert await map_space.map.contains_key("nobody#1") is False


async def test_bad_input_is_refused_unchanged(map_space: MapSpace) -> None:
    from hazelcast.core import HazelcastJsonValue
    from hazelcast.errors import HazelcastError

    for raw in ('{"credits":-1}', '{"credits":"5"}', '{"other":1}', '[1]'):
        await map_space.map.set(KEY, HazelcastJsonValue(raw))
        for p in (CreditsTake(1, B), CreditsGive(1, B)):
            with pytest.raises(HazelcastError, match="credits|object"):
                await map_space.run(KEY, p)
        assert await map_space.raw(KEY) == raw
    await map_space.seed(KEY, {"credits": 3})
    for p in (CreditsTake(0, B), CreditsGive(-1, B)):
        with pytest.raises(HazelcastError, match="n must be positive"):
            await map_space.run(KEY, p)
    with pytest.raises(HazelcastError, match="bound must be positive"):
        await map_space.run(KEY, CreditsTake(1, 0))
    assert await map_space.get(KEY) == {"credits": 3}


async def test_backups_hold_every_change_after_a_member_dies(engine_factory: Any, names: Names) -> None:
    """Changes reach the backup (re-run there), no-ops send none: after SIGKILL of one member
    of two, every key reads exactly what the primary answered."""
    stack: LocalStack = engine_factory()
    stack.cluster.start(2)
    client = await _client(stack.cluster.addresses(), stack.cluster.cluster_name)
    try:
        space = await MapSpace(client, names.journal_credits).open()
        keys = [credit_key(names.products, p) for p in range(0, 271, 7)]  # over both members' partitions
        steps: list[CreditsProcessor] = [
            CreditsTake(10, B), CreditsTake(B, B), CreditsTake(30, B),  # change, refused, change
            CreditsGive(5, B), CreditsGive(100, B), CreditsGive(1, B),  # change, capped change, no-op
            CreditsTake(B - 1, B),  # change
        ]
        expected: dict[str, dict[str, Any]] = {}
        for k in keys:
            value: dict[str, Any] | None = None
            for step in steps:
                value = step.apply(value)[0] or value
                await space.run(k, step)
            expected[k] = value  # type: ignore[assignment]
        assert {k: await space.get(k) for k in keys} == expected == {k: {"credits": 1} for k in keys}
        stack.cluster.kill(stack.cluster.members()[-1])
        stack.cluster.wait_until(1, timeout=120)
        assert {k: await space.get(k) for k in keys} == expected
    finally:
        await client.shutdown()
