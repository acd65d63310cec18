"""/ and /docs in a real browser (headless Chromium, Debian's chromium + chromium-driver).

The landing page links the docs; the docs page renders from local assets (no network
beyond 127.0.0.1), and "Execute" on GET /products sends a request whose answer shows on
the page. A screenshot of that is saved under the test's tmp dir (docs-try-it-out.png).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Iterator

import pytest
import requests

from tools.local.processes import free_ports
from tools.local.units import FAST_HASH_ENV, UnitProcess, start_unit
from tests.support.engines import engines_unavailable
from tests.support.eventually import eventually

CHROMEDRIVER = "/usr/bin/chromedriver"


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[object]:
    chromium = shutil.which("chromium")
    if chromium is None or not Path(CHROMEDRIVER).exists():
        engines_unavailable("chromium or chromium-driver not installed (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,1400", f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER, log_output=str(tmp_path / "chromedriver.log")),
                              options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[UnitProcess]:
    env = {
        **FAST_HASH_ENV,
        "SPACEGRID_DATABASE_URL": f"sqlite:///{tmp_path / 'shop.db'}",
        "SPACEGRID_CACHE_DIR": str(tmp_path / "cache"),
        "SPACEGRID_DRAIN_GRACE_S": "0.2",
    }
    proc = start_unit(env, free_ports(1)[0], tmp_path / "logs", command=[sys.executable, "-m", "spacegrid.cli", "demo"],
                      name="demo")
    proc.wait_ready(60)
    # the demo seeds through the API once it serves: wait for its catalog
    def seeded() -> None:
        assert requests.get(f"{proc.url}/products", timeout=5).json()["items"]
    eventually(seeded, timeout=30)
    try:
        yield proc
    finally:
        assert proc.stop(timeout=60) == 0, proc.tail()


def _soon(find):  # noqa: ANN001, ANN202 - a selenium lookup retried until it finds something
    from selenium.common.exceptions import WebDriverException

    def attempt():  # noqa: ANN202
        try:
            found = find()
        except WebDriverException as e:
            raise AssertionError(str(e).splitlines()[0]) from e
        assert found, "nothing found yet"
        return found
    return eventually(attempt, timeout=20)


def test_landing_page_and_try_it_out_in_docs(browser, shop: UnitProcess, tmp_path: Path) -> None:  # noqa: ANN001
    from selenium.webdriver.common.by import By

    driver = browser
    driver.get(f"{shop.url}/")
    assert driver.title == "spacegrid"
    driver.find_element(By.LINK_TEXT, "API documentation").click()
    _soon(lambda: driver.current_url == f"{shop.url}/docs")

    # Swagger UI rendered the schema: the operations of every tag are listed
    op = _soon(lambda: driver.find_element(By.CSS_SELECTOR, '[id="operations-catalog-products\\\\.list"]'))
    assert "/orders/{id}/payment" in driver.find_element(By.ID, "swagger-ui").text
    op.find_element(By.CSS_SELECTOR, ".opblock-summary").click()
    # the query parameters are there with their types
    params = _soon(lambda: op.find_element(By.CSS_SELECTOR, ".parameters").text)
    assert "category" in params and "limit" in params and "cursor" in params
    op.find_element(By.CSS_SELECTOR, "button.execute").click()

    def answered() -> str:
        status = op.find_element(By.CSS_SELECTOR, ".live-responses-table tr.response .response-col_status").text
        return op.find_element(By.CSS_SELECTOR, ".live-responses-table tr.response .response-col_description").text \
            if status.strip() == "200" else ""

    body = _soon(answered)
    assert "KIT-KETTLE" in body and '"items"' in body
    driver.execute_script("arguments[0].scrollIntoView({block: 'start'});", op)
    shot = tmp_path / "docs-try-it-out.png"
    assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    # every file the page loaded came from this process (no CDN)
    sources = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert sources and all(s.startswith(shop.url) for s in sources), sources
