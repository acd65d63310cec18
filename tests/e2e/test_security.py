"""Issue 12's acceptance on real processes: `spacegrid up` / `spacegrid unit` on loopback.

Weak token secrets stop the process with one line; a flood of junk logins from one
address leaves a real login from another fast; wrong passwords from one address do not
lock the owner out elsewhere; malformed requests carrying a password and a token leave
neither in the log; the database and its WAL are 0600; held request heads are closed
within the stated bound while a normal request is served.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import aiohttp
import pytest

from loadtests.seed import sign_in
from tools.local.processes import free_ports
from tools.local.units import FAST_HASH_ENV, REPO_ROOT, UnitProcess, start_unit

UP_COMMAND = [sys.executable, "-m", "spacegrid.cli", "up"]
UNIT_COMMAND = [sys.executable, "-m", "spacegrid.cli", "unit"]
ADMIN = ("admin@security.invalid", "security-admin-pw")
JUNK_ADDRESS, REAL_ADDRESS = "127.0.0.2", "127.0.0.1"
#: the bound these tests set (SPACEGRID_HTTP_IDLE_TIMEOUT_S; its default is 10 s)
IDLE_BOUND_S = 3.0


def _old_compose_secrets() -> set[str]:
    """Every fallback compose.yaml gives SPACEGRID_TOKEN_SECRET today, and the one it gave before."""
    compose = (REPO_ROOT / "compose.yaml").read_text()
    found = set(re.findall(r"SPACEGRID_TOKEN_SECRET:\s*\$\{SPACEGRID_TOKEN_SECRET:-([^}]*)\}", compose))
    return {v for v in found if v} | {"change-me-to-32-random-bytes"}


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPACEGRID_")}
    env["PYTHONPATH"] = str(REPO_ROOT)
    env.update(extra)
    return env


@pytest.mark.parametrize("command", ["up", "unit"])
def test_weak_or_published_token_secret_stops_the_process_with_one_line(command: str, tmp_path: Path) -> None:
    argv = UP_COMMAND if command == "up" else UNIT_COMMAND
    grid = "embedded" if command == "up" else "hazelcast"
    for secret in sorted(_old_compose_secrets() | {"x", "change-me", "secret", "a" * 40}):
        started = time.monotonic()
        p = subprocess.run(
            argv, capture_output=True, text=True, timeout=60, cwd=REPO_ROOT,
            env=_env(SPACEGRID_TOKEN_SECRET=secret, SPACEGRID_GRID=grid, SPACEGRID_HTTP_PORT=str(free_ports(1)[0]),
                     SPACEGRID_DATABASE_URL=f"sqlite:///{tmp_path / 'never.db'}",
                     SPACEGRID_CACHE_DIR=str(tmp_path / "cache")),
        )
        lines = p.stderr.strip().splitlines()
        print(f"{command} with {secret[:12]!r}: exit {p.returncode} in {time.monotonic() - started:.1f}s: {lines}")
        assert p.returncode != 0
        assert len(lines) == 1 and "SPACEGRID_TOKEN_SECRET" in lines[0], p.stderr
        if len(secret) > 10:  # (short ones are words of the message itself)
            assert secret not in p.stderr  # the refusal never echoes the value
    assert not (tmp_path / "never.db").exists()


def _start_up(tmp_path: Path, **extra: str) -> UnitProcess:
    env = {
        "SPACEGRID_DATABASE_URL": f"sqlite:///{tmp_path / 'shop.db'}",
        "SPACEGRID_BOOTSTRAP_ADMIN": f"{ADMIN[0]}:{ADMIN[1]}",
        "SPACEGRID_DRAIN_GRACE_S": "0.2",
        "SPACEGRID_CACHE_DIR": str(tmp_path / "cache"),
        "SPACEGRID_WRITE_INTERVAL_MS": "200",
        **extra,
    }
    proc = start_unit(env, free_ports(1)[0], tmp_path / "logs", command=UP_COMMAND, name="up")
    try:
        proc.wait_ready(60)
    except BaseException:
        proc.stop(timeout=10)
        raise
    return proc


@pytest.fixture
def up_default_costs(tmp_path: Path) -> Iterator[UnitProcess]:
    """`up` with the default argon2 costs and abuse limits (what a real deployment runs)."""
    proc = _start_up(tmp_path)
    yield proc
    assert proc.stop(timeout=60) == 0, proc.tail()


def _session(address: str, limit: int = 200) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(local_addr=(address, 0), limit=limit)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30))


async def _login(http: aiohttp.ClientSession, url: str, email: str, password: str) -> tuple[int, float]:
    started = time.perf_counter()
    async with http.post(f"{url}/sessions", json={"email": email, "password": password}) as r:
        await r.read()
        if r.status in (429, 503):
            assert int(r.headers["Retry-After"]) >= 1
        return r.status, time.perf_counter() - started


async def test_junk_login_flood_from_one_address_leaves_a_real_login_fast(up_default_costs: UnitProcess) -> None:
    url = up_default_costs.url
    async with _session(REAL_ADDRESS) as real:
        status, alone = await _login(real, url, *ADMIN)
        assert status == 201
        attacker = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.e2e.junk_flood", url, "120", JUNK_ADDRESS,
            cwd=REPO_ROOT, stdout=asyncio.subprocess.PIPE, env=_env())
        assert attacker.stdout is not None
        assert (await asyncio.wait_for(attacker.stdout.readline(), 30)).strip() == b"ready"
        await asyncio.sleep(0.05)  # the flood is on the wire
        status, during = await _login(real, url, *ADMIN)
        out, _ = await asyncio.wait_for(attacker.communicate(), 60)
    report = json.loads(out.decode().strip().splitlines()[-1])
    statuses = report["statuses"]
    counts = {s: statuses.count(s) for s in sorted(set(statuses))}
    print(f"real login alone {alone * 1000:.0f} ms, during 120 junk logins {during * 1000:.0f} ms (status {status}); "
          f"junk statuses {counts}, slowest junk answer {report['slowest_ms']} ms")
    assert status == 201
    assert during < 1.0
    assert set(statuses) <= {401, 429, 503} and report["retry_after_missing"] == 0
    assert counts.get(429, 0) >= 100


async def test_wrong_passwords_from_one_address_do_not_lock_the_owner_out(up_default_costs: UnitProcess) -> None:
    url = up_default_costs.url
    async with _session(JUNK_ADDRESS) as guesser, _session(REAL_ADDRESS) as owner:
        guesses = [(await _login(guesser, url, ADMIN[0], f"wrong-guess-{i}"))[0] for i in range(10)]
        status, took = await _login(owner, url, *ADMIN)
        again, _ = await _login(guesser, url, *ADMIN)  # the guessing address waits, even with the right one
    print(f"10 wrong passwords from {JUNK_ADDRESS}: {guesses}; right password from {REAL_ADDRESS}: {status} "
          f"in {took * 1000:.0f} ms; right password from {JUNK_ADDRESS} right after: {again}")
    assert guesses[:5] == [401] * 5 and 429 in guesses[5:]
    assert status == 201
    assert again == 429


def _raw(port: int, payload: bytes) -> bytes:
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(payload)
        got = b""
        try:
            while b"\r\n\r\n" not in got and (chunk := s.recv(65536)):  # until the answer's head
                got += chunk
        except OSError:
            pass
    return got


def test_malformed_requests_leave_no_password_or_token_in_the_logs_and_files_are_private(tmp_path: Path) -> None:
    up = _start_up(tmp_path, **FAST_HASH_ENV)
    password = "Pw-" + os.urandom(8).hex()
    try:
        import requests

        r = requests.post(f"{up.url}/users", json={"email": "leak@security.invalid", "name": "L", "password": password},
                          timeout=10)
        assert r.status_code == 201, r.text
        token = sign_in(up.url, "leak@security.invalid", password)
        port = up.port
        login = b'{"email": "leak@security.invalid", "password": "' + password.encode() + b'"}'
        malformed = [
            # a control byte in a header next to the bearer token
            b"GET /users/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token.encode() + b"\x01\r\n\r\n",
            # the token as a Content-Length
            b"POST /sessions HTTP/1.1\r\nHost: x\r\nContent-Length: " + token.encode() + b"\r\n\r\n",
            # the password in a broken request line
            b"POST /sessions?password=" + password.encode() + b" HTTP/1.1 junk\r\nHost: x\r\n\r\n",
            # the password in a header name with a space (invalid)
            b"POST /sessions HTTP/1.1\r\nHost: x\r\nX Pass " + password.encode() + b": 1\r\n\r\n",
            # the login body with a broken chunk size
            b"POST /sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            + b"zz" + login + b"\r\n0\r\n\r\n",
            # a truncated JSON body carrying the password, and a token with a bad signature
            b"POST /sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(login) - 1).encode() + b"\r\nConnection: close\r\n\r\n" + login[:-1],
            b"GET /users/me HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer " + token.encode() + b"x\r\n\r\n",
        ]
        answers = [_raw(port, m).split(b"\r\n", 1)[0] for m in malformed]
        print("answers:", answers)
        assert all(re.match(rb"HTTP/1\.[01] 4\d\d ", a) for a in answers), answers

        db = tmp_path / "shop.db"
        modes = {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in tmp_path.iterdir() if p.name.startswith("shop.db")}
        print("database files:", modes)
        assert {"shop.db", "shop.db-wal"} <= set(modes) and set(modes.values()) == {"0o600"}
        from tests.support.eventually import eventually

        def stored() -> None:
            with sqlite3.connect(db) as conn:
                rows = conn.execute(
                    "SELECT password_hash, state FROM users WHERE email = 'leak@security.invalid'").fetchall()
            assert len(rows) == 1, rows
            column, state = rows[0]
            assert column.startswith("$argon2id$") and "argon2" not in state
        eventually(stored, timeout=10)
    finally:
        assert up.stop(timeout=60) == 0, up.tail()
    logs = {p: p.read_bytes() for p in (tmp_path / "logs").rglob("*") if p.is_file()}
    text = b"".join(logs.values())
    assert b"request refused by the HTTP parser" in text, text[-3000:]  # the parser did log; without bytes
    for secret in (password.encode(), token.encode(), token.split(".")[2].encode()):
        assert secret not in text, f"{secret[:8]!r}.. found in {[p.name for p, t in logs.items() if secret in t]}"
    for p in tmp_path.rglob("*"):  # nor anywhere else on disk (database, WAL, cache)
        if p.is_file():
            assert password.encode() not in p.read_bytes(), p


async def test_held_request_heads_are_closed_within_the_bound_while_requests_are_served(tmp_path: Path) -> None:
    up = _start_up(tmp_path, **FAST_HASH_ENV, SPACEGRID_HTTP_IDLE_TIMEOUT_S=str(IDLE_BOUND_S))
    try:
        async def held(trickle: bool) -> float:
            reader, writer = await asyncio.open_connection("127.0.0.1", up.port)
            opened = time.monotonic()
            writer.write(b"GET /health/live HTTP/1.1\r\nHost: x\r\n")  # never the blank line
            await writer.drain()

            async def drip() -> None:
                for _ in range(100):
                    await asyncio.sleep(0.5)
                    writer.write(b"X-Drip: 1\r\n")

            dripping = asyncio.ensure_future(drip()) if trickle else None
            try:
                data = await asyncio.wait_for(reader.read(), IDLE_BOUND_S + 10)
            except (ConnectionError, OSError):
                data = b""
            finally:
                if dripping:
                    dripping.cancel()
                writer.close()
            assert data == b"", data[:200]  # closed without an answer
            return time.monotonic() - opened

        conns = [asyncio.ensure_future(held(trickle=i % 10 == 0)) for i in range(200)]
        await asyncio.sleep(0.5)
        async with aiohttp.ClientSession() as http:
            started = time.perf_counter()
            async with http.get(f"{up.url}/products") as r:
                assert r.status == 200
            normal = time.perf_counter() - started
        closed_after = await asyncio.gather(*conns)
    finally:
        assert up.stop(timeout=60) == 0, up.tail()
    print(f"normal request {normal * 1000:.0f} ms while 200 request heads were held (20 trickling); "
          f"held connections closed after {min(closed_after):.2f}..{max(closed_after):.2f} s (bound {IDLE_BOUND_S} s)")
    assert normal < 1.0
    assert max(closed_after) <= IDLE_BOUND_S + 1.0
