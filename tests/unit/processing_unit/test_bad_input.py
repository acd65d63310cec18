"""G8: every kind of bad input gets a 4xx problem+json with field errors, and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.processing_unit.conftest import Api

pytestmark = pytest.mark.unit

PROBLEM_KEYS = {"type", "title", "status", "detail", "errors"}


async def assert_problem(r: Any, status: int) -> dict:
    assert r.status == status, await r.text()
    assert r.content_type == "application/problem+json"
    body = await r.json()
    assert set(body) == PROBLEM_KEYS and body["status"] == status
    assert all(set(e) == {"field", "message"} for e in body["errors"])
    return body


@pytest.mark.parametrize(
    "raw, status",
    [
        (b"{", 400),
        (b"not json", 400),
        (b"", 400),
        (b'{"lines": [}', 400),
        (b"[]", 422),
        (b"null", 422),
        (b'"lines"', 422),
    ],
)
async def test_malformed_json(api: Api, raw: bytes, status: int) -> None:
    u = await api.signup()
    before = await api.snapshot()
    r = await api.client.post("/orders", data=raw, headers={**u.headers, "Content-Type": "application/json"})
    await assert_problem(r, status)
    assert await api.snapshot() == before


@pytest.mark.parametrize(
    "lines, field",
    [
        ([{"product_id": "PID", "quantity": 0}], "lines[0].quantity"),
        ([{"product_id": "PID", "quantity": -1}], "lines[0].quantity"),
        ([{"product_id": "PID", "quantity": 1001}], "lines[0].quantity"),
        ([{"product_id": "PID", "quantity": "1"}], "lines[0].quantity"),
        ([{"product_id": "PID", "quantity": 1.0}], "lines[0].quantity"),
        ([{"product_id": "PID", "quantity": True}], "lines[0].quantity"),
        ([{"product_id": 123, "quantity": 1}], "lines[0].product_id"),
        ([{"product_id": "abc", "quantity": 1}], "lines[0].product_id"),
        ([{"product_id": "PID", "quantity": 1, "price_cents": 1}], "lines[0].price_cents"),
        ([{"product_id": "PID"}], "lines[0].quantity"),
        ([], "lines"),
        ([{"product_id": "PID", "quantity": 1}, {"product_id": "PID", "quantity": 2}], "lines"),
    ],
)
async def test_bad_order_bodies_422(api: Api, lines: list, field: str) -> None:
    p = await api.product(stock=10)
    u = await api.signup()
    for line in lines:
        if line.get("product_id") == "PID":
            line["product_id"] = p["id"]
    before = await api.snapshot()
    r = await api.client.post("/orders", json={"lines": lines}, headers=u.headers)
    body = await assert_problem(r, 422)
    assert any(e["field"] == field for e in body["errors"]), body
    assert await api.snapshot() == before


async def test_unknown_top_level_field_422(api: Api) -> None:
    p = await api.product(stock=10)
    u = await api.signup()
    r = await api.client.post(
        "/orders", json={"lines": [{"product_id": p["id"], "quantity": 1}], "coupon": "X"}, headers=u.headers
    )
    body = await assert_problem(r, 422)
    assert body["errors"] == [{"field": "coupon", "message": "Extra inputs are not permitted"}]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"sku": "S1", "name": "n", "category": "c", "price_cents": -1}, "price_cents"),
        ({"sku": "S1", "name": "n", "category": "c", "price_cents": 100_000_001}, "price_cents"),
        ({"sku": "S1", "name": "n", "category": "c", "price_cents": "100"}, "price_cents"),
        ({"sku": "S1", "name": "n", "category": "c", "price_cents": 1, "stock": -5}, "stock"),
        ({"sku": "", "name": "n", "category": "c", "price_cents": 1}, "sku"),
        ({"sku": "S1", "name": "", "category": "c", "price_cents": 1}, "name"),
        ({"sku": "S1", "name": "n", "price_cents": 1}, "category"),
        ({"sku": "S1", "name": "n", "category": "c", "price_cents": 1, "id": "5"}, "id"),
    ],
)
async def test_bad_product_bodies_422(api: Api, body: dict, field: str) -> None:
    before = await api.snapshot()
    r = await api.client.post("/products", json=body, headers=api.admin)
    problem = await assert_problem(r, 422)
    assert any(e["field"] == field for e in problem["errors"]), problem
    assert await api.snapshot() == before


@pytest.mark.parametrize(
    "body",
    [
        {"email": "no-at-sign", "name": "n", "password": "password1"},
        {"email": "a@b.c", "name": "n", "password": "short"},
        {"email": "a@b.c", "name": "n", "password": 12345678},
        {"email": "a@b.c", "name": "n", "password": "password1", "is_admin": True},
        {"email": "a@b.c", "password": "password1"},
    ],
)
async def test_bad_signups_422(api: Api, body: dict) -> None:
    before = await api.snapshot()
    await assert_problem(await api.client.post("/users", json=body), 422)
    assert await api.snapshot() == before


async def test_oversized_body_413(api: Api) -> None:
    u = await api.signup()
    before = await api.snapshot()
    big = b'{"lines": [' + b" " * (1_048_576 + 10) + b"]}"
    r = await api.client.post("/orders", data=big, headers={**u.headers, "Content-Type": "application/json"})
    await assert_problem(r, 413)
    assert await api.snapshot() == before


async def test_oversized_chunked_body_413(api: Api) -> None:
    u = await api.signup()

    async def chunks():
        yield b'{"lines": ['
        for _ in range(300):
            yield b" " * 4096
        yield b"]}"

    r = await api.client.post("/orders", data=chunks(), headers={**u.headers, "Content-Type": "application/json"})
    # 4096*300 > 1 MiB: the limit holds without a Content-Length too
    await assert_problem(r, 413)


async def test_wrong_media_type_415(api: Api) -> None:
    r = await api.client.post("/users", data="email=a", headers={"Content-Type": "application/x-www-form-urlencoded"})
    await assert_problem(r, 415)


async def test_unknown_route_and_method_are_problems(api: Api) -> None:
    await assert_problem(await api.client.get("/nope"), 404)
    r = await api.client.delete("/products")
    await assert_problem(r, 405)
    assert "Allow" in r.headers


async def test_bad_token_changes_nothing(api: Api) -> None:
    p = await api.product(stock=3)
    before = await api.snapshot()
    r = await api.client.post(
        "/orders", json={"lines": [{"product_id": p["id"], "quantity": 1}]}, headers={"Authorization": "Bearer x.y.z"}
    )
    await assert_problem(r, 401)
    assert await api.snapshot() == before
