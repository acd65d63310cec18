"""Cold start round trip: what the API wrote, shipped and persisted loads back identically.

Entities created over HTTP on one in-process grid go through their journals to a
SQLite sink; the reader then loads that database into a fresh grid. Every entity map and
index map must come back equal: the grid layout of the reader agrees with the domain's.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from data_reader.loader import load_grid
from data_writer.batching import prepare
from data_writer.sqlite import sqlite_sink
from grid_config.local_grid import LocalGrid
from grid_config.names import Names
from processing_unit.app import create_app
from tests.unit.processing_unit.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, ship_journals, unit_settings


async def _maps(grid: LocalGrid) -> dict[str, dict]:
    """Every map the reader rebuilds. A unique-value claim's ``claimed_at_s`` only matters
    while its sign-up runs (orphan claims, ``services._claim``): the database does not keep
    it, so it is left out of the comparison; every other field must come back."""
    n = grid.names
    maps = (n.users, n.users_by_email, n.products, n.orders, n.products_by_sku)
    claims = (n.users_by_email, n.products_by_sku)
    return {m: {k: ({f: x for f, x in v.items() if f != "claimed_at_s"} if m in claims else v)
                async for k, v in grid.entries(m)} for m in maps}


async def test_api_writes_round_trip_through_the_database(tmp_path: Path) -> None:
    names = Names(namespace="rt-")
    source = LocalGrid(names)
    client = TestClient(TestServer(create_app(unit_settings(), source)))
    await client.start_server()
    try:
        async def call(method: str, path: str, token: str | None = None, **body: object) -> dict:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            r = await client.request(method, path, json=body or None, headers=headers)
            assert r.status < 300, await r.text()
            return await r.json()

        admin = (await call("POST", "/sessions", email=ADMIN_EMAIL, password=ADMIN_PASSWORD))["token"]
        products = [
            await call("POST", "/products", admin, sku=f"RT-{i}", name=f"P{i}", category="c", price_cents=100 + i, stock=20)
            for i in range(3)
        ]
        await call("PATCH", f"/products/{products[0]['id']}", admin, name="renamed", price_cents=999)
        await call("POST", "/users", email="rt@example.com", name="RT", password="password-1")
        user = (await call("POST", "/sessions", email="rt@example.com", password="password-1"))["token"]
        placed = await call("POST", "/orders", user, lines=[{"product_id": p["id"], "quantity": 2} for p in products])
        paid = await call("POST", "/orders", user, lines=[{"product_id": products[1]["id"], "quantity": 1}])
        await call("POST", f"/orders/{paid['id']}/payment", user, amount_cents=paid["total_cents"])
        cancelled = await call("POST", "/orders", user, lines=[{"product_id": products[2]["id"], "quantity": 5}])
        await call("POST", f"/orders/{cancelled['id']}/cancel", user)
        assert placed["status"] == "placed"
    finally:
        await client.close()

    events = await ship_journals(source)
    sink = sqlite_sink(tmp_path / "rt.db")
    try:
        await sink.migrate()
        result = await sink.apply(prepare(events).events)
        assert not result.poison and not result.deferred
        target = LocalGrid(names)
        report = await load_grid(target, sink)
    finally:
        await sink.close()

    assert report.loaded == {"users": 2, "products": 3, "orders": 3}
    assert await _maps(target) == await _maps(source)
