"""Health, metrics, request ids, OpenAPI and the docs page."""

from __future__ import annotations

import pytest

from processing_unit.keys import RUNTIME
from tests.unit.processing_unit.conftest import Api, make_api, unit_settings

pytestmark = pytest.mark.unit


async def test_request_id_echoed_and_carried_into_change_events(api: Api) -> None:
    r = await api.client.post(
        "/products",
        json={"sku": "RID-1", "name": "n", "category": "c", "price_cents": 1},
        headers={**api.admin, "X-Request-ID": "trace-42"},
    )
    assert r.headers["X-Request-ID"] == "trace-42"
    events = await api.drain_changes()
    assert [e.request_id for e in events] == ["trace-42"]


async def test_request_id_generated_when_absent_or_unsafe(api: Api) -> None:
    r1 = await api.client.get("/health/live")
    r2 = await api.client.get("/health/live", headers={"X-Request-ID": "bad id with spaces"})
    assert len(r1.headers["X-Request-ID"]) == 32
    assert r2.headers["X-Request-ID"] != "bad id with spaces"
    assert r1.headers["X-Request-ID"] != r2.headers["X-Request-ID"]


async def test_ready_and_draining(api: Api) -> None:
    r = await api.client.get("/health/ready")
    assert r.status == 200
    assert (await r.json())["checks"]["grid"] == "reachable"
    api.client.server.app[RUNTIME].draining = True
    r = await api.client.get("/health/ready")
    assert r.status == 503 and (await r.json())["checks"]["draining"] == "yes"
    assert (await api.client.get("/health/live")).status == 200


async def test_ready_waits_for_load(api: Api) -> None:
    runtime = api.client.server.app[RUNTIME]
    runtime.loaded.clear()
    assert (await api.client.get("/health/ready")).status == 503
    runtime.loaded.set()
    assert (await api.client.get("/health/ready")).status == 200


OPERATOR_TOKEN = "operator-7Qm2ZkX9pW4rT1vB8nY6cJ3hL5dF0gA"


async def test_metrics_for_the_operator_token_only() -> None:
    async for api in make_api(unit_settings(operator_token=OPERATOR_TOKEN)):
        await api.client.get("/products/1")
        await api.client.get("/products/2")
        for headers in ({}, api.admin, {"Authorization": "Bearer wrong-" + OPERATOR_TOKEN}):
            r = await api.client.get("/metrics", headers=headers)  # a shop admin is no operator
            assert r.status == 401 and r.content_type == "application/problem+json"
            assert "operator" in (await r.json())["detail"]
        r = await api.client.get("/metrics", headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"})
        assert r.status == 200
        await _metrics_text(r)


async def test_metrics_refused_to_all_without_an_operator_token(api: Api) -> None:
    r = await api.client.get("/metrics", headers=api.admin)
    assert r.status == 401


async def _metrics_text(r) -> None:  # type: ignore[no-untyped-def]
    text = await r.text()
    assert 'spacegrid_http_requests_total{method="GET",route="products.get",status="404"} 2.0' in text
    assert "spacegrid_http_request_seconds_bucket" in text
    assert "spacegrid_journal_full_refusals 0.0" in text


async def test_openapi_generated_from_request_models(api: Api) -> None:
    r = await api.client.get("/openapi.json")
    spec = await r.json()
    assert spec["openapi"].startswith("3.")
    new_order = spec["components"]["schemas"]["NewOrder"]
    assert new_order["additionalProperties"] is False
    line = spec["components"]["schemas"]["NewOrderLine"]["properties"]["quantity"]
    assert line["minimum"] == 1 and line["maximum"] == 1000
    ops = {(m, p) for p, item in spec["paths"].items() for m in item}
    for op in [("post", "/users"), ("post", "/sessions"), ("get", "/users/me"), ("post", "/products"),
               ("patch", "/products/{id}"), ("get", "/products"), ("get", "/products/{id}"),
               ("post", "/orders"), ("get", "/orders"), ("get", "/orders/{id}"),
               ("post", "/orders/{id}/payment"), ("post", "/orders/{id}/cancel"),
               ("post", "/orders/{id}/ship"), ("get", "/health/live"), ("get", "/health/ready"),
               ("get", "/metrics"), ("get", "/openapi.json")]:
        assert op in ops
    # an optional query parameter is left out, never null: one type, as a client sends it
    params = {p["name"]: p for p in spec["paths"]["/products"]["get"]["parameters"]}
    assert params["category"]["required"] is False
    assert params["category"]["schema"]["type"] == "string" and "anyOf" not in params["category"]["schema"]
    assert params["limit"]["schema"] == {"default": 50, "maximum": 200, "minimum": 1, "title": "Limit", "type": "integer"}
    r = await api.client.get("/docs")
    assert r.status == 200 and r.content_type == "text/html"
    assert "/orders/{id}/payment" in await r.text()
