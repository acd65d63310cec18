"""The sink port's contract, written once and run against every database we can reach.

``SinkContract`` is not collected by itself (no ``Test`` prefix). Each dialect's test
module subclasses it as ``TestXxxSinkContract`` and provides the ``sink_env`` fixture:
a :class:`SinkEnv` whose ``new()`` returns a sink on a brand-new empty database plus a
function running one SQL query against that database (for what the port does not
expose, like ``order_lines``). Property tests run ``hypothesis_examples`` examples.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data_writer.batching import DeferralPolicy, prepare
from data_writer.ports import Sink
from grid_config.events import ChangeEvent

Rows = Callable[[str], list[tuple[Any, ...]]]


@dataclass
class SinkEnv:
    """``new(policy)`` -> (migrated-later sink, rows(sql)) on a fresh database."""

    new: Callable[[DeferralPolicy | None], tuple[Sink, Rows]]
    created: list[Sink] = field(default_factory=list)


def user(uid: str, v: int = 1, **kw: Any) -> ChangeEvent:
    state = {"id": uid, "email": f"{uid}@example.com", "name": f"user {uid}", "is_admin": False, "version": v, **kw}
    return ChangeEvent("users", "upsert", uid, v, state, changed_at="2025-01-01T00:00:00.000Z")


def product(pid: str, v: int = 1, **kw: Any) -> ChangeEvent:
    state = {"id": pid, "sku": f"SKU-{pid}", "name": f"product {pid}", "category": "c", "price_cents": 100,
             "stock": 10, "version": v, **kw}
    return ChangeEvent("products", "upsert", pid, v, state, changed_at="2025-01-01T00:00:00.000Z")


def order(oid: str, uid: str, pids: list[str], v: int = 1, status: str = "placed") -> ChangeEvent:
    lines = [{"product_id": p, "quantity": i + 1, "price_cents": 100} for i, p in enumerate(pids)]
    state = {"id": oid, "user_id": uid, "status": status, "lines": lines,
             "total_cents": sum(100 * ln["quantity"] for ln in lines), "version": v}
    return ChangeEvent("orders", "upsert", oid, v, state, changed_at="2025-01-01T00:00:00.000Z")


def delete(kind: str, eid: str, v: int) -> ChangeEvent:
    return ChangeEvent(kind, "delete", eid, v, {}, changed_at="2025-01-01T00:00:00.000Z")


async def close_all(env: SinkEnv) -> None:
    """Fixture teardown: close every sink the test made (closing twice is harmless)."""
    for sink in env.created:
        await sink.close()


async def snapshot(sink: Sink, rows: Rows) -> dict[str, Any]:
    """Everything a user of the database sees, minus ``persisted_at`` (when, not what)."""
    out: dict[str, Any] = {}
    for kind in ("users", "products", "orders"):
        out[kind] = [(r.id, r.version, r.deleted, r.state, r.changed_at) async for r in sink.read_entities(kind)]
    out["order_lines"] = sorted(
        rows("SELECT order_id, line_no, product_id, quantity, price_cents FROM order_lines")
    )
    return out


# ---- hypothesis: histories of a small universe of keys ---------------------------------

USERS, PRODUCTS, ORDERS = ["1", "2"], ["11", "12", "13"], ["21", "22", "23"]


@st.composite
def histories(draw: st.DrawFn) -> list[ChangeEvent]:
    """Every version of every key, as the grid would have produced them (one delete at most, last)."""
    events: list[ChangeEvent] = []
    for kind, ids in (("users", USERS), ("products", PRODUCTS), ("orders", ORDERS)):
        for eid in ids:
            n = draw(st.integers(1, 4))
            for v in range(1, n + 1):
                if v == n and v > 1 and draw(st.booleans()) and kind == "orders":
                    events.append(delete(kind, eid, v))
                elif kind == "users":
                    events.append(user(eid, v, name=draw(st.sampled_from(["a", "b", "c"]))))
                elif kind == "products":
                    events.append(product(eid, v, stock=draw(st.integers(0, 5))))
                else:
                    pids = draw(st.lists(st.sampled_from(PRODUCTS), min_size=1, max_size=3, unique=True))
                    events.append(order(eid, draw(st.sampled_from(USERS)), pids, v,
                                        draw(st.sampled_from(["placed", "paid", "cancelled"]))))
    return events


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[list[ChangeEvent], list[list[ChangeEvent]]]:
    """A history, and that history shuffled, with duplicates and replays, split into batches."""
    history = draw(histories())
    replayed = history + draw(st.lists(st.sampled_from(history), max_size=len(history)))
    stream = draw(st.permutations(replayed))
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(stream) - 1)), max_size=6)))
    batches = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)]) if stream[a:b]]
    return history, batches


def newest_per_key(history: list[ChangeEvent]) -> list[ChangeEvent]:
    best: dict[tuple[str, str], ChangeEvent] = {}
    for e in history:
        if (e.kind, e.id) not in best or e.version > best[(e.kind, e.id)].version:
            best[(e.kind, e.id)] = e
    return list(best.values())


class SinkContract:
    hypothesis_examples = 60

    # helpers --------------------------------------------------------------------------
    @pytest.fixture
    async def sink_rows(self, sink_env: SinkEnv) -> tuple[Sink, Rows]:
        sink, rows = sink_env.new(None)
        await sink.migrate()
        return sink, rows

    # migrations -----------------------------------------------------------------------
    async def test_migrate_is_idempotent_and_safe_concurrently(self, sink_env: SinkEnv) -> None:
        sinks = [sink_env.new(None) for _ in range(4)]
        versions = await asyncio.gather(*(s.migrate() for s, _ in sinks))
        assert set(versions) == {1}
        assert await sinks[0][0].migrate() == 1
        assert sinks[0][1]("SELECT version FROM schema_migrations") == [(1,)]

    # version guard --------------------------------------------------------------------
    async def test_older_or_equal_version_never_overwrites(self, sink_rows: tuple[Sink, Rows]) -> None:
        sink, _ = sink_rows
        first = await sink.apply(prepare([product("11", 3, name="three")]).events)
        assert first.written == 1
        again = await sink.apply(prepare([product("11", 3, name="other"), product("11", 2, name="two")]).events)
        assert again.written == 0 and again.stale == 1
        rows = [r async for r in sink.read_entities("products")]
        assert [(r.id, r.version, r.state["name"]) for r in rows] == [("11", 3, "three")]
        newer = await sink.apply(prepare([product("11", 4, name="four")]).events)
        assert newer.written == 1
        assert await sink.fetch_versions("products", ["11", "99"]) == {"11": 4}

    async def test_delete_leaves_tombstone_that_replays_cannot_resurrect(self, sink_rows: tuple[Sink, Rows]) -> None:
        sink, rows = sink_rows
        await sink.apply(prepare([user("1"), product("11"), order("21", "1", ["11"], 1)]).events)
        await sink.apply(prepare([delete("orders", "21", 2)]).events)
        replay = await sink.apply(prepare([order("21", "1", ["11"], 1)]).events)
        assert replay.written == 0
        stored = [r async for r in sink.read_entities("orders")]
        assert [(r.id, r.version, r.deleted) for r in stored] == [("21", 2, True)]
        assert rows("SELECT order_id FROM order_lines") == []

    async def test_new_order_version_replaces_its_lines(self, sink_rows: tuple[Sink, Rows]) -> None:
        sink, rows = sink_rows
        await sink.apply(prepare([user("1"), product("11"), product("12"), order("21", "1", ["11", "12"], 1)]).events)
        await sink.apply(prepare([order("21", "1", ["12"], 2, status="paid")]).events)
        assert rows("SELECT order_id, line_no, product_id, quantity FROM order_lines") == [("21", 0, "12", 1)]
        assert rows("SELECT status, version FROM orders") == [("paid", 2)]

    async def test_coalesced_batch_keeps_only_newest_version(self, sink_rows: tuple[Sink, Rows]) -> None:
        sink, _ = sink_rows
        batch = prepare([product("11", v, stock=v) for v in (2, 5, 1, 4, 5, 3)])
        assert batch.received == 6 and len(batch.events) == 1
        await sink.apply(batch.events)
        assert [(r.version, r.state["stock"]) async for r in sink.read_entities("products")] == [(5, 5)]

    # deferral -------------------------------------------------------------------------
    async def test_order_without_parents_is_deferred_then_applied(self, sink_rows: tuple[Sink, Rows]) -> None:
        sink, rows = sink_rows
        r = await sink.apply(prepare([order("21", "1", ["11"], 1)]).events)
        assert (r.written, r.deferred, r.poison) == (0, 1, [])
        assert await sink.deferred_count() == 1
        assert [x async for x in sink.read_entities("orders")] == []
        await sink.apply(prepare([user("1")]).events)
        still = await sink.retry_deferred()
        assert still.written == 0 and still.deferred == 1 and still.expired == []
        await sink.apply(prepare([product("11")]).events)
        done = await sink.retry_deferred()
        assert done.written == 1 and done.deferred == 0
        assert await sink.deferred_count() == 0
        assert rows("SELECT order_id, product_id FROM order_lines") == [("21", "11")]

    async def test_newer_order_supersedes_deferred_version(self, sink_rows: tuple[Sink, Rows]) -> None:
        sink, _ = sink_rows
        await sink.apply(prepare([order("21", "1", ["11"], 1)]).events)
        await sink.apply(prepare([user("1"), product("12"), order("21", "1", ["12"], 2)]).events)
        assert await sink.deferred_count() == 0
        await sink.apply(prepare([product("11")]).events)
        await sink.retry_deferred()
        assert [(r.id, r.version) async for r in sink.read_entities("orders")] == [("21", 2)]

    async def test_expired_deferred_orders_are_reported_then_dropped(self, sink_env: SinkEnv) -> None:
        sink, _ = sink_env.new(DeferralPolicy(max_age=timedelta(0)))
        await sink.migrate()
        await sink.apply(prepare([order("21", "404", ["11"], 1)]).events)
        r = await sink.retry_deferred()
        assert [e.id for e in r.expired] == ["21"]
        await sink.drop_deferred(r.expired)
        assert await sink.deferred_count() == 0

    # poison ---------------------------------------------------------------------------
    async def test_refused_row_is_isolated_and_batch_goes_on(self, sink_rows: tuple[Sink, Rows]) -> None:
        """A row only the database refuses (check constraint) comes back as poison; the rest commits."""
        sink, _ = sink_rows
        bad = product("12", 1, price_cents=-5)  # bypasses prepare(): the database's check must catch it
        r = await sink.apply([product("11"), bad, product("13")])
        assert [p.event.id for p in r.poison if p.event] == ["12"]
        assert r.written == 2
        assert [x.id async for x in sink.read_entities("products")] == ["11", "13"]

    async def test_dead_letters_are_recorded(self, sink_rows: tuple[Sink, Rows]) -> None:
        sink, rows = sink_rows
        batch = prepare([b"{not json", product("11", 1, price_cents="free")])
        assert len(batch.poison) == 2
        await sink.record_dead_letters(batch.poison)
        assert sorted((r[0] or "") for r in rows("SELECT entity_id FROM dead_letters")) == ["", "11"]

    # reads ----------------------------------------------------------------------------
    async def test_read_entities_pages_through_everything(self, sink_rows: tuple[Sink, Rows]) -> None:
        sink, _ = sink_rows
        await sink.apply(prepare([user(str(i)) for i in range(1, 8)]).events)
        got = [r.id async for r in sink.read_entities("users", page=3)]
        assert sorted(got) == sorted(str(i) for i in range(1, 8))

    async def test_password_hash_only_in_its_column_and_read_back_whole(self, sink_rows: tuple[Sink, Rows]) -> None:
        sink, rows = sink_rows
        secret = "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$only-in-one-column"
        await sink.apply(prepare([user("5", password_hash=secret)]).events)
        [(column, state)] = rows("SELECT password_hash, state FROM users WHERE id = '5'")
        assert column == secret
        assert "argon2" not in str(state) and "password" not in str(state)
        [read] = [r async for r in sink.read_entities("users")]
        assert read.state["password_hash"] == secret and read.state["email"] == "5@example.com"

    # the G3 property ------------------------------------------------------------------
    def test_any_delivery_converges_to_newest_versions(self, sink_env: SinkEnv) -> None:
        @settings(max_examples=self.hypothesis_examples, deadline=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
        @given(deliveries())
        def prop(delivery: tuple[list[ChangeEvent], list[list[ChangeEvent]]]) -> None:
            history, batches = delivery
            asyncio.run(self._check_delivery(sink_env, history, batches))

        prop()

    async def _check_delivery(
        self, env: SinkEnv, history: list[ChangeEvent], batches: list[list[ChangeEvent]]
    ) -> None:
        sink, rows = env.new(None)
        ref, ref_rows = env.new(None)
        try:
            await sink.migrate()
            await ref.migrate()
            for batch in batches:
                prepared = prepare(batch)
                assert prepared.poison == []
                await sink.apply(prepared.events)
                await sink.retry_deferred()
            await ref.apply(prepare(newest_per_key(history)).events)
            assert await sink.deferred_count() == 0
            assert await ref.deferred_count() == 0
            assert await snapshot(sink, rows) == await snapshot(ref, ref_rows)
        finally:
            await sink.close()
            await ref.close()

