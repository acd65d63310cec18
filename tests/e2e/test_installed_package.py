"""What `pip install .` ships: the runtime packages only, and `spacegrid up` runs from them.

The wheel is built from this checkout and unpacked into a temporary directory that is the
only project code on the path (the checkout is neither the working directory nor on
PYTHONPATH; an editable install's finder comes after PYTHONPATH), so a runtime module that
needed the benchmarks or the launchers would fail here.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import requests

from tools.local.processes import free_ports
from tools.local.units import FAST_HASH_ENV, UnitProcess

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = {"spacegrid", "processing_unit", "data_pump", "data_writer", "data_reader", "grid_config", "service_kit"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
        check=True, capture_output=True, timeout=300,
    )
    (built,) = out.glob("spacegrid-*.whl")
    return built


def test_the_wheel_holds_runtime_packages_only(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == RUNTIME
    assert "grid_config/hazelcast.yaml" in names
    assert {"processing_unit/dashboard/dashboard.html", "processing_unit/dashboard/dashboard.js",
            "processing_unit/dashboard/dashboard.css"} <= set(names)
    assert not [n for n in names if "/bench/" in n or "/local/" in n or "postgres_grid" in n]


def test_spacegrid_up_runs_from_the_installed_packages(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    port = free_ports(1)[0]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SPACEGRID_")},
        **FAST_HASH_ENV,
        "PYTHONPATH": str(site),
        "SPACEGRID_HTTP_HOST": "127.0.0.1",
        "SPACEGRID_HTTP_PORT": str(port),
        "SPACEGRID_DATABASE_URL": f"sqlite:///{tmp_path / 'shop.db'}",
        "SPACEGRID_CACHE_DIR": str(tmp_path / "cache"),
    }
    run = [sys.executable, "-c", "import sys; from spacegrid.cli import main; sys.exit(main(sys.argv[1:]))"]

    where = subprocess.run([*run[:2], "import spacegrid; print(spacegrid.__file__)"], env=env, cwd=tmp_path,
                           capture_output=True, text=True, check=True)
    assert where.stdout.startswith(str(site)), where.stdout

    bench = subprocess.run([*run, "bench", "unit"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert bench.returncode != 0
    assert "run it from a checkout" in bench.stderr, bench.stderr

    log = tmp_path / "up.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([*run, "up"], env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    up = UnitProcess(port, proc, log, env)
    try:
        up.wait_ready(60)
        r = requests.post(f"{up.url}/users", json={"email": "w@e.invalid", "name": "W", "password": "wheel-pw-123"},
                          timeout=10)
        assert r.status_code == 201, r.text
        assert r.json()["email"] == "w@e.invalid"
        for path in ("/dashboard", "/dashboard/dashboard.js"):  # package data, not the checkout
            assert requests.get(f"{up.url}{path}", timeout=10).status_code == 200, path
        # /docs works from an install too: its Swagger UI files come from the swagger-ui-py package
        assert "swagger-ui-bundle.js" in requests.get(f"{up.url}/docs", timeout=10).text
        asset = requests.get(f"{up.url}/docs/assets/swagger-ui-bundle.js", timeout=10)
        assert asset.status_code == 200 and "SwaggerUIBundle" in asset.text
    finally:
        assert up.stop(30) == 0, up.tail()
