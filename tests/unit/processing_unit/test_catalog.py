"""Products: admin writes with If-Match/ETag, public reads, paging, unique sku, change records."""

from __future__ import annotations

import pytest

from tests.unit.processing_unit.conftest import Api

pytestmark = pytest.mark.unit


async def test_create_get_product(api: Api) -> None:
    p = await api.product(stock=7, price=1999)
    assert set(p) == {"id", "sku", "name", "category", "price_cents", "stock", "version"}
    assert p["stock"] == 7 and p["version"] == 1 and isinstance(p["id"], str)
    r = await api.client.get(f"/products/{p['id']}")
    assert r.status == 200 and r.headers["ETag"] == '"1"'
    assert await r.json() == p
    events = await api.drain_changes()
    assert [(e.kind, e.id, e.version) for e in events] == [("products", p["id"], 1)]
    assert events[0].state == p


async def test_duplicate_sku_409(api: Api) -> None:
    await api.product(sku="ABC-1")
    before = await api.snapshot()
    r = await api.client.post(
        "/products", json={"sku": "ABC-1", "name": "x", "category": "c", "price_cents": 1}, headers=api.admin
    )
    assert r.status == 409
    assert await api.snapshot() == before


@pytest.mark.parametrize("if_match", [None, "1", '"1"', 'W/"1"', "*"])
async def test_patch_with_current_version(api: Api, if_match: str | None) -> None:
    p = await api.product(stock=5, price=100)
    headers = dict(api.admin)
    if if_match:
        headers["If-Match"] = if_match
    r = await api.client.patch(f"/products/{p['id']}", json={"price_cents": 150, "stock": 9}, headers=headers)
    assert r.status == 200, await r.text()
    body = await r.json()
    assert body["price_cents"] == 150 and body["stock"] == 9 and body["version"] == 2
    assert r.headers["ETag"] == '"2"'
    events = await api.drain_changes()
    assert [e.version for e in events if e.id == p["id"]] == [1, 2]


async def test_patch_stale_412_changes_nothing(api: Api) -> None:
    p = await api.product()
    await api.client.patch(f"/products/{p['id']}", json={"name": "New"}, headers=api.admin)
    before = await api.snapshot()
    r = await api.client.patch(
        f"/products/{p['id']}", json={"name": "Newer"}, headers={**api.admin, "If-Match": '"1"'}
    )
    assert r.status == 412
    assert await api.snapshot() == before


async def test_patch_bad_if_match_400(api: Api) -> None:
    p = await api.product()
    r = await api.client.patch(f"/products/{p['id']}", json={"name": "N"}, headers={**api.admin, "If-Match": "abc"})
    assert r.status == 400


@pytest.mark.parametrize("body", [{}, {"sku": "NEW"}, {"stock": -1}, {"price_cents": 100_000_001}, {"name": None}])
async def test_patch_invalid_422(api: Api, body: dict) -> None:
    p = await api.product()
    r = await api.client.patch(f"/products/{p['id']}", json=body, headers=api.admin)
    assert r.status == 422


async def test_patch_unknown_product_404(api: Api) -> None:
    r = await api.client.patch("/products/123456", json={"name": "N"}, headers=api.admin)
    assert r.status == 404


async def test_list_paging_and_category(api: Api) -> None:
    ids = [(await api.product(category="books" if i % 2 else "games"))["id"] for i in range(7)]
    seen = []
    cursor = None
    while True:
        url = "/products?limit=2" + (f"&cursor={cursor}" if cursor else "")
        r = await api.client.get(url)
        assert r.status == 200
        body = await r.json()
        assert len(body["items"]) <= 2
        seen += [p["id"] for p in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == ids
    r = await api.client.get("/products?category=books")
    books = (await r.json())["items"]
    assert [p["id"] for p in books] == ids[1::2]
    assert all(p["category"] == "books" for p in books)


@pytest.mark.parametrize("qs", ["limit=0", "limit=201", "limit=x", "cursor=abc", "bogus=1", "limit=1&limit=2"])
async def test_list_bad_query_422(api: Api, qs: str) -> None:
    r = await api.client.get(f"/products?{qs}")
    assert r.status == 422
    assert (await r.json())["errors"]


@pytest.mark.parametrize("pid", ["abc", "1x", "-1", "123456789012345678901"])
async def test_bad_and_unknown_ids_404(api: Api, pid: str) -> None:
    r = await api.client.get(f"/products/{pid}")
    assert r.status == 404
    assert r.content_type == "application/problem+json"


async def test_a_product_is_one_entry_holding_stock_and_version(api: Api) -> None:
    """Decision 0017: the products map holds the whole product; an edit keeps unknown fields."""
    p = await api.product(stock=7, price=1999)
    products = api.grid.names.products
    assert await api.grid.get(products, p["id"]) == p
    await api.grid.put(products, p["id"], {**p, "holds": {"o-1": {"at": 1, "qty": 1}}})
    r = await api.client.patch(f"/products/{p['id']}", json={"name": "renamed"}, headers=api.admin)
    assert r.status == 200 and await r.json() == {**p, "name": "renamed", "version": 2}
    stored = await api.grid.get(products, p["id"])
    assert stored == {**p, "name": "renamed", "version": 2, "holds": {"o-1": {"at": 1, "qty": 1}}}
    listed = (await (await api.client.get("/products")).json())["items"]
    assert listed == [{**p, "name": "renamed", "version": 2}]
