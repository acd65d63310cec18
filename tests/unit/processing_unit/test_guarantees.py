"""G5 (no oversell, conservation), G6 (Idempotency-Key), G7 (backpressure) through the HTTP API."""

from __future__ import annotations

import asyncio
import random

import pytest

from tests.support.eventually import eventually_async
from tests.support.holds import lines_without_their_hold_record
from tests.unit.processing_unit.conftest import Api, make_api, unit_settings

pytestmark = pytest.mark.unit


def order_body(lines: list[tuple[str, int]]) -> dict:
    return {"lines": [{"product_id": p, "quantity": q} for p, q in lines]}


async def test_g5_concurrent_orders_for_last_units(api: Api) -> None:
    """200 concurrent orders (single- and multi-line) for 3 products of stock 50 each."""
    products = [await api.product(stock=50, price=100) for _ in range(3)]
    ids = [p["id"] for p in products]
    users = [await api.signup() for _ in range(10)]
    await api.drain_changes()
    rng = random.Random(7)
    bodies = []
    for i in range(200):
        chosen = rng.sample(ids, rng.choice([1, 1, 2, 3]))
        bodies.append((users[i % 10], [(pid, rng.randint(1, 3)) for pid in chosen]))
    rs = await asyncio.gather(
        *(api.client.post("/orders", json=order_body(lines), headers=u.headers) for u, lines in bodies)
    )
    assert {r.status for r in rs} <= {201, 409}
    accepted = [await r.json() for r in rs if r.status == 201]
    assert len(accepted) < 200  # the stock ran out: some were refused
    sold = {pid: 0 for pid in ids}
    for order in accepted:
        for line in order["lines"]:
            sold[line["product_id"]] += line["quantity"]
    for pid in ids:
        stock = (await (await api.client.get(f"/products/{pid}")).json())["stock"]
        assert stock >= 0
        assert stock + sold[pid] == 50  # conserved
    # every acknowledged order left one record for itself; each line of it a product record
    # with its hold and a later one without (the settle, alone or carried by a later hold of
    # the product: decision 0033; a refused order may add hold/release pairs)
    events = await api.drain_changes()
    order_events = {e.id for e in events if e.kind == "orders"}
    assert order_events == {o["id"] for o in accepted}
    assert not lines_without_their_hold_record(events, accepted)
    product_events = [e for e in events if e.kind == "products"]
    for pid in ids:  # each stock change is one version step, newest record = current stock
        mine = [e for e in product_events if e.id == pid]
        assert [e.version for e in mine] == list(range(2, 2 + len(mine)))
        current = await api.grid.get(api.grid.names.products, pid)
        assert mine[-1].state["stock"] == current["stock"] and not current.get("holds")


async def test_g5_exactly_one_wins_the_last_unit(api: Api) -> None:
    p = await api.product(stock=1)
    users = [await api.signup() for _ in range(20)]
    rs = await asyncio.gather(
        *(api.client.post("/orders", json=order_body([(p["id"], 1)]), headers=u.headers) for u in users)
    )
    assert sorted(r.status for r in rs) == [201] + [409] * 19
    assert (await (await api.client.get(f"/products/{p['id']}")).json())["stock"] == 0


async def test_g6_retry_returns_first_result_and_creates_nothing(api: Api) -> None:
    p = await api.product(stock=10, price=5)
    u = await api.signup()
    body = order_body([(p["id"], 2)])
    headers = {**u.headers, "Idempotency-Key": "abc-123"}
    first = await api.client.post("/orders", json=body, headers=headers)
    assert first.status == 201
    await api.drain_changes()
    before = await api.snapshot()
    again = await api.client.post("/orders", json=body, headers=headers)
    assert again.status == 201
    assert await again.json() == await first.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert await api.snapshot() == before  # nothing created, no change records
    # the same key with another body: 422, nothing changes
    r = await api.client.post("/orders", json=order_body([(p["id"], 3)]), headers=headers)
    assert r.status == 422
    assert (await r.json())["errors"][0]["field"] == "Idempotency-Key"
    assert await api.snapshot() == before


