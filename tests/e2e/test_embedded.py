"""The embedded mode end to end: `spacegrid up` over HTTP, rows in SQLite, restart keeps data."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import requests

from loadtests.seed import sign_in
from tools.local.processes import free_ports
from tools.local.units import FAST_HASH_ENV, UnitProcess, start_unit
from tests.support.eventually import eventually

UP_COMMAND = [sys.executable, "-m", "spacegrid.cli", "up"]
ADMIN = ("admin@embedded.invalid", "embedded-admin-pw")
INTERVAL_MS = 300


def _start_up(db: Path, port: int, logs: Path) -> UnitProcess:
    env = {
        **FAST_HASH_ENV,
        "SPACEGRID_DATABASE_URL": f"sqlite:///{db}",
        "SPACEGRID_BOOTSTRAP_ADMIN": f"{ADMIN[0]}:{ADMIN[1]}",
        "SPACEGRID_WRITE_INTERVAL_MS": str(INTERVAL_MS),
        "SPACEGRID_DRAIN_GRACE_S": "0.2",
        "SPACEGRID_CACHE_DIR": str(logs / "cache"),
    }
    proc = start_unit(env, port, logs, command=UP_COMMAND, name="up")
    proc.wait_ready(60)
    return proc


def _rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def test_orders_reach_sqlite_and_survive_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "shop.db"
    port = free_ports(1)[0]
    up = _start_up(db, port, tmp_path / "logs")
    try:
        url = up.url
        admin = sign_in(url, *ADMIN)
        auth = {"Authorization": f"Bearer {admin}"}
        product = requests.post(
            f"{url}/products", headers=auth, timeout=10,
            json={"sku": "E-1", "name": "Kettle", "category": "kitchen", "price_cents": 2500, "stock": 5},
        ).json()
        requests.post(f"{url}/users", json={"email": "s@e.invalid", "name": "S", "password": "shopper-pw-1"}, timeout=10)
        shopper = {"Authorization": f"Bearer {sign_in(url, 's@e.invalid', 'shopper-pw-1')}"}
        orders = []
        for qty in (1, 2):
            r = requests.post(f"{url}/orders", headers={**shopper, "Idempotency-Key": f"restart-{qty}"}, timeout=10,
                              json={"lines": [{"product_id": product["id"], "quantity": qty}]})
            assert r.status_code == 201, r.text
            orders.append(r.json())
        paid = requests.post(f"{url}/orders/{orders[0]['id']}/payment", headers=shopper, timeout=10,
                             json={"amount_cents": orders[0]["total_cents"]})
        assert paid.status_code == 200, paid.text

        # within a few write intervals the database holds every acknowledged change
        def persisted() -> None:
            # two orders, each line held (a version) then settled (another, or carried by
            # the next order's hold: decision 0033)
            assert _rows(db, "SELECT stock, version FROM products") in ([(2, 4)], [(2, 5)])
            assert sorted(_rows(db, "SELECT id, status FROM orders")) == sorted(
                [(orders[0]["id"], "paid"), (orders[1]["id"], "placed")]
            )
            assert len(_rows(db, "SELECT id FROM users")) == 2
        eventually(persisted, timeout=10 * INTERVAL_MS / 1000 + 5)

        before = {
            "products": requests.get(f"{url}/products", timeout=10).json()["items"],
            "orders": requests.get(f"{url}/orders", headers=shopper, timeout=10).json()["items"],
            "me": requests.get(f"{url}/users/me", headers=shopper, timeout=10).json(),
        }
    finally:
        assert up.stop(timeout=60) == 0, up.tail()

    again = _start_up(db, port, tmp_path / "logs")
    try:
        url = again.url
        # a fresh sign-in (tokens issued before the restart keep working too: test_embedded_first_run)
        shopper = {"Authorization": f"Bearer {sign_in(url, 's@e.invalid', 'shopper-pw-1')}"}
        assert requests.get(f"{url}/products", timeout=10).json()["items"] == before["products"]
        assert requests.get(f"{url}/orders", headers=shopper, timeout=10).json()["items"] == before["orders"]
        assert requests.get(f"{url}/users/me", headers=shopper, timeout=10).json() == before["me"]
        # and the admin bootstrapped on the first start was loaded, not created twice
        assert len(_rows(db, "SELECT id FROM users")) == 2
        sign_in(url, *ADMIN)
        # G6: a retry after the restart returns the first order and creates nothing
        retry = requests.post(f"{url}/orders", headers={**shopper, "Idempotency-Key": "restart-2"}, timeout=10,
                              json={"lines": [{"product_id": product["id"], "quantity": 2}]})
        assert retry.status_code == 201 and retry.headers.get("Idempotent-Replayed") == "true", retry.text
        assert retry.json()["id"] == orders[1]["id"] and retry.json()["status"] == "placed"
        other_body = requests.post(f"{url}/orders", headers={**shopper, "Idempotency-Key": "restart-2"}, timeout=10,
                                   json={"lines": [{"product_id": product["id"], "quantity": 1}]})
        assert other_body.status_code == 422, other_body.text
        assert len(requests.get(f"{url}/orders", headers=shopper, timeout=10).json()["items"]) == 2
        assert requests.get(f"{url}/products/{product['id']}", timeout=10).json()["stock"] == 2
    finally:
        assert again.stop(timeout=60) == 0, again.tail()
