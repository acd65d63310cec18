"""Locust scenarios for the shop: one ``User`` class per behaviour.

* :class:`Browser` lists and reads products (anonymous, most of the traffic);
* :class:`Shopper` signs up once, signs in, places orders (with ``Idempotency-Key``),
  pays most of them and cancels some;
* :class:`Admin` restocks and edits products with ``If-Match`` (a 412 from a concurrent
  edit is an expected answer, not a failure).

URLs with ids are grouped with ``name=`` ("/products/[id]"). Expected business answers
(409 out of stock, 412 stale edit) count as successes; any 5xx or connection error is a
failure. At the end the ``quitting`` hook turns targets into the exit code:

* ``LOADTEST_P99_MS`` (default 2000): the aggregated 99th percentile must stay below it;
* ``LOADTEST_MAX_FAILURE_RATIO`` (default 0.01): failed requests / all requests.

Other settings: ``LOADTEST_ADMIN`` (``email:password``, defaults to
``SPACEGRID_BOOTSTRAP_ADMIN``), ``LOADTEST_SEED_PRODUCTS`` (create N products with
``LOADTEST_SEED_STOCK`` units each at test start; otherwise existing products are used),
``LOADTEST_WAIT_MS`` ("min,max" think time, default "100,500"), ``LOADTEST_RECORD``
(a JSON file written at the end with every acknowledged order id and the status codes
seen: the e2e tests check no acknowledged order was lost).

Run it against ``spacegrid up`` (one process, embedded mode)::

    SPACEGRID_BOOTSTRAP_ADMIN=admin@example.com:change-me-please spacegrid up &
    LOADTEST_ADMIN=admin@example.com:change-me-please LOADTEST_SEED_PRODUCTS=20 \\
        locust -f loadtests/locustfile.py --headless -u 50 -r 10 -t 1m --host http://127.0.0.1:8080

and against compose's load balancer (HAProxy in front of the units, port 8080)::

    docker compose up -d
    LOADTEST_ADMIN=<SPACEGRID_BOOTSTRAP_ADMIN of compose.yaml> LOADTEST_SEED_PRODUCTS=20 \\
        locust -f loadtests/locustfile.py --headless -u 100 -r 20 -t 5m --host http://127.0.0.1:8080

Pick behaviours by class name (``... Browser Shopper``: no admin restocks, so stock is
conserved and checkable afterwards). Without ``--headless`` Locust serves its web UI.
"""

from __future__ import annotations

import json
import os
import random
import threading
import uuid
from collections import Counter
from typing import Any

from locust import HttpUser, between, events, task

from loadtests.seed import admin_credentials, seed_products

P99_MS = float(os.environ.get("LOADTEST_P99_MS", "2000"))
MAX_FAILURE_RATIO = float(os.environ.get("LOADTEST_MAX_FAILURE_RATIO", "0.01"))
PASSWORD = "load-test-password"


def _wait_range() -> tuple[float, float]:
    lo, _, hi = os.environ.get("LOADTEST_WAIT_MS", "100,500").partition(",")
    return float(lo) / 1000, float(hi or lo) / 1000


WAIT_MIN_S, WAIT_MAX_S = _wait_range()


class _Shared:
    """What users of one Locust process share: the product ids and the run's record."""

    lock = threading.Lock()
    product_ids: list[str] = []
    acknowledged_orders: set[str] = set()
    statuses: Counter[str] = Counter()


def _load_products(user: HttpUser) -> list[str]:
    with _Shared.lock:
        if _Shared.product_ids:
            return _Shared.product_ids
    with user.client.get("/products?limit=200", name="/products", catch_response=True) as resp:
        if resp.status_code != 200:
            resp.failure(f"listing products: {resp.status_code}")
            return []
        ids = [p["id"] for p in resp.json()["items"]]
    with _Shared.lock:
        _Shared.product_ids = _Shared.product_ids or ids
        return _Shared.product_ids


def _expect(resp: Any, *ok: int) -> bool:
    """Mark the response: listed codes succeed, anything else fails with its body."""
    if resp.status_code in ok:
        resp.success()
        return True
    resp.failure(f"HTTP {resp.status_code}: {resp.text[:200]}")
    return False


class Browser(HttpUser):
    """Anonymous catalog traffic: list pages, filter by category, read single products."""

    weight = 6
    wait_time = between(WAIT_MIN_S, WAIT_MAX_S)

    def on_start(self) -> None:
        self.product_ids = _load_products(self)

    @task(3)
    def list_products(self) -> None:
        with self.client.get("/products?limit=20", name="/products", catch_response=True) as resp:
            _expect(resp, 200)

    @task(1)
    def list_category(self) -> None:
        category = random.choice(("books", "games", "tools", "garden"))
        with self.client.get(f"/products?category={category}&limit=20", name="/products?category", catch_response=True) as resp:
            _expect(resp, 200)

    @task(6)
    def get_product(self) -> None:
        if not self.product_ids:
            self.product_ids = _load_products(self)
            return
        pid = random.choice(self.product_ids)
        with self.client.get(f"/products/{pid}", name="/products/[id]", catch_response=True) as resp:
            _expect(resp, 200)


