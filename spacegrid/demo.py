"""``spacegrid up`` / ``spacegrid demo``: what a first run prints, and what the demo seeds.

The banner says where everything is (URL, ``/docs``, the database file, the admin) and
gives a first command. The demo seeds through the shop's own HTTP API, as a client
would, once the process serves: a sample catalog (only into an empty one), an admin and
a shopper whose generated passwords are kept in ``SPACEGRID_CACHE_DIR/demo-credentials.json``
(mode 0600) so a second ``demo`` on the same database prints passwords that still work.
"""

from __future__ import annotations

import json
import secrets
import shlex
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from spacegrid.instance import write_private

CREDENTIALS_FILE = "demo-credentials.json"
DEMO_ADMIN_EMAIL = "admin@example.com"
DEMO_SHOPPER_EMAIL = "shopper@example.com"

#: (sku, name, category, price in cents, stock)
CATALOG: list[tuple[str, str, str, int, int]] = [
    ("KIT-KETTLE", "Stainless kettle 1.7 l", "kitchen", 3499, 40),
    ("KIT-PAN-28", "Cast-iron pan 28 cm", "kitchen", 4599, 25),
    ("KIT-KNIFE", "Chef's knife 20 cm", "kitchen", 5999, 15),
    ("BOOK-DDIA", "Designing Data-Intensive Applications", "books", 4250, 30),
    ("BOOK-SICP", "Structure and Interpretation of Computer Programs", "books", 5500, 10),
    ("GARD-HOSE", "Garden hose 25 m", "garden", 2999, 50),
    ("GARD-SEEDS", "Wildflower seed mix", "garden", 599, 200),
    ("TOY-BLOCKS", "Wooden blocks, 100 pieces", "toys", 2499, 0),
]


@dataclass(frozen=True)
class Account:
    email: str
    password: str


def demo_accounts(cache_dir: Path) -> tuple[Account, Account]:
    """The demo's admin and shopper, generated once per cache dir and kept (0600)."""
    path = cache_dir / CREDENTIALS_FILE
    try:
        doc = json.loads(path.read_text())
        return Account(**doc["admin"]), Account(**doc["shopper"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    admin = Account(DEMO_ADMIN_EMAIL, secrets.token_urlsafe(12))
    shopper = Account(DEMO_SHOPPER_EMAIL, secrets.token_urlsafe(12))
    write_private(path, json.dumps({"admin": admin.__dict__, "shopper": shopper.__dict__}))
    return admin, shopper


@dataclass
class FirstOrder:
    shopper: Account
    token: str
    product: dict[str, Any]


class SeedError(Exception):
    """The shop answered the seeding request with something unexpected."""


async def seed(base: str, admin: Account, shopper: Account) -> FirstOrder:
    """Fill an empty catalog, make sure the shopper exists, sign in: what the first curl needs."""
    async with aiohttp.ClientSession(base, timeout=aiohttp.ClientTimeout(total=60)) as http:

        async def call(method: str, path: str, ok: tuple[int, ...], token: str = "", **kw: Any) -> Any:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            async with http.request(method, path, headers=headers, **kw) as r:
                if r.status not in ok:
                    raise SeedError(f"{method} {path} answered {r.status}: {(await r.text())[:300]}")
                return await r.json() if r.content_type.endswith("json") else None

        admin_token = (await call("POST", "/sessions", (201,), json=admin.__dict__))["token"]
        if not (await call("GET", "/products", (200,), params={"limit": "1"}))["items"]:
            for sku, name, category, price, stock in CATALOG:
                body = {"sku": sku, "name": name, "category": category, "price_cents": price, "stock": stock}
                await call("POST", "/products", (201, 409), admin_token, json=body)
        await call("POST", "/users", (201, 409), json={**shopper.__dict__, "name": "Demo Shopper"})
        token = (await call("POST", "/sessions", (201,), json=shopper.__dict__))["token"]
        products = (await call("GET", "/products", (200,), params={"limit": "200"}))["items"]
        in_stock = [p for p in products if p["stock"] > 0]
        if not in_stock:
            raise SeedError("no product in stock to order")
        return FirstOrder(shopper, token, in_stock[0])


def order_curl(base: str, first: FirstOrder) -> str:
    """One shell command that places an order (201)."""
    body = json.dumps({"lines": [{"product_id": first.product["id"], "quantity": 1}]})
    return (
        f"curl -sS -i -X POST {base}/orders -H 'Content-Type: application/json' "
        f"-H 'Authorization: Bearer {first.token}' -H 'Idempotency-Key: {uuid.uuid4()}' "
        f"-d {shlex.quote(body)}"
    )


def banner(
    base: str,
    database_url: str,
    admin: Account | None,
    admin_from_env: bool,
    first: FirstOrder | None = None,
) -> str:
    """What ``up``/``demo`` print once they serve (stdout; the logs go to stderr)."""
    database = database_url
    if database_url.startswith("sqlite:///"):
        database = str(Path(database_url.removeprefix("sqlite:///")).expanduser().resolve())
    if admin is None:
        admin_line = "none: set SPACEGRID_BOOTSTRAP_ADMIN=email:password (8+ characters), or run `spacegrid demo`"
    elif admin_from_env:
        admin_line = f"{admin.email} (password from SPACEGRID_BOOTSTRAP_ADMIN)"
    else:
        admin_line = f"{admin.email} / {admin.password}"
    lines = [
        f"spacegrid is serving on {base}/",
        f"  API docs   {base}/docs   (try requests there; schema at {base}/openapi.json)",
        f"  health     {base}/health/ready",
        f"  database   {database}",
        f"  admin      {admin_line}",
    ]
    if first is not None:
        lines += [
            f"  shopper    {first.shopper.email} / {first.shopper.password}",
            f"  catalog    {len(CATALOG)} sample products; ordering one {first.product['name']!r}:",
            f"  first order (201):",
            f"    {order_curl(base, first)}",
        ]
    else:
        lines += ["  first request:", f"    curl -s {base}/products"]
    lines.append("  stop with Ctrl-C (changes reach the database within SPACEGRID_WRITE_INTERVAL_MS)")
    return "\n".join(lines)


def print_banner(text: str) -> None:
    print(text, file=sys.stdout, flush=True)
