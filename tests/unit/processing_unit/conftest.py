"""Fixtures: a unit app (create_app) over a fresh LocalGrid, served by aiohttp's TestServer."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from data_pump.shipping import PartitionShipper, every_journal, unshipped

from grid_config.events import ChangeEvent
from grid_config.local_grid import LocalGrid
from grid_config.names import Names
from processing_unit.app import create_app
from processing_unit.keys import SERVICES
from processing_unit.services import Services
from processing_unit.settings import UnitSettings, load_unit_settings
from tests.unit.data_pump.publishers import ScriptedPublisher

pytestmark = pytest.mark.unit

ADMIN_EMAIL, ADMIN_PASSWORD = "admin@example.com", "admin-password"
#: a fixed signing key for tests (32+ bytes, not a pattern: units refuse weak ones)
TEST_SECRET = "test-secret-7Qm2ZkX9pW4rT1vB8nY6cJ3hL5dF0gAe"
_emails = itertools.count()


def unit_settings(**overrides: Any) -> UnitSettings:
    """Cheap argon2 so tests do not spend seconds hashing; everything else at defaults."""
    base: dict[str, Any] = dict(
        token_secret=TEST_SECRET,
        argon2_time_cost=1,
        argon2_memory_kib=64,
        argon2_parallelism=1,
        bootstrap_admin=f"{ADMIN_EMAIL}:{ADMIN_PASSWORD}",
        ready_probe_cache_ms=0,
        # many sign-ups and logins from one test client: the abuse limits have their own
        # tests (test_abuse.py), which set them back to their defaults or lower
        auth_client_burst=100_000,
        auth_client_per_min=1_000_000,
        auth_global_per_s=100_000,
        hash_per_client=1_000,
        hash_queue=1_000,
    )
    base.update(overrides)
    return load_unit_settings(**base)


@dataclass(frozen=True)
class Caller:
    id: str
    email: str
    headers: dict[str, str]


@dataclass
class Api:
    """A test client plus the grid behind it, with shortcuts for common setup."""

    client: TestClient
    grid: LocalGrid
    admin: dict[str, str]

    async def signup(self, email: str | None = None, password: str = "password-1") -> Caller:
        email = email or f"user{next(_emails)}@example.com"
        r = await self.client.post("/users", json={"email": email, "name": "U", "password": password})
        assert r.status == 201, await r.text()
        user = await r.json()
        return Caller(user["id"], email, self.auth_header(await self.login(email, password)))

    async def login(self, email: str, password: str) -> str:
        r = await self.client.post("/sessions", json={"email": email, "password": password})
        assert r.status == 201, await r.text()
        return (await r.json())["token"]

    @staticmethod
    def auth_header(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    async def product(self, stock: int = 10, price: int = 250, category: str = "books", sku: str | None = None) -> dict[str, Any]:
        sku = sku or f"SKU-{next(_emails)}"
        r = await self.client.post(
            "/products",
            json={"sku": sku, "name": "Thing", "category": category, "price_cents": price, "stock": stock},
            headers=self.admin,
        )
        assert r.status == 201, await r.text()
        return await r.json()

    @property
    def services(self) -> Services:
        return self.client.server.app[SERVICES]

    async def drain_changes(self) -> list[ChangeEvent]:
        """Every change not shipped yet, shipped away (as the pump would: positions, credits),
        once the settles of placed orders (off the request path) are done."""
        await self.services.stock.drain()
        return await ship_journals(self.grid)

    async def snapshot(self) -> dict[str, Any]:
        """Every entity map's content: to assert that a refused request changed nothing."""
        names = self.grid.names
        out: dict[str, Any] = {}
        for m in (names.users, names.products, names.orders):
            out[m] = {k: v async for k, v in self.grid.entries(m)}
        out["unshipped"] = await unshipped(self.grid.change_log)
        return out


async def ship_journals(grid: LocalGrid) -> list[ChangeEvent]:
    """Ship every journal of ``grid`` to an in-process publisher; the events, per journal in order."""
    log, pub = grid.change_log, ScriptedPublisher()
    for map_name, partition in every_journal(log):
        shipper = PartitionShipper(log, grid.names, pub, map_name, partition, on_shipped=log.shipped)
        while await shipper.ship_once():
            pass
    return pub.events()


async def make_api(settings: UnitSettings, journal_capacity: int = 256) -> AsyncIterator[Api]:
    grid = LocalGrid(Names(namespace="t-"), journal_capacity=journal_capacity)
    app = create_app(settings, grid)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        token = await Api(client, grid, {}).login(ADMIN_EMAIL, ADMIN_PASSWORD)
        api = Api(client, grid, Api.auth_header(token))
        await api.drain_changes()  # start each test with nothing un-shipped
        yield api
    finally:
        await client.close()


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    async for a in make_api(unit_settings()):
        yield a