class Shopper(HttpUser):
    """Signs up once, signs in, then places, pays, reads and sometimes cancels orders."""

    weight = 3
    wait_time = between(WAIT_MIN_S, WAIT_MAX_S)

    def on_start(self) -> None:
        self.product_ids = _load_products(self)
        self.placed: list[dict[str, Any]] = []
        email = f"shopper-{uuid.uuid4().hex[:12]}@loadtest.invalid"
        with self.client.post("/users", json={"email": email, "name": "shopper", "password": PASSWORD},
                              name="/users", catch_response=True) as resp:
            _expect(resp, 201)
        with self.client.post("/sessions", json={"email": email, "password": PASSWORD},
                              name="/sessions", catch_response=True) as resp:
            token = resp.json().get("token") if _expect(resp, 200, 201) else None
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    @task(4)
    def place_order(self) -> None:
        if not self.headers or not self.product_ids:
            return
        picks = random.sample(self.product_ids, k=min(len(self.product_ids), random.choice((1, 1, 2))))
        body = {"lines": [{"product_id": pid, "quantity": random.randint(1, 2)} for pid in picks]}
        headers = {**self.headers, "Idempotency-Key": uuid.uuid4().hex}
        with self.client.post("/orders", json=body, headers=headers, name="/orders", catch_response=True) as resp:
            if _expect(resp, 201, 409) and resp.status_code == 201:
                order = resp.json()
                self.placed.append(order)
                with _Shared.lock:
                    _Shared.acknowledged_orders.add(order["id"])

    @task(3)
    def pay(self) -> None:
        placed = [o for o in self.placed if o["status"] == "placed"]
        if not placed:
            return
        order = random.choice(placed)
        with self.client.post(f"/orders/{order['id']}/payment", json={"amount_cents": order["total_cents"]},
                              headers=self.headers, name="/orders/[id]/payment", catch_response=True) as resp:
            if _expect(resp, 200):
                order["status"] = "paid"

    @task(1)
    def cancel(self) -> None:
        open_orders = [o for o in self.placed if o["status"] in ("placed", "paid")]
        if not open_orders:
            return
        order = random.choice(open_orders)
        with self.client.post(f"/orders/{order['id']}/cancel", headers=self.headers,
                              name="/orders/[id]/cancel", catch_response=True) as resp:
            if _expect(resp, 200):
                order["status"] = "cancelled"

    @task(2)
    def read_orders(self) -> None:
        if not self.headers:
            return
        if self.placed and random.random() < 0.5:
            order = random.choice(self.placed)
            with self.client.get(f"/orders/{order['id']}", headers=self.headers, name="/orders/[id]", catch_response=True) as resp:
                _expect(resp, 200)
        else:
            with self.client.get("/orders?limit=20", headers=self.headers, name="/orders (own)", catch_response=True) as resp:
                _expect(resp, 200)


class Admin(HttpUser):
    """Restocks and edits products with If-Match; a 412 (someone edited first) is fine."""

    weight = 1
    wait_time = between(WAIT_MIN_S * 4, WAIT_MAX_S * 4)

    def on_start(self) -> None:
        self.product_ids = _load_products(self)
        email, password = admin_credentials()
        with self.client.post("/sessions", json={"email": email, "password": password},
                              name="/sessions (admin)", catch_response=True) as resp:
            token = resp.json().get("token") if _expect(resp, 200, 201) else None
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def _current(self) -> dict[str, Any] | None:
        pid = random.choice(self.product_ids)
        with self.client.get(f"/products/{pid}", name="/products/[id]", catch_response=True) as resp:
            return resp.json() if _expect(resp, 200) else None

    @task(2)
    def restock(self) -> None:
        if not self.headers or not self.product_ids or (product := self._current()) is None:
            return
        headers = {**self.headers, "If-Match": str(product["version"])}
        with self.client.patch(f"/products/{product['id']}", json={"stock": product["stock"] + 50},
                               headers=headers, name="/products/[id] (restock)", catch_response=True) as resp:
            _expect(resp, 200, 412)

    @task(1)
    def edit_price(self) -> None:
        if not self.headers or not self.product_ids or (product := self._current()) is None:
            return
        headers = {**self.headers, "If-Match": f'"{product["version"]}"'}
        price = max(100, product["price_cents"] + random.choice((-25, 25)))
        with self.client.patch(f"/products/{product['id']}", json={"price_cents": price},
                               headers=headers, name="/products/[id] (edit)", catch_response=True) as resp:
            _expect(resp, 200, 412)


@events.request.add_listener
def _count_status(response: Any = None, exception: Any = None, **_: Any) -> None:
    code = "error" if exception is not None and response is None else str(getattr(response, "status_code", "error"))
    with _Shared.lock:
        _Shared.statuses[code] += 1


@events.test_start.add_listener
def _seed(environment: Any, **_: Any) -> None:
    count = int(os.environ.get("LOADTEST_SEED_PRODUCTS", "0"))
    if count and environment.host:
        seeded = seed_products(environment.host, count=count, stock=int(os.environ.get("LOADTEST_SEED_STOCK", "1000")))
        with _Shared.lock:
            _Shared.product_ids = seeded.product_ids


@events.quitting.add_listener
def _targets(environment: Any, **_: Any) -> None:
    """Latency and error targets -> exit code (non-zero fails a CI job or a bench step)."""
    total = environment.stats.total
    p99 = total.get_response_time_percentile(0.99) or 0
    if total.fail_ratio > MAX_FAILURE_RATIO:
        print(f"loadtest: failure ratio {total.fail_ratio:.4f} > target {MAX_FAILURE_RATIO}")
        environment.process_exit_code = 1
    elif p99 > P99_MS:
        print(f"loadtest: p99 {p99:.0f} ms > target {P99_MS:.0f} ms")
        environment.process_exit_code = 1
    else:
        environment.process_exit_code = 0
    record = os.environ.get("LOADTEST_RECORD")
    if record:
        with _Shared.lock:
            doc = {"acknowledged_orders": sorted(_Shared.acknowledged_orders), "statuses": dict(_Shared.statuses)}
        with open(record, "w") as f:
            json.dump(doc, f)
