"""Fuzz the API from its own /openapi.json (schemathesis): no input may produce a 5xx (G8).

Positive and negative cases, ``CASES_PER_OPERATION`` (30) per operation and generation
mode over the 18 documented operations, derandomized: 909 requests per run (printed at the
end with the status histogram), as the bootstrap admin so admin routes run too; the app
runs in-process over a LocalGrid seeded with a product and an order.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Iterator

import pytest
import requests
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode

from grid_config.local_grid import LocalGrid
from grid_config.names import Names
from processing_unit.app import all_routes, create_app
from processing_unit.openapi import build_openapi
from tests.unit.processing_unit.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, unit_settings

pytestmark = pytest.mark.unit

CASES_PER_OPERATION = 30
schema = schemathesis.openapi.from_dict(build_openapi(all_routes()))
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
calls = {"n": 0, "by_status": {}}


class Served:
    """The app on a real port in a background thread (schemathesis calls are synchronous)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.port = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        app = create_app(unit_settings(), LocalGrid(Names(namespace="fz-"), journal_capacity=1_000_000))
        self.runner = web.AppRunner(app, access_log=None)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self.runner.cleanup())

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)


@pytest.fixture(scope="module")
def unit() -> Iterator[tuple[str, dict[str, str]]]:
    served = Served()
    served.thread.start()
    assert served.ready.wait(30)
    base = f"http://127.0.0.1:{served.port}"
    token = requests.post(f"{base}/sessions", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}, timeout=10).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    p = requests.post(f"{base}/products", json={"sku": "FZ-1", "name": "n", "category": "c", "price_cents": 5, "stock": 10**6}, headers=auth, timeout=10).json()
    requests.post(f"{base}/orders", json={"lines": [{"product_id": p["id"], "quantity": 1}]}, headers=auth, timeout=10)
    yield base, auth
    served.stop()
    print(f"\nfuzz: {calls['n']} cases, statuses {dict(sorted(calls['by_status'].items()))}")


@schema.parametrize()
@settings(
    max_examples=CASES_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
    derandomize=True,
)
def test_no_server_errors(case: schemathesis.Case, unit: tuple[str, dict[str, str]]) -> None:
    base, auth = unit
    headers = dict(case.headers or {})
    headers["Authorization"] = auth["Authorization"]  # fuzz past authentication (401s are tested elsewhere)
    response = case.call(base_url=base, headers=headers, timeout=10)
    calls["n"] += 1
    calls["by_status"][response.status_code] = calls["by_status"].get(response.status_code, 0) + 1
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}"
    if response.status_code >= 400:
        ctype = (response.headers.get("content-type") or [""])[0]  # schemathesis: lower-case keys, lists
        assert ctype.startswith("application/problem+json"), (case.method, case.formatted_path, response.text[:300])
