"""The open-loop generator end to end: its own process, real HTTP, against a small fake shop.

The fake shop answers every route of the mix the way the units do (status codes and the
fields the generator reads back), so the request kinds, their pools and the JSON the child
prints are exercised without engines.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections import Counter
from typing import Iterator

import pytest
from aiohttp import web

from tools.bench.loadgen import run_open_loop
from tools.bench.shop_requests import MIX

PRODUCTS = [f"p{i}" for i in range(5)]


def _app(fail_orders: bool) -> tuple[web.Application, Counter[str]]:
    seen: Counter[str] = Counter()
    # stock near the API's bound: a restock must not push it over (the units answer 422)
    products = {pid: {"id": pid, "stock": 999_980, "price_cents": 1000, "version": 1} for pid in PRODUCTS}

    def authed(request: web.Request) -> None:
        if not request.headers.get("Authorization", "").startswith("Bearer "):
            raise web.HTTPUnauthorized()

    async def get_product(request: web.Request) -> web.Response:
        seen["GET /products/[id]"] += 1
        return web.json_response(products[request.match_info["id"]])

    async def list_products(request: web.Request) -> web.Response:
        seen["GET /products?category" if "category" in request.query else "GET /products"] += 1
        return web.json_response({"items": list(products.values())})

    async def patch_product(request: web.Request) -> web.Response:
        authed(request)
        seen["PATCH /products/[id]"] += 1
        product = products[request.match_info["id"]]
        if request.headers.get("If-Match") != str(product["version"]):
            return web.json_response({"title": "stale"}, status=412)
        body = await request.json()
        if body.get("stock", 0) > 1_000_000:
            return web.json_response({"title": "Invalid input"}, status=422)
        product.update(body, version=product["version"] + 1)
        return web.json_response(product)

    async def place_order(request: web.Request) -> web.Response:
        authed(request)
        seen["POST /orders"] += 1
        if fail_orders:
            return web.json_response({"title": "boom"}, status=500)
        body = await request.json()
        assert request.headers["Idempotency-Key"]
        total = sum(line["quantity"] * 1000 for line in body["lines"])
        return web.json_response({"id": uuid.uuid4().hex, "total_cents": total, "status": "placed"}, status=201)

    async def order_action(request: web.Request) -> web.Response:
        authed(request)
        seen[f"POST /orders/[id]/{request.match_info['action']}"] += 1
        return web.json_response({"id": request.match_info["id"]})

    async def get_order(request: web.Request) -> web.Response:
        authed(request)
        seen["GET /orders/[id]"] += 1
        return web.json_response({"id": request.match_info["id"]})

    async def list_orders(request: web.Request) -> web.Response:
        authed(request)
        seen["GET /orders (own)"] += 1
        return web.json_response({"items": []})

    app = web.Application()
    app.router.add_get("/products/{id}", get_product)
    app.router.add_get("/products", list_products)
    app.router.add_patch("/products/{id}", patch_product)
    app.router.add_post("/orders", place_order)
    app.router.add_post("/orders/{id}/{action}", order_action)
    app.router.add_get("/orders/{id}", get_order)
    app.router.add_get("/orders", list_orders)
    return app, seen


def _serve(fail_orders: bool) -> Iterator[tuple[str, Counter[str]]]:
    """The fake shop on a free loopback port, on its own event loop in a thread."""
    app, seen = _app(fail_orders)
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, access_log=None)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.run_until_complete(runner.cleanup())
        loop.close()


@pytest.fixture
def shop() -> Iterator[tuple[str, Counter[str]]]:
    yield from _serve(fail_orders=False)


@pytest.fixture
def failing_shop() -> Iterator[tuple[str, Counter[str]]]:
    yield from _serve(fail_orders=True)


def _run(url: str, route: str, rate: float, seconds: float) -> dict:
    return run_open_loop(url, route, rate, seconds, product_ids=PRODUCTS, shopper_tokens=["t1", "t2"],
                         admin_token="admin", arrivals="uniform", seed=1, max_in_flight=64, timeout_s=5)


def test_one_route_at_the_offered_rate(shop: tuple[str, Counter[str]]) -> None:
    url, seen = shop
    r = _run(url, "get", 100, 1.0)
    assert r["requests"] == 100 and r["ok"] == 100 and r["errors"] == 0 and r["dropped"] == 0
    assert seen["GET /products/[id]"] == 100
    assert r["offered_rps"] == 100 and 90 <= r["achieved_rps"] <= 100
    assert 0 < r["p50_ms"] <= r["p95_ms"] <= r["p99_ms"] < 1000
    assert set(r["routes"]) == {"GET /products/[id]"}


def test_the_mix_sends_every_kind(shop: tuple[str, Counter[str]]) -> None:
    url, seen = shop
    r = _run(url, "mix", 400, 2.0)
    assert r["requests"] == 800 and r["errors"] == 0, r["routes"]
    assert sum(seen.values()) == 800
    patches = r["routes"].get("PATCH /products/[id] (restock)", {}).get("requests", 0) + \
        r["routes"].get("PATCH /products/[id] (edit)", {}).get("requests", 0)
    assert patches > 0
    for kind in MIX:
        if not kind.startswith("PATCH"):
            assert r["routes"][kind]["requests"] > 0, kind
    # the shares follow the mix table (pool fallbacks move a little to orders and reads)
    assert r["routes"]["GET /products/[id]"]["requests"] / 800 == pytest.approx(0.41, abs=0.07)


def test_server_errors_count_as_errors(failing_shop: tuple[str, Counter[str]]) -> None:
    url, _ = failing_shop
    r = _run(url, "post", 50, 1.0)
    assert r["requests"] == 50 and r["errors"] == 50 and r["ok"] == 0 and r["achieved_rps"] == 0
    assert r["error_kinds"] == {'POST /orders: HTTP 500 {"title": "boom"}': 50}
