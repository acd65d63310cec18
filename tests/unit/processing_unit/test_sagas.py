"""The order sagas (G5, G6) and the reaper on the in-process grid: what a crash leaves behind
is finished, duplicates never touch each other's holds, a restart still replays a key."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from grid_config.entry_processors import StockHold
from processing_unit.app import create_app
from processing_unit.domain.orders import order_id_for
from processing_unit.sagas import OrderSagas, now_ms
from tests.unit.processing_unit.conftest import Api, unit_settings
from tests.unit.processing_unit.test_guarantees import order_body

pytestmark = pytest.mark.unit
OLD = 1_000  # a hold time far in the past (ms since the epoch): older than any bound


async def product_entry(api: Api, pid: str) -> dict[str, Any]:
    entry = await api.grid.get(api.grid.names.products, pid)
    assert entry is not None
    return entry


async def test_g6_replay_survives_a_unit_restart(api: Api) -> None:
    """A second unit over the same grid (a restart) answers the same key with the first order."""
    p = await api.product(stock=5)
    u = await api.signup()
    headers = {**u.headers, "Idempotency-Key": "restart-1"}
    first = await api.client.post("/orders", json=order_body([(p["id"], 2)]), headers=headers)
    assert first.status == 201
    order = await first.json()
    assert order["id"] == order_id_for(u.id, "restart-1")
    other = TestClient(TestServer(create_app(unit_settings(bootstrap_admin=""), api.grid)))
    await other.start_server()
    try:
        again = await other.post("/orders", json=order_body([(p["id"], 2)]), headers=headers)
        assert again.status == 201 and again.headers["Idempotent-Replayed"] == "true"
        assert await again.json() == order
        changed = await other.post("/orders", json=order_body([(p["id"], 1)]), headers=headers)
        assert changed.status == 422
    finally:
        await other.close()
    assert (await product_entry(api, p["id"]))["stock"] == 3  # one order's worth, once


async def test_a_concurrent_duplicate_is_409_and_leaves_the_first_attempts_hold(api: Api) -> None:
    p = await api.product(stock=5)
    u = await api.signup()
    order_id = order_id_for(u.id, "dup")
    # another attempt of the same key holds stock right now (its request is in flight)
    await api.grid.execute(api.grid.names.products, p["id"], StockHold(order_id, "first", 2, now_ms()))
    r = await api.client.post("/orders", json=order_body([(p["id"], 2)]), headers={**u.headers, "Idempotency-Key": "dup"})
    assert r.status == 409, await r.text()
    assert (await r.json())["errors"][0]["field"] == "Idempotency-Key"
    entry = await product_entry(api, p["id"])
    assert entry["stock"] == 3 and entry["holds"][order_id]["by"] == "first"


async def test_reaper_releases_the_holds_of_a_placement_that_never_committed(api: Api) -> None:
    p = await api.product(stock=5)
    await api.grid.execute(api.grid.names.products, p["id"], StockHold("424242", "dead", 2, OLD))
    fresh = StockHold("434343", "alive", 1, now_ms())  # a placement in flight: too young to touch
    await api.grid.execute(api.grid.names.products, p["id"], fresh)
    done = await api.services.reaper.sweep()
    assert (done.released, done.settled) == (1, 0)
    entry = await product_entry(api, p["id"])
    assert entry["stock"] == 4 and list(entry["holds"]) == ["434343"]


async def test_reaper_settles_the_holds_of_a_committed_order(api: Api) -> None:
    p = await api.product(stock=5)
    u = await api.signup()
    order = await (await api.client.post("/orders", json=order_body([(p["id"], 2)]), headers=u.headers)).json()
    await api.services.stock.drain()
    stored = await api.grid.get(api.grid.names.orders, order["id"])
    # as if the unit died before settling: the order's attempt holds the stock again
    await api.grid.execute(api.grid.names.products, p["id"], StockHold(order["id"], stored["attempt"], 2, OLD))
    # and a hold of another attempt for the same order id (a duplicate that died) is released
    await api.grid.execute(api.grid.names.products, p["id"], StockHold("515151", "loser", 1, OLD))
    done = await api.services.reaper.sweep()
    assert (done.settled, done.released) == (1, 1)
    entry = await product_entry(api, p["id"])
    assert entry["stock"] == 1 and not entry.get("holds")


async def test_reaper_finishes_a_cancellation_whose_unit_died(api: Api) -> None:
    p = await api.product(stock=5)
    u = await api.signup()
    order = await (await api.client.post("/orders", json=order_body([(p["id"], 3)]), headers=u.headers)).json()
    await api.services.stock.drain()
    # the cancel's commit point happened long ago, nothing after it
    await api.grid.update(api.grid.names.orders, order["id"],
                          lambda o: {**o, "status": "cancelled", "restock": "pending", "cancelled_at_ms": OLD,
                                     "version": o["version"] + 1})
    assert (await product_entry(api, p["id"]))["stock"] == 2
    done = await api.services.reaper.sweep()
    assert done.restocked == 1
    assert (await product_entry(api, p["id"]))["stock"] == 5
    assert (await api.grid.get(api.grid.names.orders, order["id"]))["restock"] == "done"
    again = await api.services.reaper.sweep()  # nothing twice
    assert again.restocked == 0 and (await product_entry(api, p["id"]))["stock"] == 5
    # the give-back marker stays until it is older than the bound, then the reaper drops it
    assert list((await product_entry(api, p["id"]))["returns"]) == [order["id"]]
    await age_return_markers(api, p["id"])
    assert (await api.services.reaper.sweep()).forgotten == 1
    assert not (await product_entry(api, p["id"])).get("returns")


async def test_two_restocks_of_one_order_give_its_stock_back_once(api: Api) -> None:
    """Both units' reapers expiring one unpaid order in the same second (or a reaper and the
    user's cancel): the second restock read "pending" before the first finished. It must
    find the first one's give-back marker and give nothing back again (decision 0032)."""
    p = await api.product(stock=5)
    u = await api.signup()
    order = await (await api.client.post("/orders", json=order_body([(p["id"], 3)]), headers=u.headers)).json()
    await api.services.stock.drain()
    pending = await api.grid.update(api.grid.names.orders, order["id"],
                                    lambda o: {**o, "status": "cancelled", "restock": "pending",
                                               "cancelled_at_ms": now_ms(), "version": o["version"] + 1})
    sagas = OrderSagas(api.grid, api.services.stock, 30)
    await sagas.restock(pending, "first")
    assert (await product_entry(api, p["id"]))["stock"] == 5
    await sagas.restock(pending, "second")  # what it read was still "pending"
    assert (await product_entry(api, p["id"]))["stock"] == 5
    assert (await api.grid.get(api.grid.names.orders, order["id"]))["restock"] == "done"


