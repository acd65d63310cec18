"""`spacegrid verify` in the embedded mode (G4): it asks the running `spacegrid up` through
the operator-only drift route, with the token `up` wrote into SPACEGRID_CACHE_DIR (0600)."""

from __future__ import annotations

import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import requests

from loadtests.seed import sign_in
from tools.local.processes import free_ports
from tools.local.units import FAST_HASH_ENV, REPO_ROOT, UnitProcess, start_unit
from tests.support.eventually import eventually

UP_COMMAND = [sys.executable, "-m", "spacegrid.cli", "up"]
ADMIN = ("admin@verify.invalid", "verify-admin-pw")
INTERVAL_MS = 300


def _verify(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "spacegrid.cli", "verify"], env=env, cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60)


def test_verify_exits_0_within_the_batch_interval_and_1_on_injected_drift(tmp_path: Path) -> None:
    db, cache = tmp_path / "shop.db", tmp_path / "cache"
    port = free_ports(1)[0]
    env = {
        **FAST_HASH_ENV,
        "SPACEGRID_DATABASE_URL": f"sqlite:///{db}",
        "SPACEGRID_BOOTSTRAP_ADMIN": f"{ADMIN[0]}:{ADMIN[1]}",
        "SPACEGRID_WRITE_INTERVAL_MS": str(INTERVAL_MS),
        "SPACEGRID_DRAIN_GRACE_S": "0.2",
        "SPACEGRID_CACHE_DIR": str(cache),
    }
    up: UnitProcess = start_unit(env, port, tmp_path / "logs", command=UP_COMMAND, name="up")
    try:
        up.wait_ready(60)
        token_file = cache / "operator-token"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        # the route is operator-only: no token, a shop admin's token, a wrong token -> 401
        url = up.url
        admin = sign_in(url, *ADMIN)
        for headers in ({}, {"Authorization": f"Bearer {admin}"}, {"Authorization": "Bearer nope"}):
            r = requests.get(f"{url}/admin/drift", headers=headers, timeout=10)
            assert r.status_code == 401 and r.headers["Content-Type"].startswith("application/problem+json")

        auth = {"Authorization": f"Bearer {admin}"}
        product = requests.post(f"{url}/products", headers=auth, timeout=10, json={
            "sku": "V-1", "name": "Lamp", "category": "home", "price_cents": 1200, "stock": 50}).json()
        requests.post(f"{url}/users", json={"email": "v@e.invalid", "name": "V", "password": "shopper-pw-1"},
                      timeout=10)
        shopper = {"Authorization": f"Bearer {sign_in(url, 'v@e.invalid', 'shopper-pw-1')}"}
        orders = []
        for qty in (1, 2, 3):
            r = requests.post(f"{url}/orders", headers=shopper, timeout=10,
                              json={"lines": [{"product_id": product["id"], "quantity": qty}]})
            assert r.status_code == 201, r.text
            orders.append(r.json()["id"])
        placed = time.monotonic()
        verify_env = {**up.env}  # same SPACEGRID_HTTP_PORT and SPACEGRID_CACHE_DIR as `up`

        def converged() -> None:
            done = _verify(verify_env)
            assert done.returncode == 0, done.stdout + done.stderr

        eventually(converged, timeout=INTERVAL_MS / 1000 + 3, interval=0.1)
        took = time.monotonic() - placed
        print(f"verify exit 0 {took:.2f}s after the last order (write interval {INTERVAL_MS} ms)")

        # drift behind the writer's back: an order row disappears from SQLite
        with sqlite3.connect(db) as conn:
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("DELETE FROM orders WHERE id = ?", (orders[1],))
        done = _verify(verify_env)
        assert done.returncode == 1, done.stdout + done.stderr
        assert f"missing: {orders[1]}" in done.stdout and "DRIFT" in done.stdout
    finally:
        assert up.stop(timeout=60) == 0, up.tail()
    assert not (cache / "operator-token").exists()  # removed at shutdown
    done = _verify(verify_env)
    assert done.returncode == 2 and "no operator token" in done.stderr


