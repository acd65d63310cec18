"""A first run of the embedded mode as a new user meets it (issue 11).

`spacegrid demo` prints a curl that places an order; a second `spacegrid up` on the same
files is refused with one line and leaves the first one whole (its operator token still
works with `spacegrid verify`); tokens survive a restart, and one signed with another
secret gets a 401 that says so.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import jwt
import requests

from loadtests.seed import sign_in
from tools.local.processes import free_ports
from tools.local.units import FAST_HASH_ENV, REPO_ROOT, UnitProcess, start_unit
from tests.support.eventually import eventually

CLI = [sys.executable, "-m", "spacegrid.cli"]
ADMIN = ("admin@first-run.invalid", "first-run-admin-pw")


def _env(tmp: Path, db: Path | None = None, cache: Path | None = None, admin: bool = True) -> dict[str, str]:
    env = {
        **FAST_HASH_ENV,
        "SPACEGRID_DATABASE_URL": f"sqlite:///{db or tmp / 'shop.db'}",
        "SPACEGRID_WRITE_INTERVAL_MS": "300",
        "SPACEGRID_DRAIN_GRACE_S": "0.2",
        "SPACEGRID_CACHE_DIR": str(cache or tmp / "cache"),
    }
    if admin:
        env["SPACEGRID_BOOTSTRAP_ADMIN"] = f"{ADMIN[0]}:{ADMIN[1]}"
    return env


def _start(env: dict[str, str], port: int, logs: Path, command: str = "up") -> UnitProcess:
    proc = start_unit(env, port, logs, command=[*CLI, command], name=command)
    proc.wait_ready(60)
    return proc


def _banner_lines(proc: UnitProcess) -> list[str]:
    """The banner's lines (stdout; the JSON log lines go to the same file and start with '{')."""
    return [line for line in proc.tail(100_000).splitlines() if not line.startswith("{")]


def _cli(args: list[str], env: dict[str, str], port: int | None = None) -> subprocess.CompletedProcess:
    full = {**os.environ, **env, "PYTHONPATH": str(REPO_ROOT)}
    if port is not None:
        full["SPACEGRID_HTTP_PORT"] = str(port)
    return subprocess.run([*CLI, *args], env=full, cwd=REPO_ROOT, capture_output=True, text=True, timeout=90)


def test_demo_banner_curl_places_an_order(tmp_path: Path) -> None:
    port = free_ports(1)[0]
    demo = _start(_env(tmp_path, admin=False), port, tmp_path / "logs", "demo")
    try:
        def banner_printed() -> list[str]:
            lines = _banner_lines(demo)
            assert any(line.strip() == "first order (201):" for line in lines), demo.tail()
            return lines
        lines = eventually(banner_printed, timeout=30)
        text = "\n".join(lines)
        assert f"http://127.0.0.1:{port}/docs" in text
        assert str((tmp_path / "shop.db").resolve()) in text
        admin = re.search(r"admin\s+(\S+@\S+) / (\S+)", text)
        assert admin, text
        curl = lines[[line.strip() for line in lines].index("first order (201):") + 1].strip()
        assert curl.startswith("curl ")
        placed = subprocess.run(["bash", "-c", curl], capture_output=True, text=True, timeout=30)
        assert placed.returncode == 0, placed.stderr
        head, _, body = placed.stdout.replace("\r\n", "\n").partition("\n\n")
        assert head.startswith("HTTP/1.1 201"), placed.stdout
        order = json.loads(body)
        assert order["status"] == "placed" and order["lines"][0]["quantity"] == 1
        # the printed admin works, and the catalog has its sample categories
        sign_in(demo.url, admin.group(1), admin.group(2))
        products = requests.get(f"{demo.url}/products?limit=200", timeout=10).json()["items"]
        assert {p["category"] for p in products} >= {"kitchen", "books", "garden"}
        credentials = tmp_path / "cache" / "demo-credentials.json"
        assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    finally:
        assert demo.stop(timeout=60) == 0, demo.tail()

    # a second demo on the same files seeds nothing twice and prints passwords that still work
    again = _start(_env(tmp_path, admin=False), port, tmp_path / "logs2", "demo")
    try:
        lines = eventually(lambda: [ln for ln in _banner_lines(again) if "first order" in ln] and _banner_lines(again),
                           timeout=30)
        admin2 = re.search(r"admin\s+(\S+@\S+) / (\S+)", "\n".join(lines))
        assert admin2 and admin2.groups() == admin.groups()
        products2 = requests.get(f"{again.url}/products?limit=200", timeout=10).json()["items"]
        assert len(products2) == len(products)
    finally:
        assert again.stop(timeout=60) == 0, again.tail()


def test_a_second_up_on_the_same_files_exits_with_one_line_and_leaves_the_first_whole(tmp_path: Path) -> None:
    env = _env(tmp_path)
    first_port, second_port = free_ports(2)
    first = _start(env, first_port, tmp_path / "logs")
    try:
        token_file = tmp_path / "cache" / "operator-token"
        operator_token = token_file.read_text()
        admin = sign_in(first.url, *ADMIN)
        for other_env, what in (
            (env, "cache dir"),  # same cache dir and database, another port
            (_env(tmp_path, cache=tmp_path / "other-cache"), "database"),  # same database only
        ):
            second = _cli(["up", "--port", str(second_port)], other_env)
            assert second.returncode == 3, second.stdout + second.stderr
            assert second.stdout == ""
            lines = second.stderr.strip().splitlines()
            assert len(lines) == 1, second.stderr
            assert f"PID {first.pid}, port {first_port}" in lines[0] and what in lines[0], lines[0]
        # the same port from other files: one line too
        busy = _cli(["up", "--port", str(first_port)], _env(tmp_path, tmp_path / "b.db", tmp_path / "b-cache"))
        assert busy.returncode == 3 and len(busy.stderr.strip().splitlines()) == 1, busy.stderr
        assert f"port {first_port}" in busy.stderr and "in use" in busy.stderr
        # nothing of the first was touched: its token file, its operator route, its sessions
        assert token_file.read_text() == operator_token
        verify = _cli(["verify", "--wait", "10", "--url", first.url], env)  # --url, not SPACEGRID_HTTP_PORT
        assert verify.returncode == 0, verify.stdout + verify.stderr
        me = requests.get(f"{first.url}/users/me", headers={"Authorization": f"Bearer {admin}"}, timeout=10)
        assert me.status_code == 200
    finally:
        assert first.stop(timeout=60) == 0, first.tail()


def test_tokens_survive_a_restart_and_a_foreign_token_is_told_why(tmp_path: Path) -> None:
    env = _env(tmp_path)
    port = free_ports(1)[0]
    up = _start(env, port, tmp_path / "logs")
    try:
        # `up` prints the banner too (no sample data): where it serves, the database, the admin
        def printed() -> str:
            text = "\n".join(_banner_lines(up))
            assert "stop with Ctrl-C" in text, up.tail()
            return text
        banner = eventually(printed, timeout=10)
        assert f"spacegrid is serving on http://127.0.0.1:{port}/" in banner, up.tail()
        assert f"database   {(tmp_path / 'shop.db').resolve()}" in banner
        assert f"admin      {ADMIN[0]} (password from SPACEGRID_BOOTSTRAP_ADMIN)" in banner
        assert ADMIN[1] not in banner and f"curl -s http://127.0.0.1:{port}/products" in banner
        token = sign_in(up.url, *ADMIN)
    finally:
        assert up.stop(timeout=60) == 0, up.tail()
    secret_file = tmp_path / "cache" / "token-secret"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600

    again = _start(env, port, tmp_path / "logs")
    try:
        me = requests.get(f"{again.url}/users/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert me.status_code == 200, me.text
        assert me.json()["email"] == ADMIN[0]
        # the same claims signed with another key: 401 naming the cause
        claims = jwt.decode(token, options={"verify_signature": False})
        forged = jwt.encode(claims, "another-secret-" + "x" * 32, "HS256")
        refused = requests.get(f"{again.url}/users/me", headers={"Authorization": f"Bearer {forged}"}, timeout=10)
        assert refused.status_code == 401
        assert refused.headers["Content-Type"].startswith("application/problem+json")
        assert "signed with another secret" in refused.json()["detail"], refused.text
    finally:
        assert again.stop(timeout=60) == 0, again.tail()