async def age_return_markers(api: Api, pid: str) -> None:
    """Make a product's give-back markers look older than any bound."""
    await api.grid.update(api.grid.names.products, pid, lambda e: {
        **e, "returns": {oid: {**m, "at": OLD} for oid, m in e["returns"].items()}, "version": e["version"] + 1})


async def test_public_order_hides_the_saga_fields(api: Api) -> None:
    p = await api.product(stock=5)
    u = await api.signup()
    r = await api.client.post("/orders", json=order_body([(p["id"], 1)]), headers={**u.headers, "Idempotency-Key": "x"})
    assert set(await r.json()) == {"id", "user_id", "status", "lines", "total_cents", "version"}
    stored = await api.grid.get(api.grid.names.orders, (await r.json())["id"])
    assert {"attempt", "fingerprint", "placed_at_ms"} <= set(stored)


async def place(api: Api, headers: dict[str, str], pid: str, qty: int = 1) -> dict[str, Any]:
    r = await api.client.post("/orders", json=order_body([(pid, qty)]), headers=headers)
    assert r.status == 201, await r.text()
    return await r.json()


async def test_reaper_expires_an_unpaid_order_once_and_leaves_a_paid_one(api: Api) -> None:
    p = await api.product(stock=5)
    u = await api.signup()
    unpaid, paid = await place(api, u.headers, p["id"], 2), await place(api, u.headers, p["id"], 1)
    r = await api.client.post(f"/orders/{paid['id']}/payment", json={"amount_cents": paid["total_cents"]},
                              headers=u.headers)
    assert r.status == 200, await r.text()
    await api.services.stock.drain()
    for order in (unpaid, paid):  # both placed longer ago than the payment timeout (900 s)
        await api.grid.update(api.grid.names.orders, order["id"], lambda o: {**o, "placed_at_ms": OLD})
    assert (await product_entry(api, p["id"]))["stock"] == 2
    done = await api.services.reaper.sweep()
    assert done.expired == 1
    seen = await (await api.client.get(f"/orders/{unpaid['id']}", headers=u.headers)).json()
    assert (seen["status"], seen["version"]) == ("cancelled", unpaid["version"] + 2)  # cancelled, restocked
    assert (await api.client.get(f"/orders/{paid['id']}", headers=u.headers)).status == 200
    assert (await (await api.client.get(f"/orders/{paid['id']}", headers=u.headers)).json())["status"] == "paid"
    assert (await product_entry(api, p["id"]))["stock"] == 4  # the unpaid order's 2 back, once
    again = await api.services.reaper.sweep()
    assert again.expired == 0 and (await product_entry(api, p["id"]))["stock"] == 4
    r = await api.client.post(f"/orders/{unpaid['id']}/payment", json={"amount_cents": unpaid["total_cents"]},
                              headers=u.headers)
    assert r.status == 409, await r.text()  # too late to pay: the order is cancelled


