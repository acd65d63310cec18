"""Health, metrics, request ids, OpenAPI and the docs page."""

from __future__ import annotations

import pytest

from processing_unit.keys import RUNTIME
from tests.unit.processing_unit.conftest import Api

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


async def test_metrics(api: Api) -> None:
    await api.client.get("/products/1")
    await api.client.get("/products/2")
    r = await api.client.get("/metrics")
    assert r.status == 200
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
    r = await api.client.get("/docs")
    assert r.status == 200 and r.content_type == "text/html"
    assert "/orders/{id}/payment" in await r.text()
