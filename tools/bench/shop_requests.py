"""The HTTP requests of bench compare's routes and mix, one coroutine per request kind.

Why a mix table instead of the Locust classes: an open-loop generator sends requests, not
users, so the mix is the share of each request kind that ``loadtests/locustfile.py``
produces. Its users are 6 Browser : 3 Shopper : 1 Admin (class weights), each running one
task per think time, the Admin four times slower and with a ``GET`` before each ``PATCH``;
per 9.5 requests that gives ~3.85 product reads, 1.8 list pages, 0.6 category pages, 1.2
orders placed, 0.9 payments, 0.3 cancels, 0.3 order reads, 0.3 own-order pages and 0.25
product edits (2 restocks : 1 price edit). :data:`MIX` is that, per 100. Sign-ups and
sign-ins (once per Locust user) are done before the run, not in the mix.

Expected business answers count as successes, as in the locustfile: 409 (out of stock)
for an order, 412 (edited meanwhile) for a product edit. Anything else, a connection error
or a timeout is an error. Requests that need an earlier answer (pay or cancel a placed
order, edit a product whose version was read) take it from small bounded pools the mix
fills; while a pool is empty they place an order or read a product instead, so the
offered rate holds.
"""

from __future__ import annotations

import random
import uuid
from collections import deque
from typing import Any, Awaitable, Callable

import aiohttp
import orjson

#: bench compare's routes: one request kind each, or the weighted mix
ROUTES = {"get": "GET /products/[id]", "post": "POST /orders", "mix": "mix"}

#: request kind -> share per 100 requests (derived in the module docstring)
MIX: dict[str, int] = {
    "GET /products/[id]": 41,
    "GET /products": 19,
    "GET /products?category": 6,
    "POST /orders": 13,
    "POST /orders/[id]/payment": 9,
    "POST /orders/[id]/cancel": 3,
    "GET /orders/[id]": 3,
    "GET /orders (own)": 3,
    "PATCH /products/[id] (restock)": 2,
    "PATCH /products/[id] (edit)": 1,
}

CATEGORIES = ("books", "games", "tools", "garden")
#: the API's bound on a product's stock (processing_unit.schemas.StockUnits)
MAX_STOCK = 1_000_000
#: bound of each pool of placed/paid orders and of known product versions
POOL = 10_000

Send = Callable[[], Awaitable[bool]]
Request = tuple[str, Send]


class UnexpectedStatus(Exception):
    """An answer the route does not expect; its text is the error kind the generator reports."""