async def test_a_young_unpaid_order_is_not_expired(api: Api) -> None:
    p = await api.product(stock=5)
    u = await api.signup()
    order = await place(api, u.headers, p["id"])
    await api.services.stock.drain()
    assert (await api.services.reaper.sweep()).expired == 0
    assert (await (await api.client.get(f"/orders/{order['id']}", headers=u.headers)).json())["status"] == "placed"


async def test_past_the_open_order_limit_a_placement_is_409_and_holds_nothing(api: Api) -> None:
    p = await api.product(stock=100)
    u, other = await api.signup(), await api.signup()
    placed = [await place(api, u.headers, p["id"]) for _ in range(20)]  # the default limit
    r = await api.client.post("/orders", json=order_body([(p["id"], 1)]), headers=u.headers)
    assert r.status == 409, await r.text()
    problem = await r.json()
    assert problem["errors"] == [{"field": "orders", "message": "at most 20 placed orders at once"}]
    assert "pay or cancel" in problem["detail"]
    await api.services.stock.drain()
    entry = await product_entry(api, p["id"])
    assert entry["stock"] == 80 and not entry.get("holds")
    await place(api, other.headers, p["id"])  # the limit is per user
    # paying one and cancelling one free two places
    first = placed[0]
    r = await api.client.post(f"/orders/{first['id']}/payment", json={"amount_cents": first["total_cents"]},
                              headers=u.headers)
    assert r.status == 200
    assert (await api.client.post(f"/orders/{placed[1]['id']}/cancel", headers=u.headers)).status == 200
    await place(api, u.headers, p["id"])
    await place(api, u.headers, p["id"])
    r = await api.client.post("/orders", json=order_body([(p["id"], 1)]), headers=u.headers)
    assert r.status == 409


async def test_past_the_open_order_limit_a_keyed_multi_line_order_is_409_and_holds_nothing(api: Api) -> None:
    """Its reads (the key's order, the cap, the products) go out together: the cap still
    refuses before any stock is held, and a product the order names that does not exist
    does not turn the cap's 409 into a 422."""
    p, q = await api.product(stock=100), await api.product(stock=100)
    u = await api.signup()
    for _ in range(20):
        await place(api, u.headers, p["id"])
    keyed = {**u.headers, "Idempotency-Key": "past-the-cap"}
    for lines in ([(p["id"], 1), (q["id"], 2)], [(q["id"], 1), ("999999", 1)]):
        r = await api.client.post("/orders", json=order_body(lines), headers=keyed)
        assert r.status == 409, await r.text()
        assert (await r.json())["errors"] == [{"field": "orders", "message": "at most 20 placed orders at once"}]
    await api.services.stock.drain()
    assert (await product_entry(api, q["id"]))["stock"] == 100 and not (await product_entry(api, q["id"])).get("holds")


async def test_an_idempotent_replay_is_answered_past_the_open_order_limit(api: Api) -> None:
    p = await api.product(stock=100)
    u = await api.signup()
    keyed = {**u.headers, "Idempotency-Key": "first"}
    first = await place(api, keyed, p["id"])
    for _ in range(19):
        await place(api, u.headers, p["id"])
    again = await api.client.post("/orders", json=order_body([(p["id"], 1)]), headers=keyed)
    assert again.status == 201 and await again.json() == first


async def test_the_reaper_outlives_a_sweep_that_fails(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    """A malformed product entry makes a sweep fail; the reaper logs it and keeps sweeping."""
    import asyncio

    from processing_unit.reaper import Reaper
    from tests.support.eventually import eventually_async

    stock = api.services.stock
    reaper = Reaper(api.grid, stock, OrderSagas(api.grid, stock, 15), bound_s=15, pay_timeout_s=0.3)
    bad = {"id": "999", "sku": "BAD", "name": "b", "category": "c", "price_cents": 1, "stock": 1,
           "version": 1, "holds": {"1": {"at": "not a time"}}}
    await api.grid.put(api.grid.names.products, "999", bad, request_id="test")
    running = asyncio.create_task(reaper.run())
    try:
        async def failed_twice() -> None:
            assert sum("failed unexpectedly" in r.getMessage() for r in caplog.records) >= 2

        await eventually_async(failed_twice, timeout=5)
        await api.grid.delete(api.grid.names.products, "999")
        p = await api.product(stock=5)
        await api.grid.execute(api.grid.names.products, p["id"], StockHold("424242", "dead", 2, OLD))

        async def released() -> None:
            assert (await product_entry(api, p["id"]))["stock"] == 5

        await eventually_async(released, timeout=5)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
