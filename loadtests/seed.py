"""Seed a running shop for a load test: sign the admin in, create products with stock.

Plain blocking HTTP (``requests``, which Locust ships), no Locust import: tests,
benchmarks and the locustfile's ``test_start`` hook all use it. The admin account is the
one a unit creates at start from ``SPACEGRID_BOOTSTRAP_ADMIN`` (``email:password``).
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from typing import Any

import requests

DEFAULT_ADMIN = "admin@loadtest.invalid:load-test-admin-pw"
CATEGORIES = ("books", "games", "tools", "garden")
TIMEOUT_S = 10.0


class SeedError(RuntimeError):
    """The shop refused a seeding request (wrong admin credentials, unit not ready...)."""


def admin_credentials(value: str | None = None) -> tuple[str, str]:
    """``email:password`` from the argument, ``LOADTEST_ADMIN`` or ``SPACEGRID_BOOTSTRAP_ADMIN``."""
    raw = value or os.environ.get("LOADTEST_ADMIN") or os.environ.get("SPACEGRID_BOOTSTRAP_ADMIN") or DEFAULT_ADMIN
    email, _, password = raw.partition(":")
    return email.strip().lower(), password


def _check(resp: requests.Response, what: str) -> dict[str, Any]:
    if resp.status_code >= 300:
        raise SeedError(f"{what}: HTTP {resp.status_code} {resp.text[:300]}")
    return resp.json()


def sign_in(base_url: str, email: str, password: str, session: requests.Session | None = None) -> str:
    """A bearer token for ``email``."""
    s = session or requests.Session()
    body = _check(s.post(f"{base_url}/sessions", json={"email": email, "password": password}, timeout=TIMEOUT_S), "sign in")
    return body["token"]


def sign_up(base_url: str, email: str, password: str, name: str = "shopper") -> dict[str, Any]:
    return _check(
        requests.post(f"{base_url}/users", json={"email": email, "name": name, "password": password}, timeout=TIMEOUT_S),
        "sign up",
    )


@dataclass(frozen=True)
class Seeded:
    admin_token: str
    product_ids: list[str]
    initial_stock: dict[str, int]


def seed_products(
    base_url: str,
    count: int = 20,
    stock: int = 1000,
    price_cents: int = 1250,
    admin: str | None = None,
    prefix: str | None = None,
) -> Seeded:
    """Create ``count`` products with ``stock`` units each (unique skus); return their ids."""
    email, password = admin_credentials(admin)
    s = requests.Session()
    token = sign_in(base_url, email, password, s)
    headers = {"Authorization": f"Bearer {token}"}
    prefix = prefix or uuid.uuid4().hex[:8]
    ids: list[str] = []
    for i in range(count):
        product = {
            "sku": f"LT-{prefix}-{i}",
            "name": f"load test product {i}",
            "category": CATEGORIES[i % len(CATEGORIES)],
            "price_cents": price_cents + i,
            "stock": stock,
        }
        ids.append(_check(s.post(f"{base_url}/products", json=product, headers=headers, timeout=TIMEOUT_S), "create product")["id"])
    return Seeded(token, ids, {pid: stock for pid in ids})


def all_pages(base_url: str, path: str, token: str | None = None, **params: Any) -> list[dict[str, Any]]:
    """Every item of a paged list route (``GET /products``, ``GET /orders``), following cursors."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = {"limit": 200, **params, **({"cursor": cursor} if cursor else {})}
        page = _check(requests.get(f"{base_url}{path}", params=query, headers=headers, timeout=TIMEOUT_S), f"GET {path}")
        items.extend(page["items"])
        cursor = page.get("next_cursor")
        if not cursor:
            return items
