"""Two units (two apps, each with its own Hazelcast client) over the 3-member cluster.

Shared state across units, G5 under 200 concurrent orders spread over both units, and one
change record per changed entity for every acknowledged order (G1's bookkeeping side).
"""

from __future__ import annotations

import asyncio
import random
from typing import Any, AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from spacegrid.bootstrap import build_unit_app
from processing_unit.keys import GRID, SERVICES
from tests.integration.journal_audit import JournalTap, read_journals
from tests.support.holds import lines_without_their_hold_record
from tests.unit.processing_unit.conftest import unit_settings

pytestmark = pytest.mark.integration

ADMIN = ("admin@example.com", "admin-password")


@pytest.fixture
async def units(hazelcast_cluster: Any, namespace: str) -> AsyncIterator[list[TestClient]]:
    # the unit tests' settings (cheap hashing; the abuse limits, tested on their own, wide
    # open for one test client) over the real cluster
    settings = unit_settings(
        grid="hazelcast",
        hazelcast_members=hazelcast_cluster.settings_env["SPACEGRID_HAZELCAST_MEMBERS"],
        hazelcast_cluster=hazelcast_cluster.cluster_name,
        namespace=namespace,
        bootstrap_admin=f"{ADMIN[0]}:{ADMIN[1]}",
    )
    clients = []
    try:
        for _ in range(2):
            client = TestClient(TestServer(build_unit_app(settings)))
            await client.start_server()
            clients.append(client)
        yield clients
    finally:
        for c in clients:
            await c.close()


async def token(client: TestClient, email: str, password: str) -> dict[str, str]:
    r = await client.post("/sessions", json={"email": email, "password": password})
    assert r.status == 201, await r.text()
    return {"Authorization": f"Bearer {(await r.json())['token']}"}


async def drain(client: TestClient) -> list:
    """The change records written since the last drain: every journal shipped to its end
    (positions stored, credits given back) by the pump's code, into memory."""
    return await read_journals(client.server.app[GRID])


async def test_two_units_share_state_and_never_oversell(units: list[TestClient]) -> None:
    a, b = units
    admin = await token(a, *ADMIN)
    products = []
    for i in range(3):
        r = await a.post("/products", json={"sku": f"HZ-{i}", "name": "n", "category": "c", "price_cents": 100, "stock": 50}, headers=admin)
        assert r.status == 201, await r.text()
        products.append(await r.json())
    ids = [p["id"] for p in products]
    # a product created via one unit is read via the other; the token of one works on the other
    r = await b.get(f"/products/{ids[0]}")
    assert r.status == 200 and (await r.json())["stock"] == 50
    users = []
    for i in range(8):
        r = await b.post("/users", json={"email": f"u{i}@example.com", "name": "u", "password": "password-1"})
        assert r.status == 201
        users.append(await token(a, f"u{i}@example.com", "password-1"))
    await drain(a)

    rng = random.Random(3)
    jobs = []
    for i in range(200):
        chosen = rng.sample(ids, rng.choice([1, 1, 2, 3]))
        body = {"lines": [{"product_id": p, "quantity": rng.randint(1, 3)} for p in chosen]}
        jobs.append((units[i % 2], body, users[i % 8]))
    # ship along during the storm, as a pump does: each order line journals a hold and a
    # settle (or rides on another hold), and refused orders' holds and releases add more
    # than one journal's bound (G7)
    tap = await JournalTap(a.server.app[GRID]).start()
    rs = await asyncio.gather(*(c.post("/orders", json=body, headers=h) for c, body, h in jobs))
    statuses = [r.status for r in rs]
    assert set(statuses) <= {201, 409}, statuses
    accepted = [await r.json() for r in rs if r.status == 201]
    assert 0 < len(accepted) < 200
    sold = {p: 0 for p in ids}
    for o in accepted:
        for line in o["lines"]:
            sold[line["product_id"]] += line["quantity"]
    for pid in ids:
        for unit in units:
            stock = (await (await unit.get(f"/products/{pid}")).json())["stock"]
            assert stock >= 0 and stock + sold[pid] == 50
    for unit in units:  # the settles, off the request path
        await unit.server.app[SERVICES].stock.drain()
    try:
        events = await tap.caught_up()
    finally:
        await tap.stop()
    assert {e.id for e in events if e.kind == "orders"} == {o["id"] for o in accepted}
    # each accepted line: a record with its hold of the line's quantity, then its settle (a
    # record alone or carried by a later hold: decision 0033); refused orders may add
    # hold/release pairs
    assert not lines_without_their_hold_record(events, accepted)
    for pid in ids:
        entry = (await (await a.get(f"/products/{pid}")).json())
        assert entry["stock"] + sold[pid] == 50


async def test_idempotency_and_unique_email_across_units(units: list[TestClient]) -> None:
    a, b = units
    admin = await token(a, *ADMIN)
    r = await a.post("/products", json={"sku": "IDEM", "name": "n", "category": "c", "price_cents": 7, "stock": 100}, headers=admin)
    pid = (await r.json())["id"]
    # one email, concurrent sign-ups through both units: exactly one 201
    body = {"email": "race@example.com", "name": "r", "password": "password-1"}
    rs = await asyncio.gather(*(units[i % 2].post("/users", json=body) for i in range(6)))
    assert sorted(r.status for r in rs) == [201] + [409] * 5
    user = await token(b, "race@example.com", "password-1")
    # one Idempotency-Key, concurrent duplicates through both units: one order
    order = {"lines": [{"product_id": pid, "quantity": 2}]}
    headers = {**user, "Idempotency-Key": "k-1"}
    rs = await asyncio.gather(*(units[i % 2].post("/orders", json=order, headers=headers) for i in range(6)))
    assert {r.status for r in rs} <= {201, 409}
    assert len({(await r.json())["id"] for r in rs if r.status == 201}) == 1
    assert (await (await b.get(f"/products/{pid}")).json())["stock"] == 98
    r = await b.post("/orders", json={"lines": [{"product_id": pid, "quantity": 3}]}, headers=headers)
    assert r.status == 422
    # no near cache (decision 0017): a catalog edit through one unit is read at once
    # through the other, stock and version with it. The order took v2 (hold) and its settle
    # one more version (alone, or carried by a duplicate's hold of the same order id, which
    # then found the order committed and released its hold: a version each, stock unchanged).
    for unit in units:
        await unit.server.app[SERVICES].stock.drain()
    version = int((await a.get(f"/products/{pid}")).headers["ETag"].strip('"'))
    assert 3 <= version <= 13, version
    r = await a.patch(f"/products/{pid}", json={"price_cents": 9}, headers={**admin, "If-Match": f'"{version}"'})
    assert r.status == 200, await r.text()
    r = await b.get(f"/products/{pid}")
    assert r.headers["ETag"] == f'"{version + 1}"'
    assert {k: v for k, v in (await r.json()).items() if k in ("price_cents", "stock", "version")} == {
        "price_cents": 9, "stock": 98, "version": version + 1}