async def test_g6_keys_are_scoped_per_user(api: Api) -> None:
    p = await api.product(stock=10, price=5)
    u1, u2 = await api.signup(), await api.signup()
    body = order_body([(p["id"], 1)])
    r1 = await api.client.post("/orders", json=body, headers={**u1.headers, "Idempotency-Key": "k"})
    r2 = await api.client.post("/orders", json=body, headers={**u2.headers, "Idempotency-Key": "k"})
    assert r1.status == r2.status == 201
    assert (await r1.json())["id"] != (await r2.json())["id"]


async def test_g6_concurrent_duplicates_place_one_order(api: Api) -> None:
    p = await api.product(stock=100, price=5)
    u = await api.signup()
    await api.drain_changes()
    headers = {**u.headers, "Idempotency-Key": "same"}
    rs = await asyncio.gather(
        *(api.client.post("/orders", json=order_body([(p["id"], 1)]), headers=headers) for _ in range(10))
    )
    assert {r.status for r in rs} <= {201, 409}
    ids = {(await r.json())["id"] for r in rs if r.status == 201}
    assert len(ids) == 1
    assert (await (await api.client.get(f"/products/{p['id']}")).json())["stock"] == 99
    assert len([e for e in await api.drain_changes() if e.kind == "orders"]) == 1


async def test_g6_refused_order_is_not_remembered(api: Api) -> None:
    """A 409 (no stock) stores no result: after a restock the same key places the order."""
    p = await api.product(stock=0, price=5)
    u = await api.signup()
    headers = {**u.headers, "Idempotency-Key": "later"}
    assert (await api.client.post("/orders", json=order_body([(p["id"], 1)]), headers=headers)).status == 409
    await api.client.patch(f"/products/{p['id']}", json={"stock": 1}, headers=api.admin)
    assert (await api.client.post("/orders", json=order_body([(p["id"], 1)]), headers=headers)).status == 201


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "tab\tkey"])
async def test_g6_bad_idempotency_key_422(api: Api, key: str) -> None:
    p = await api.product(stock=10, price=5)
    u = await api.signup()
    r = await api.client.post("/orders", json=order_body([(p["id"], 1)]), headers={**u.headers, "Idempotency-Key": key})
    assert r.status == 422


async def test_g7_backpressure_503_with_retry_after_and_not_ready() -> None:
    """No pump runs: once a journal holds its bound of un-shipped changes, writes and readiness answer 503."""
    async for api in make_api(unit_settings(), journal_capacity=16):  # bound: 8 un-shipped per journal
        assert (await api.client.get("/health/ready")).status == 200
        # every order appends one entry to the product's journal: the 9th finds it at its bound
        p = await api.product(stock=100, price=5)
        await api.drain_changes()
        u = await api.signup()
        await api.drain_changes()
        statuses = []
        for _ in range(10):
            r = await api.client.post("/orders", json=order_body([(p["id"], 1)]), headers=u.headers)
            statuses.append(r.status)
            if r.status == 503:
                assert int(r.headers["Retry-After"]) >= 1
                assert r.content_type == "application/problem+json"
        assert 503 in statuses and set(statuses) <= {201, 503}
        accepted = statuses.count(201)
        assert (await api.client.get(f"/products/{p['id']}")).status == 200  # reads still served
        assert (await (await api.client.get(f"/products/{p['id']}")).json())["stock"] == 100 - accepted
        r = await api.client.get("/health/ready")
        assert r.status == 503 and "Retry-After" in r.headers
        assert (await api.client.get("/health/live")).status == 200
        # the pump ships the journals: writes and readiness recover
        await api.drain_changes()

        async def recovered() -> None:
            assert (await api.client.get("/health/ready")).status == 200
            r = await api.client.post("/orders", json=order_body([(p["id"], 1)]), headers=u.headers)
            assert r.status == 201

        await eventually_async(recovered, timeout=5)
