"""Serving: SIGTERM-style drain order, and `spacegrid unit` refusing the embedded grid."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys

import aiohttp
import pytest
from aiohttp import web

from grid_config.local_grid import LocalGrid
from grid_config.names import Names
from processing_unit.app import create_app
from processing_unit.server import serve_until_signal
from tests.support.eventually import eventually_async
from tests.unit.processing_unit.conftest import unit_settings

pytestmark = pytest.mark.unit


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_drain_readiness_first_then_in_flight_finish_then_exit() -> None:
    app = create_app(unit_settings(bootstrap_admin=""), LocalGrid(Names(namespace="d-")))
    release = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        await release.wait()
        return web.Response(text="done")

    app.router.add_get("/slow", slow)
    port = free_port()
    stop = asyncio.Event()
    server = asyncio.create_task(serve_until_signal(app, "127.0.0.1", port, 0.5, 5.0, stop))
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as http:

        async def up() -> None:
            try:
                async with http.get(f"{base}/health/ready") as r:
                    assert r.status == 200
            except aiohttp.ClientConnectionError as e:
                raise AssertionError("not listening yet") from e

        await eventually_async(up, timeout=5, interval=0.05)
        in_flight = asyncio.create_task(http.get(f"{base}/slow"))
        await asyncio.sleep(0.1)
        stop.set()  # what SIGTERM does

        async def unready() -> None:
            async with http.get(f"{base}/health/ready") as r:
                assert r.status == 503
            async with http.get(f"{base}/health/live") as r:
                assert r.status == 200

        await eventually_async(unready, timeout=2, interval=0.05)
        release.set()
        r = await in_flight
        assert r.status == 200 and await r.text() == "done"
        await asyncio.wait_for(server, 10)
        with pytest.raises(aiohttp.ClientConnectionError):
            await http.get(f"{base}/health/live")


def test_unit_command_refuses_embedded_grid() -> None:
    env = {**os.environ, "SPACEGRID_GRID": "embedded"}
    p = subprocess.run([sys.executable, "-m", "spacegrid.cli", "unit"], env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 2
    assert "spacegrid up" in p.stderr


def test_unit_command_requires_token_secret() -> None:
    env = {k: v for k, v in os.environ.items() if k != "SPACEGRID_TOKEN_SECRET"}
    env["SPACEGRID_GRID"] = "hazelcast"
    p = subprocess.run([sys.executable, "-m", "spacegrid.cli", "unit"], env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    assert "SPACEGRID_TOKEN_SECRET" in p.stderr