def test_verify_repair_reships_deleted_and_corrupted_rows(tmp_path: Path) -> None:
    """G4 in the embedded mode: rows deleted and corrupted behind the writer's back are
    found (exit 1), re-shipped by `verify --repair` through the journals, the embedded
    pump and writer (exit 0), and a plain `verify` agrees (exit 0)."""
    import json

    db, cache = tmp_path / "shop.db", tmp_path / "cache"
    port = free_ports(1)[0]
    env = {
        **FAST_HASH_ENV,
        "SPACEGRID_DATABASE_URL": f"sqlite:///{db}",
        "SPACEGRID_BOOTSTRAP_ADMIN": f"{ADMIN[0]}:{ADMIN[1]}",
        "SPACEGRID_WRITE_INTERVAL_MS": str(INTERVAL_MS),
        "SPACEGRID_DRAIN_GRACE_S": "0.2",
        "SPACEGRID_CACHE_DIR": str(cache),
    }
    up: UnitProcess = start_unit(env, port, tmp_path / "logs", command=UP_COMMAND, name="up")
    try:
        up.wait_ready(60)
        url = up.url
        auth = {"Authorization": f"Bearer {sign_in(url, *ADMIN)}"}
        products = []
        for i in range(6):
            r = requests.post(f"{url}/products", headers=auth, timeout=10, json={
                "sku": f"R-{i}", "name": f"Lamp {i}", "category": "home", "price_cents": 1200, "stock": 50})
            assert r.status_code == 201, r.text
            products.append(r.json()["id"])
        requests.post(f"{url}/users", json={"email": "r@e.invalid", "name": "R", "password": "shopper-pw-1"},
                      timeout=10)
        shopper = {"Authorization": f"Bearer {sign_in(url, 'r@e.invalid', 'shopper-pw-1')}"}
        orders = []
        for pid in products[:3]:
            r = requests.post(f"{url}/orders", headers=shopper, timeout=10,
                              json={"lines": [{"product_id": pid, "quantity": 2}]})
            assert r.status_code == 201, r.text
            orders.append(r.json()["id"])
        verify_env = {**up.env}

        def converged() -> None:
            done = _verify(verify_env)
            assert done.returncode == 0, done.stdout + done.stderr

        eventually(converged, timeout=INTERVAL_MS / 1000 + 5, interval=0.2)

        deleted, corrupted = [products[3], orders[0]], [products[0], products[1]]  # versions 2: can step back
        with sqlite3.connect(db) as conn:  # drift behind the writer's back
            conn.execute("PRAGMA foreign_keys=OFF")
            conn.execute("DELETE FROM order_lines WHERE order_id = ?", (orders[0],))
            conn.execute("DELETE FROM orders WHERE id = ?", (orders[0],))
            conn.execute("DELETE FROM products WHERE id = ?", (products[3],))
            for pid in corrupted:
                conn.execute("UPDATE products SET version = version - 1, "
                             "state = json_set(state, '$.name', 'corrupt') WHERE id = ?", (pid,))
        done = subprocess.run([sys.executable, "-m", "spacegrid.cli", "verify", "--json"], env=verify_env,
                              cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
        assert done.returncode == 1, done.stdout + done.stderr
        kinds = {k["kind"]: k for k in json.loads(done.stdout)["kinds"]}
        assert (kinds["products"]["missing"], kinds["products"]["stale"], kinds["orders"]["missing"]) == (1, 2, 1), kinds
        assert kinds["products"]["examples"]["missing"] + kinds["orders"]["examples"]["missing"] == deleted
        assert sorted(kinds["products"]["examples"]["stale"]) == sorted(corrupted)
        repaired = subprocess.run([sys.executable, "-m", "spacegrid.cli", "verify", "--repair", "--wait", "30"],
                                  env=verify_env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=90)
        print(f"\n[embedded verify --repair] {repaired.stderr.strip()} / {repaired.stdout.strip().splitlines()[-1]}")
        assert repaired.returncode == 0, repaired.stdout + repaired.stderr
        assert "re-shipped 0 users, 3 products, 1 orders" in repaired.stderr, repaired.stderr
        done = _verify(verify_env)
        assert done.returncode == 0 and "converged" in done.stdout, done.stdout + done.stderr
    finally:
        assert up.stop(timeout=60) == 0, up.tail()
