"""Pure batching decisions: decode/check, coalesce, parents first, freshness, deferral."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from data_writer.batching import (
    DeferralPolicy,
    check,
    coalesce,
    fresh_and_stale,
    oldest_changed_at,
    parents_first,
    prepare,
    split_ready,
)
from grid_config.events import ChangeEvent
from tests.contract.sink_contract import delete, order, product, user


def test_prepare_splits_poison_and_keeps_healthy_events() -> None:
    bad_schema = ChangeEvent("users", "upsert", "1", 1, {"email": "a@b"}, schema=2).to_bytes()
    negative = product("11", 1, price_cents=-1)
    batch = prepare([b"\xff", bad_schema, negative, user("1").to_bytes(), {"not": "an event"}])
    assert [e.id for e in batch.events] == ["1"]
    errors = [p.error for p in batch.poison]
    assert len(errors) == 4
    assert any("undecodable" in e for e in errors)
    assert any("schema version" in e for e in errors)
    assert any("price_cents" in e for e in errors)
    assert batch.poison[0].payload() == b"\xff"
    assert batch.received == 5


def test_check_rejects_what_the_database_would() -> None:
    assert check(order("21", "1", ["11"])) is None
    assert "status" in (check(order("21", "1", ["11"], status="lost")) or "")
    empty = ChangeEvent("orders", "upsert", "21", 1, {"user_id": "1", "status": "placed", "lines": []})
    assert "lines" in (check(empty) or "")
    huge = product("11", 1, price_cents=2**64)
    assert "64-bit" in (check(huge) or "")
    assert "differs" in (check(ChangeEvent("users", "upsert", "1", 1, {"id": "2", "email": "x"})) or "")
    assert check(delete("orders", "21", 3)) is None


def test_coalesce_keeps_newest_and_delete_wins_a_tie() -> None:
    events = [product("11", 2), product("11", 5, name="five"), product("12", 1), product("11", 3)]
    assert [(e.id, e.version) for e in coalesce(events)] == [("11", 5), ("12", 1)]
    tie = coalesce([product("11", 4), delete("products", "11", 4), product("11", 4)])
    assert [e.op for e in tie] == ["delete"]


def test_parents_come_first() -> None:
    events = [order("21", "1", ["11"]), product("11"), user("1"), order("22", "1", ["11"])]
    assert [e.kind for e in parents_first(events)] == ["users", "products", "orders", "orders"]


def test_fresh_and_stale_by_stored_version() -> None:
    fresh, stale = fresh_and_stale([product("11", 3), product("12", 1), product("13", 2)], {"11": 3, "13": 1})
    assert [e.id for e in fresh] == ["12", "13"] and [e.id for e in stale] == ["11"]


def test_split_ready_defers_orders_with_missing_parents() -> None:
    ready, deferred = split_ready(
        [order("21", "1", ["11"]), order("22", "2", ["11"]), order("23", "1", ["11", "12"]), delete("orders", "24", 2)],
        users_present={"1"},
        products_present={"11"},
    )
    assert [e.id for e in ready] == ["21", "24"] and [e.id for e in deferred] == ["22", "23"]


def test_deferral_policy_and_lag_source() -> None:
    now = datetime(2025, 1, 1, tzinfo=timezone.utc)
    policy = DeferralPolicy(max_age=timedelta(minutes=5))
    assert not policy.expired(now - timedelta(minutes=4), now)
    assert policy.expired(now - timedelta(minutes=6), now)
    early = ChangeEvent("users", "upsert", "1", 1, {"email": "x"}, changed_at="2025-01-01T00:00:00.000Z")
    late = ChangeEvent("users", "upsert", "2", 1, {"email": "y"}, changed_at="2025-01-01T00:00:05.000Z")
    assert oldest_changed_at([late, early]) == now
    assert oldest_changed_at([]) is None
