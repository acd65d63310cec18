"""Issue 13 acceptance: the dashboard in a real headless Chromium, over a running distributed shop.

Two units, a pump and a writer (SQLite file) on the session's cluster and broker; the page
is opened on one unit with an admin's token; orders are placed through the API for a
while; the page must show the grid's members, every process, and its rates and lag
moving with the load (then settling when it stops). A screenshot is saved (tmp_path, and
``SPACEGRID_DASHBOARD_SCREENSHOT`` when set).
"""

from __future__ import annotations

import os
import shutil
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

from tests.e2e.test_live_across_units import ADMIN, live_env, processes  # noqa: F401 - fixtures
from tests.integration.data_writer.support import WriterProcess, writer_env
from tests.support.engines import BrokerHandle, ClusterHandle, engines_unavailable
from tests.support.eventually import eventually
from tests.e2e.conftest import start_pump
from tools.local.processes import free_ports
from tools.local.units import UnitProcess, start_units

pytestmark = pytest.mark.timeout(300)
CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


@pytest.fixture
def browser() -> Iterator[Any]:
    if not (os.access(CHROMIUM, os.X_OK) and os.access(DRIVER, os.X_OK)):
        engines_unavailable("chromium / chromium-driver not installed (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1500,1050"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def value(driver: Any, element_id: str) -> float:
    return float(driver.find_element("id", element_id).get_attribute("data-value") or 0)


def rows(driver: Any, table_id: str) -> list[list[str]]:
    """A table's cells, read in one script (the page replaces its rows every second)."""
    return driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map(tr => [...tr.cells].map(td => td.textContent))",
        f"#{table_id} tbody tr")


def test_the_dashboard_shows_members_processes_and_the_load_moving(
    live_env: dict[str, str], hazelcast_cluster: ClusterHandle, kafka_broker: BrokerHandle,  # noqa: F811
    processes: tuple[list[UnitProcess], list[Any]], browser: Any, tmp_path: Path,  # noqa: F811
) -> None:
    namespace = live_env["SPACEGRID_NAMESPACE"]
    units, workers = processes
    workers.append(start_pump(hazelcast_cluster.settings_env, kafka_broker.bootstrap, namespace, tmp_path / "logs"))
    workers.append(WriterProcess(
        {**writer_env(kafka_broker.bootstrap, namespace, f"sqlite:///{tmp_path / 'shop.db'}", tmp_path / "cache",
                      SPACEGRID_WRITE_INTERVAL_MS="1000"), **hazelcast_cluster.settings_env},
        tmp_path / "logs").start())
    units.extend(start_units(live_env, free_ports(2), tmp_path / "logs"))
    a, b = units[0].url, units[1].url
    http = requests.Session()
    admin = http.post(f"{a}/sessions", json={"email": ADMIN[0], "password": ADMIN[1]}, timeout=10).json()["token"]
    auth = {"Authorization": f"Bearer {admin}"}
    product_ids = [http.post(f"{a}/products", headers=auth, timeout=10, json={
        "sku": f"D-{uuid.uuid4().hex[:8]}", "name": f"Desk {i}", "category": "dash", "price_cents": 900,
        "stock": 100_000}).json()["id"] for i in range(10)]

    browser.get(f"{a}/dashboard#token={admin}")

    def everyone_listed() -> bool:
        kinds = sorted(r[0] for r in rows(browser, "processes"))
        assert kinds == ["pump", "unit", "unit", "writer"], kinds
        members = rows(browser, "members")
        assert len(members) == 3 and sum(int(m[1]) for m in members) == 271, members
        assert sum(int(m[2]) for m in members) == 271, members  # one backup each, as the members tell
        return True

    eventually(everyone_listed, timeout=60, interval=0.5)

    def idle() -> bool:  # once the set-up's burst (sign-in, 10 products) has left the rate's window
        assert value(browser, "requests-rate") < 1.0
        return True

    eventually(idle, timeout=30, interval=0.5)

    stop = threading.Event()
    placed = [0]

    def shop_load(i: int) -> None:
        s = requests.Session()
        email = f"dash-{i}-{uuid.uuid4().hex[:6]}@live.invalid"
        s.post(f"{(a, b)[i % 2]}/users", json={"email": email, "name": "D", "password": "dash-shopper-pw"}, timeout=10)
        token = s.post(f"{a}/sessions", json={"email": email, "password": "dash-shopper-pw"}, timeout=10).json()["token"]
        n = 0
        while not stop.is_set():
            r = s.post(f"{(a, b)[n % 2]}/orders", headers={"Authorization": f"Bearer {token}"}, timeout=10,
                       json={"lines": [{"product_id": product_ids[(i + n) % 10], "quantity": 1}]})
            n += 1
            if r.status_code == 201:
                placed[0] += 1
            time.sleep(0.05)

    seen: dict[str, float] = {k: 0.0 for k in ("requests-rate", "pump-rate", "writer-rate", "pump-lag",
                                               "writer-lag", "unshipped")}
    with ThreadPoolExecutor(4) as pool:
        for i in range(4):
            pool.submit(shop_load, i)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                for k in seen:
                    seen[k] = max(seen[k], value(browser, k))
                if (seen["requests-rate"] > 5 and seen["pump-rate"] > 1 and seen["writer-rate"] > 1
                        and max(seen["pump-lag"], seen["writer-lag"], seen["unshipped"]) > 0
                        and time.monotonic() > deadline - 40):
                    break
                time.sleep(0.25)
            screenshot = tmp_path / "dashboard.png"
            browser.save_screenshot(str(screenshot))
        finally:
            stop.set()
    print(f"\ndashboard under load ({placed[0]} orders): highest values seen {seen}")
    assert seen["requests-rate"] > 5 and seen["pump-rate"] > 1 and seen["writer-rate"] > 1, seen
    assert max(seen["pump-lag"], seen["writer-lag"], seen["unshipped"]) > 0, seen
    routes = {r[0] for r in rows(browser, "routes")}
    assert "POST orders.place" in routes, routes

    def settled() -> bool:  # the load stopped: the page says so (its own poll is 1 request/s)
        assert value(browser, "requests-rate") <= 1.5 and value(browser, "pump-rate") < seen["pump-rate"] / 2
        assert value(browser, "unshipped") == 0
        return True

    target = os.environ.get("SPACEGRID_DASHBOARD_SCREENSHOT")
    if target:
        shutil.copyfile(screenshot, target)
    eventually(settled, timeout=60, interval=0.5)