class Shop:
    """Builds the next request of a route against one side; holds the mix's small state.

    ``next_request`` is called by the generator at each due time and must be cheap and
    synchronous: it picks the kind (and takes the order or version the request needs)
    and returns the request's name and a coroutine function sending it.
    """

    def __init__(self, http: aiohttp.ClientSession, url: str, product_ids: list[str], shopper_tokens: list[str],
                 admin_token: str, seed: int | None = None) -> None:
        if not product_ids or not shopper_tokens:
            raise ValueError("a shop needs seeded products and signed-in shoppers")
        self._http = http
        self._url = url.rstrip("/")
        self._ids = product_ids
        self._tokens = shopper_tokens
        self._admin = {"Authorization": f"Bearer {admin_token}"}
        self._rng = random.Random(seed)
        self._placed: deque[dict[str, Any]] = deque(maxlen=POOL)
        self._paid: deque[dict[str, Any]] = deque(maxlen=POOL)
        self._seen: deque[dict[str, Any]] = deque(maxlen=POOL)
        self._products: dict[str, dict[str, Any]] = {}
        self._kinds = list(MIX)
        self._weights = list(MIX.values())

    def next_request(self, route: str) -> Request:
        """The next request of ``route`` (a key of :data:`ROUTES`)."""
        if route == "get":
            return self._get_product(remember=False)
        if route == "post":
            return self._place_order()
        if route == "mix":
            return self._mix()
        raise ValueError(f"unknown route {route!r}; one of {sorted(ROUTES)}")

    # ---- picking ------------------------------------------------------------------------
    def _mix(self) -> Request:
        kind = self._rng.choices(self._kinds, self._weights)[0]
        if kind == "GET /products/[id]":
            return self._get_product()
        if kind == "GET /products":
            return kind, lambda: self._send("GET", "/products?limit=20", (200,))
        if kind == "GET /products?category":
            category = self._rng.choice(CATEGORIES)
            return kind, lambda: self._send("GET", f"/products?category={category}&limit=20", (200,))
        if kind == "POST /orders":
            return self._place_order()
        if kind == "POST /orders/[id]/payment":
            return self._pay() if self._placed else self._place_order()
        if kind == "POST /orders/[id]/cancel":
            return self._cancel() if (self._placed or self._paid) else self._place_order()
        if kind == "GET /orders/[id]":
            return self._read_order() if self._seen else self._place_order()
        if kind == "GET /orders (own)":
            headers = self._shopper()
            return kind, lambda: self._send("GET", "/orders?limit=20", (200,), headers=headers)
        return self._edit_product(restock=kind.endswith("(restock)")) if self._products else self._get_product()

    def _shopper(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._rng.choice(self._tokens)}"}

    def _get_product(self, remember: bool = True) -> Request:
        """A product read; in the mix its answer also gives the version a later edit sends."""
        pid = self._rng.choice(self._ids)
        keep = self._remember_product if remember else None
        return "GET /products/[id]", lambda: self._send("GET", f"/products/{pid}", (200,), keep=keep)

    def _place_order(self) -> Request:
        picks = self._rng.sample(self._ids, k=min(len(self._ids), self._rng.choice((1, 1, 2))))
        body = {"lines": [{"product_id": pid, "quantity": self._rng.randint(1, 2)} for pid in picks]}
        headers = {**self._shopper(), "Idempotency-Key": uuid.uuid4().hex}

        def keep(status: int, doc: dict[str, Any]) -> None:
            if status == 201:
                order = {"id": doc["id"], "total_cents": doc["total_cents"], "headers": {
                    "Authorization": headers["Authorization"]}}
                self._placed.append(order)
                self._seen.append(order)

        return "POST /orders", lambda: self._send("POST", "/orders", (201, 409), body, headers, keep)

    def _pay(self) -> Request:
        order = self._placed.popleft()
        body = {"amount_cents": order["total_cents"]}

        def keep(status: int, _doc: dict[str, Any]) -> None:
            if status == 200:
                self._paid.append(order)

        return "POST /orders/[id]/payment", lambda: self._send(
            "POST", f"/orders/{order['id']}/payment", (200,), body, order["headers"], keep)

    def _cancel(self) -> Request:
        pool = self._paid if self._paid and (not self._placed or self._rng.random() < 0.5) else self._placed
        order = pool.popleft()
        return "POST /orders/[id]/cancel", lambda: self._send(
            "POST", f"/orders/{order['id']}/cancel", (200,), headers=order["headers"])

    def _read_order(self) -> Request:
        order = self._seen[self._rng.randrange(len(self._seen))]
        return "GET /orders/[id]", lambda: self._send("GET", f"/orders/{order['id']}", (200,),
                                                      headers=order["headers"])

    def _edit_product(self, restock: bool) -> Request:
        pid = self._rng.choice(list(self._products))
        product = self._products[pid]
        body = ({"stock": min(MAX_STOCK, product["stock"] + 50)} if restock
                else {"price_cents": max(100, product["price_cents"] + self._rng.choice((-25, 25)))})
        headers = {**self._admin, "If-Match": str(product["version"])}
        name = "PATCH /products/[id] (restock)" if restock else "PATCH /products/[id] (edit)"
        return name, lambda: self._send("PATCH", f"/products/{pid}", (200, 412), body, headers,
                                        self._remember_product)

    def _remember_product(self, status: int, doc: dict[str, Any]) -> None:
        if status == 200 and (len(self._products) < POOL or doc["id"] in self._products):
            self._products[doc["id"]] = {k: doc[k] for k in ("stock", "price_cents", "version")}

    # ---- sending ------------------------------------------------------------------------
    async def _send(self, method: str, path: str, ok: tuple[int, ...], body: Any = None,
                    headers: dict[str, str] | None = None,
                    keep: Callable[[int, dict[str, Any]], None] | None = None) -> bool:
        """One request: True when its status is one of ``ok``; raises (with the reason) otherwise."""
        data = orjson.dumps(body) if body is not None else None
        hdrs = {**(headers or {}), **({"Content-Type": "application/json"} if data is not None else {})}
        async with self._http.request(method, self._url + path, data=data, headers=hdrs) as resp:
            raw = await resp.read()
            if resp.status not in ok:
                raise UnexpectedStatus(f"HTTP {resp.status} {raw[:100].decode(errors='replace')}")
            if keep is not None and raw:
                keep(resp.status, orjson.loads(raw))
            return True
