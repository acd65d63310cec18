"""Orders: placement all-or-none, state machine, ownership, stock release, change records."""

from __future__ import annotations

import pytest

from tests.support.eventually import eventually_async
from tests.unit.processing_unit.conftest import Api

pytestmark = pytest.mark.unit


async def place(api: Api, headers: dict[str, str], lines: list[tuple[str, int]], **extra_headers: str):
    body = {"lines": [{"product_id": p, "quantity": q} for p, q in lines]}
    return await api.client.post("/orders", json=body, headers={**headers, **extra_headers})


async def stock_of(api: Api, pid: str) -> int:
    return (await (await api.client.get(f"/products/{pid}")).json())["stock"]


async def test_place_multi_line_order(api: Api) -> None:
    a, b = await api.product(stock=5, price=100), await api.product(stock=3, price=250)
    u = await api.signup()
    await api.drain_changes()
    r = await place(api, u.headers, [(b["id"], 2), (a["id"], 1)])
    assert r.status == 201, await r.text()
    order = await r.json()
    assert order["status"] == "placed" and order["user_id"] == u.id and order["version"] == 1
    assert order["lines"] == [
        {"product_id": b["id"], "quantity": 2, "price_cents": 250},
        {"product_id": a["id"], "quantity": 1, "price_cents": 100},
    ]
    assert order["total_cents"] == 600
    assert r.headers["Location"] == f"/orders/{order['id']}"
    assert await stock_of(api, a["id"]) == 4 and await stock_of(api, b["id"]) == 1
    events = await api.drain_changes()
    by_kind = sorted((e.kind, e.id, e.version, e.state.get("stock"), bool(e.state.get("holds"))) for e in events)
    # each line: its hold (version 2, stock taken), then its settle (version 3, hold gone)
    assert by_kind == sorted(
        [("orders", order["id"], 1, None, False),
         ("products", a["id"], 2, 4, True), ("products", a["id"], 3, 4, False),
         ("products", b["id"], 2, 1, True), ("products", b["id"], 3, 1, False)]
    )


async def test_a_settle_rides_on_the_next_hold_of_its_product(api: Api) -> None:
    """Decision 0033: a committed order's settle waits for the next hold this unit sends to
    the product and goes in the same call; one record then holds the new order and no longer
    the settled one."""
    a = await api.product(stock=10)
    u = await api.signup()
    await api.drain_changes()
    first = await (await place(api, u.headers, [(a["id"], 1)])).json()
    second = await (await place(api, u.headers, [(a["id"], 2)])).json()
    events = [e for e in await api.drain_changes() if e.kind == "products"]
    assert [(e.version, e.state["stock"], sorted(e.state.get("holds") or {})) for e in events] == [
        (2, 9, [first["id"]]),  # the first hold
        (3, 7, [second["id"]]),  # the first settled and the second held, one change
        (4, 7, []),  # the second settled (drained: alone)
    ]


async def test_a_settle_goes_alone_when_no_hold_comes(api: Api) -> None:
    a = await api.product(stock=10)
    u = await api.signup()
    assert (await place(api, u.headers, [(a["id"], 1)])).status == 201
    products = api.grid.names.products

    async def settled() -> None:
        stored = await api.grid.get(products, a["id"])
        assert stored["stock"] == 9 and "holds" not in stored

    await eventually_async(settled, timeout=5, interval=0.05)  # SETTLE_DELAY_S after the order


