"""The dashboard's page, files and data on the embedded app; the process registry behind it."""

from __future__ import annotations

import re
from typing import Any

import pytest

from data_writer.drift import OPERATOR_TOKEN_FILE
from grid_config.processes import list_processes, status_lines
from processing_unit.keys import GRID
from tests.support.eventually import eventually_async
from tests.unit.processing_unit.test_live_ws import Shop, order, shop  # noqa: F401 - the fixture

pytestmark = pytest.mark.unit


async def test_the_page_is_local_files_only(shop: Shop) -> None:  # noqa: F811
    api = await shop()
    r = await api.client.get("/dashboard")
    assert r.status == 200 and r.content_type == "text/html"
    html = await r.text()
    refs = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert refs and all(ref.startswith("/dashboard/") for ref in refs), refs  # no CDN
    for ref in refs:
        asset = await api.client.get(ref)
        assert asset.status == 200 and "http" not in (await asset.text()).split("//", 1)[0], ref


async def test_the_data_answers_to_admins_and_the_operator_token_only(shop: Shop, tmp_path: Any) -> None:  # noqa: F811
    api = await shop()
    shopper = await api.signup()
    r = await api.client.get("/dashboard/data")
    assert r.status == 401 and r.content_type == "application/problem+json"
    assert "operator token" in (await r.json())["detail"]
    assert (await api.client.get("/dashboard/data", headers={"Authorization": "Bearer nope"})).status == 401
    assert (await api.client.get("/dashboard/data", headers=shopper.headers)).status == 403
    assert (await api.client.get("/dashboard/data", headers=api.admin)).status == 200
    operator = (tmp_path / "cache" / OPERATOR_TOKEN_FILE).read_text().strip()
    r = await api.client.get("/dashboard/data", headers={"Authorization": f"Bearer {operator}"})
    assert r.status == 200


async def test_every_process_registers_with_its_figures(shop: Shop) -> None:  # noqa: F811
    api = await shop()
    shopper = await api.signup()
    product = await api.product(stock=100)
    for _ in range(5):
        await order(api, shopper.headers, product["id"])

    async def figures() -> dict[str, Any]:
        r = await api.client.get("/dashboard/data", headers=api.admin)
        body = await r.json()
        kinds = {p["kind"]: p["figures"] for p in body["processes"]}
        assert set(kinds) == {"unit", "pump", "writer"}, kinds
        assert body["members"] == [{"address": "in-process", "owned": 271, "backups": 0}]
        assert kinds["pump"]["shipped_total"] >= 5 and kinds["writer"]["rows_total"] >= 5, kinds
        assert kinds["writer"]["lag_s"] > 0, kinds  # the last batch's oldest change, at its commit
        assert kinds["unit"]["errors_total"] == 0
        return kinds

    kinds = await eventually_async(figures, timeout=20)
    assert set(kinds["pump"]["unshipped"]) == {"users", "products", "orders"}
    lines = status_lines(await list_processes(api.client.server.app[GRID]))
    assert lines[0] == "processes: 3" and {ln.split()[0] for ln in lines[1:]} == {"unit", "pump", "writer"}


async def test_a_units_figures_show_its_routes_rates_and_p99(shop: Shop) -> None:  # noqa: F811
    api = await shop(max_open_orders=0)
    shopper = await api.signup()
    product = await api.product(stock=1000)

    async def busy() -> bool:
        for _ in range(10):
            await order(api, shopper.headers, product["id"])
        r = await api.client.get("/dashboard/data", headers=api.admin)
        unit = next(p for p in (await r.json())["processes"] if p["kind"] == "unit")["figures"]
        placed = unit["routes"].get("POST orders.place")
        assert placed and placed["rps"] > 0 and placed["p99_ms"] > 0, unit
        assert unit["requests_per_s"] > 0
        return True

    await eventually_async(busy, timeout=20, interval=0)