async def test_settles_past_the_waiting_bound_are_left_to_the_reaper(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from processing_unit import stock

    monkeypatch.setattr(stock, "SETTLE_DELAY_S", 60.0)
    monkeypatch.setattr(stock, "MAX_WAITING", 2)
    a, b, c = [await api.product(stock=10) for _ in range(3)]
    u = await api.signup()
    orders = [await (await place(api, u.headers, [(p["id"], 1)])).json() for p in (a, b, c)]
    await api.services.stock.drain()
    held = {p["id"]: sorted((await api.grid.get(api.grid.names.products, p["id"])).get("holds") or {})
            for p in (a, b, c)}
    assert held == {a["id"]: [], b["id"]: [], c["id"]: [orders[2]["id"]]}  # the reaper's, past its bound


async def test_insufficient_stock_409_reserves_nothing(api: Api) -> None:
    a, b = await api.product(stock=5), await api.product(stock=1)
    u = await api.signup()
    before = await api.snapshot()
    r = await place(api, u.headers, [(a["id"], 2), (b["id"], 2)])
    assert r.status == 409
    assert (await r.json())["title"] == "Insufficient stock"
    assert await api.snapshot() == before


async def test_unknown_product_422_changes_nothing(api: Api) -> None:
    a = await api.product(stock=5)
    u = await api.signup()
    before = await api.snapshot()
    r = await place(api, u.headers, [(a["id"], 1), ("999999", 1)])
    assert r.status == 422
    assert (await r.json())["errors"] == [{"field": "lines[1].product_id", "message": "no such product"}]
    assert await api.snapshot() == before


async def test_a_one_line_order_is_refused_by_its_hold_and_changes_nothing(api: Api) -> None:
    """One line: no read first (the hold answers what a read would), still 422/409 with
    nothing changed, and the price is the one the hold read."""
    a = await api.product(stock=2, price=700)
    u = await api.signup()
    before = await api.snapshot()
    r = await place(api, u.headers, [("999999", 1)])
    assert r.status == 422
    assert (await r.json())["errors"] == [{"field": "lines[0].product_id", "message": "no such product"}]
    r = await place(api, u.headers, [(a["id"], 3)])
    assert r.status == 409
    assert (await r.json())["errors"] == [{"field": f"product {a['id']}", "message": "2 left, 3 wanted"}]
    assert await api.snapshot() == before
    r = await place(api, u.headers, [(a["id"], 2)])
    assert r.status == 201 and (await r.json())["total_cents"] == 1400


async def test_lifecycle_pay_ship_and_wrong_states(api: Api) -> None:
    a = await api.product(stock=5, price=300)
    u = await api.signup()
    order = await (await place(api, u.headers, [(a["id"], 2)])).json()
    oid = order["id"]
    # ship before payment: wrong state
    assert (await api.client.post(f"/orders/{oid}/ship", headers=api.admin)).status == 409
    # wrong amount: 422, nothing changes
    r = await api.client.post(f"/orders/{oid}/payment", json={"amount_cents": 599}, headers=u.headers)
    assert r.status == 422
    r = await api.client.post(f"/orders/{oid}/payment", json={"amount_cents": 600}, headers=u.headers)
    assert r.status == 200 and (await r.json())["status"] == "paid"
    assert (await api.client.post(f"/orders/{oid}/payment", json={"amount_cents": 600}, headers=u.headers)).status == 409
    # non-admin cannot ship
    assert (await api.client.post(f"/orders/{oid}/ship", headers=u.headers)).status == 403
    r = await api.client.post(f"/orders/{oid}/ship", headers=api.admin)
    assert r.status == 200
    shipped = await r.json()
    assert shipped["status"] == "shipped" and shipped["version"] == 3
    # shipped cannot be cancelled
    assert (await api.client.post(f"/orders/{oid}/cancel", headers=u.headers)).status == 409
    events = [e for e in await api.drain_changes() if e.kind == "orders"]
    assert [(e.version, e.state["status"]) for e in events] == [(1, "placed"), (2, "paid"), (3, "shipped")]


@pytest.mark.parametrize("pay_first", [False, True])
async def test_cancel_releases_stock_exactly_once(api: Api, pay_first: bool) -> None:
    a = await api.product(stock=5, price=10)
    u = await api.signup()
    order = await (await place(api, u.headers, [(a["id"], 3)])).json()
    if pay_first:
        await api.client.post(f"/orders/{order['id']}/payment", json={"amount_cents": 30}, headers=u.headers)
    assert await stock_of(api, a["id"]) == 2
    await api.drain_changes()
    r = await api.client.post(f"/orders/{order['id']}/cancel", headers=u.headers)
    assert r.status == 200 and (await r.json())["status"] == "cancelled"
    assert await stock_of(api, a["id"]) == 5
    r = await api.client.post(f"/orders/{order['id']}/cancel", headers=u.headers)
    assert r.status == 409
    assert await stock_of(api, a["id"]) == 5
    events = await api.drain_changes()
    # the order: cancelled (owing its stock), then restocked; the product: the stock given
    # back with its once-only marker (the reaper drops it once older than the hold bound)
    assert [(e.kind, e.state["status"], e.state.get("restock")) for e in events if e.kind == "orders"] == [
        ("orders", "cancelled", "pending"), ("orders", "cancelled", "done")]
    assert [(e.state["stock"], sorted(e.state.get("returns", {}))) for e in events if e.kind == "products"] == [
        (5, [order["id"]])]


async def test_other_users_orders_are_404(api: Api) -> None:
    a = await api.product(stock=5, price=10)
    owner, other = await api.signup(), await api.signup()
    order = await (await place(api, owner.headers, [(a["id"], 1)])).json()
    oid = order["id"]
    assert (await api.client.get(f"/orders/{oid}", headers=other.headers)).status == 404
    assert (await api.client.post(f"/orders/{oid}/cancel", headers=other.headers)).status == 404
    r = await api.client.post(f"/orders/{oid}/payment", json={"amount_cents": 10}, headers=other.headers)
    assert r.status == 404
    assert (await (await api.client.get("/orders", headers=other.headers)).json())["items"] == []
    r = await api.client.get(f"/orders?user_id={owner.id}", headers=other.headers)
    assert r.status == 403
    # the owner and the admin see it
    assert (await api.client.get(f"/orders/{oid}", headers=owner.headers)).status == 200
    assert (await api.client.get(f"/orders/{oid}", headers=api.admin)).status == 200
    r = await api.client.get(f"/orders?user_id={owner.id}", headers=api.admin)
    assert [o["id"] for o in (await r.json())["items"]] == [oid]
    assert await stock_of(api, a["id"]) == 4


async def test_list_own_orders_paged(api: Api) -> None:
    a = await api.product(stock=50, price=10)
    u = await api.signup()
    ids = [(await (await place(api, u.headers, [(a["id"], 1)])).json())["id"] for _ in range(5)]
    r = await api.client.get("/orders?limit=3", headers=u.headers)
    page = await r.json()
    assert [o["id"] for o in page["items"]] == ids[:3]
    r = await api.client.get(f"/orders?limit=3&cursor={page['next_cursor']}", headers=u.headers)
    page2 = await r.json()
    assert [o["id"] for o in page2["items"]] == ids[3:] and page2["next_cursor"] is None


async def test_unknown_order_404(api: Api) -> None:
    u = await api.signup()
    for path in ("/orders/42", "/orders/nope"):
        assert (await api.client.get(path, headers=u.headers)).status == 404
    assert (await api.client.post("/orders/42/cancel", headers=u.headers)).status == 404
    assert (await api.client.post("/orders/42/ship", headers=api.admin)).status == 404


async def test_orders_keep_every_other_field_of_the_product_entry(api: Api) -> None:
    """A product is one entry (decision 0017): orders change its stock and version only, so
    fields they do not know (the stock processors' holds) survive; the resource shows none."""
    a = await api.product(stock=5, price=10)
    products = api.grid.names.products
    holds = {"o-elsewhere": {"at": 1, "qty": 2, "by": "other"}}
    await api.grid.put(products, a["id"], {**a, "holds": holds})
    u = await api.signup()
    order = await (await place(api, u.headers, [(a["id"], 3)])).json()
    await api.services.stock.drain()  # the settle, off the request path
    # held (version 2) then settled (version 3): the other order's hold is untouched
    assert await api.grid.get(products, a["id"]) == {**a, "stock": 2, "version": 3, "holds": holds}
    r = await api.client.get(f"/products/{a['id']}")
    assert await r.json() == {**a, "stock": 2, "version": 3} and r.headers["ETag"] == '"3"'
    assert (await api.client.post(f"/orders/{order['id']}/cancel", headers=u.headers)).status == 200
    # given back (version 4, with its marker; the reaper drops it once older than the bound)
    stored = await api.grid.get(products, a["id"])
    assert stored == {**a, "stock": 5, "version": 4, "holds": holds,
                      "returns": {order["id"]: {"at": stored["returns"][order["id"]]["at"], "qty": 3}}}
