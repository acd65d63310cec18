"""``GET /ws`` on the embedded app (``spacegrid up``'s wiring, in process): what a socket is sent.

The chain is the real one: HTTP writes -> LocalGrid journals -> embedded pump -> in-process
channel (tapped) -> live hub -> WebSocket. Refusals are close frames with codes, never 500s.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient, TestServer

from data_writer.settings import WriterSettings
from grid_config.settings import load
from processing_unit.keys import LIVE, SETTINGS
from processing_unit.operator import OPERATOR
from processing_unit.tokens import Tokens
from spacegrid.embedded import build_app
from tests.support.eventually import eventually_async
from tests.support.raw_ws import closed_by_peer, connect_never_reading
from tests.unit.processing_unit.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Api, unit_settings

pytestmark = [pytest.mark.unit, pytest.mark.timeout(120)]

Shop = Callable[..., Awaitable[Api]]


@pytest.fixture
async def shop(tmp_path: Path) -> AsyncIterator[Shop]:
    clients: list[TestClient] = []

    async def make(**overrides: Any) -> Api:
        db = f"sqlite:///{tmp_path / f'shop{len(clients)}.db'}"
        settings = unit_settings(database_url=db, cache_dir=tmp_path / "cache", **overrides)
        app = build_app(settings, load(WriterSettings, database_url=db, write_interval_ms=200))
        client = TestClient(TestServer(app, host="127.0.0.1"))
        clients.append(client)
        await client.start_server()

        async def ready() -> bool:
            r = await client.get("/health/ready")
            assert r.status == 200
            return True

        await eventually_async(ready, timeout=30)
        token = await Api(client, None, {}).login(ADMIN_EMAIL, ADMIN_PASSWORD)  # type: ignore[arg-type]
        return Api(client, None, Api.auth_header(token))  # type: ignore[arg-type]

    yield make
    for c in clients:
        await c.close()


async def closed_with(ws: Any, timeout: float = 5.0) -> tuple[int, str]:
    msg = await ws.receive(timeout=timeout)
    assert msg.type == WSMsgType.CLOSE, msg
    return msg.data, msg.extra


async def messages(ws: Any, n: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    out = []
    async with asyncio.timeout(timeout):
        while len(out) < n:
            msg = await ws.receive()
            assert msg.type == WSMsgType.TEXT, msg
            out.append(json.loads(msg.data))
    return out


async def metrics_text(api: Api) -> str:
    """GET /metrics with the process's operator token (it answers to nothing else)."""
    token = api.client.server.app[OPERATOR].value
    r = await api.client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert r.status == 200, await r.text()
    return await r.text()


async def order(api: Api, headers: dict[str, str], product_id: str, qty: int = 1) -> dict[str, Any]:
    r = await api.client.post("/orders", json={"lines": [{"product_id": product_id, "quantity": qty}]},
                              headers=headers)
    assert r.status == 201, await r.text()
    return await r.json()


async def test_refusals_are_close_frames_with_codes_and_reasons(shop: Shop) -> None:
    api = await shop()
    user = await api.signup()
    token = user.headers["Authorization"].split()[1]
    expired = Tokens(api.client.server.app[SETTINGS].token_secret, -10).issue(user.id)[0]
    cases = [
        ("/ws", {}, 4401, "Bearer"),
        ("/ws?token=not-a-token", {}, 4401, "invalid token"),
        ("/ws", {"Authorization": f"Bearer {expired}"}, 4401, "token expired"),
        (f"/ws?token={token}&after=garbage", {}, 4400, "not a cursor this server issued"),
        (f"/ws?token={token}&after=1.l00000000.0", {}, 4410, "another change stream"),
    ]
    for path, headers, code, reason in cases:
        async with api.client.ws_connect(path, headers=headers) as ws:
            got = await closed_with(ws)
            assert got[0] == code and reason in got[1], (path, got)
    r = await api.client.get("/ws", headers=user.headers)  # not an upgrade
    assert r.status == 426 and r.content_type == "application/problem+json"
    assert (await r.json())["title"] == "Upgrade required"


async def test_a_browser_sends_its_token_as_a_subprotocol_and_keeps_it_out_of_the_url(
        shop: Shop, caplog: pytest.LogCaptureFixture) -> None:
    # what `new WebSocket(url, ["spacegrid.live", "spacegrid.token." + token])` sends
    api = await shop()
    user = await api.signup()
    product = await api.product(stock=5)
    token = user.headers["Authorization"].split()[1]
    async with api.client.ws_connect("/ws", protocols=("spacegrid.live", f"spacegrid.token.{token}")) as ws:
        assert ws.protocol == "spacegrid.live"  # the token is not echoed back
        assert (await messages(ws, 1))[0]["type"] == "ready"
        placed = await order(api, user.headers, product["id"])
        assert (await messages(ws, 1))[0]["order"]["id"] == placed["id"]
    # offered alone, the token's subprotocol is accepted (a browser fails a handshake that
    # answers none of its offers) and never written to a log
    with caplog.at_level("DEBUG"):
        async with api.client.ws_connect("/ws", protocols=(f"spacegrid.token.{token}",)) as ws:
            assert (await messages(ws, 1))[0]["type"] == "ready"
    assert token not in caplog.text
    async with api.client.ws_connect("/ws", protocols=("spacegrid.live", "spacegrid.token.forged")) as ws:
        code, reason = await closed_with(ws)
        assert (code, "invalid token" in reason) == (4401, True), reason
    async with api.client.ws_connect("/ws", protocols=("spacegrid.live",)) as ws:
        code, reason = await closed_with(ws)
        assert code == 4401 and "spacegrid.token.<token>" in reason, reason


async def test_a_users_order_changes_arrive_in_order_after_ready(shop: Shop) -> None:
    api = await shop()
    alice, bob = await api.signup(), await api.signup()
    product = await api.product(stock=50)
    token = alice.headers["Authorization"].split()[1]
    async with api.client.ws_connect(f"/ws?token={token}") as a, api.client.ws_connect("/ws", headers=bob.headers) as b:
        assert (await messages(a, 1))[0]["type"] == "ready"
        assert (await messages(b, 1))[0]["type"] == "ready"
        placed = await order(api, alice.headers, product["id"], 2)
        r = await api.client.post(f"/orders/{placed['id']}/payment", json={"amount_cents": placed["total_cents"]},
                                  headers=alice.headers)
        assert r.status == 200, await r.text()
        r = await api.client.post(f"/orders/{placed['id']}/cancel", headers=alice.headers)
        assert r.status == 200, await r.text()
        got: list[dict[str, Any]] = []

        async def statuses() -> bool:
            got.extend(await messages(a, 1, timeout=5))
            assert [m["order"]["status"] for m in got][-1] == "cancelled" and len({m["order"]["status"] for m in got}) == 3
            return True

        await eventually_async(statuses, timeout=15, interval=0)
        assert all(m["type"] == "order" and m["order"]["id"] == placed["id"] for m in got)
        distinct = [s for i, s in enumerate(m["order"]["status"] for m in got) if i == 0 or got[i - 1]["order"]["status"] != s]
        assert distinct == ["placed", "paid", "cancelled"]
        versions = [m["order"]["version"] for m in got]
        assert versions == sorted(versions) and len(set(versions)) == len(versions)
        with pytest.raises(asyncio.TimeoutError):
            await b.receive(timeout=0.5)  # nothing of alice's for bob


async def test_an_admin_gets_stock_low_when_an_order_drains_a_product(shop: Shop) -> None:
    api = await shop()
    shopper = await api.signup()
    product = await api.product(stock=7)
    async with api.client.ws_connect("/ws", headers=api.admin) as admin, \
            api.client.ws_connect("/ws", headers=shopper.headers) as mine:
        await messages(admin, 1)
        await messages(mine, 1)
        await order(api, shopper.headers, product["id"], 1)  # 6: not low yet
        await order(api, shopper.headers, product["id"], 2)  # 4: low
        alerts = [m for m in await messages(admin, 1)]
        assert alerts[0]["type"] == "stock_low"
        assert alerts[0]["product"] == {"id": product["id"], "sku": product["sku"], "name": "Thing", "stock": 4}
        assert [m["type"] for m in await messages(mine, 2)] == ["order", "order"]  # no alert for shoppers


async def test_reconnecting_with_the_last_cursor_gets_the_missed_messages_once(shop: Shop) -> None:
    api = await shop()
    user = await api.signup()
    product = await api.product(stock=100)
    async with api.client.ws_connect("/ws", headers=user.headers) as ws:
        cursor = (await messages(ws, 1))[0]["cursor"]
        first = await order(api, user.headers, product["id"])
        got = await messages(ws, 1)
        assert got[0]["order"]["id"] == first["id"]
        cursor = got[0]["cursor"]
    missed = [await order(api, user.headers, product["id"]) for _ in range(3)]
    hub = api.client.server.app[LIVE]

    async def shipped_while_away() -> bool:
        assert hub.kept >= 4
        return True

    await eventually_async(shipped_while_away, timeout=10)
    async with api.client.ws_connect(f"/ws?after={cursor}", headers=user.headers) as ws:
        got = await messages(ws, 4)
        assert [m["type"] for m in got] == ["order"] * 3 + ["ready"]
        assert sorted(m["order"]["id"] for m in got[:3]) == sorted(o["id"] for o in missed)  # once each
        with pytest.raises(asyncio.TimeoutError):
            await ws.receive(timeout=0.5)


async def test_sockets_are_limited_per_user_and_per_unit(shop: Shop) -> None:
    api = await shop(ws_max_per_user=2, ws_max_connections=3)
    alice, bob = await api.signup(), await api.signup()
    open_ = [await api.client.ws_connect("/ws", headers=alice.headers) for _ in range(2)]
    for ws in open_:
        assert (await messages(ws, 1))[0]["type"] == "ready"
    async with api.client.ws_connect("/ws", headers=alice.headers) as third:
        assert await closed_with(third) == (4429, "at most 2 sockets per user")
    open_.append(await api.client.ws_connect("/ws", headers=bob.headers))
    async with api.client.ws_connect("/ws", headers=bob.headers) as fourth:
        code, reason = await closed_with(fourth)
        assert code == 1013 and "maximum of 3 sockets" in reason
    for ws in open_:
        await ws.close()


async def test_heartbeats_and_a_silent_client_is_closed(shop: Shop) -> None:
    api = await shop(ws_heartbeat_s=0.5)
    user = await api.signup()
    async with api.client.ws_connect("/ws", headers=user.headers, autoping=False) as ws:
        assert (await messages(ws, 1))[0]["type"] == "ready"
        assert (await ws.receive(timeout=3)).type == WSMsgType.PING  # never answered
        msg = await ws.receive(timeout=5)
        while msg.type == WSMsgType.PING:
            msg = await ws.receive(timeout=5)
        assert msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.ERROR)


async def test_a_reader_that_never_reads_is_closed_while_others_keep_receiving(shop: Shop) -> None:
    api = await shop(ws_queue=8, ws_max_per_user=4, ws_heartbeat_s=300, max_open_orders=0)
    user = await api.signup()
    product = await api.product(stock=100_000)
    server = api.client.server
    token = user.headers["Authorization"].split()[1]
    stalled = await asyncio.to_thread(connect_never_reading, "127.0.0.1", server.port, f"/ws?token={token}")
    async with api.client.ws_connect("/ws", headers=user.headers) as ws:
        await messages(ws, 1)
        placed = 0

        async def slow_one_closed() -> bool:
            nonlocal placed
            for _ in range(20):
                await order(api, user.headers, product["id"])
                placed += 1
            await messages(ws, 20)  # the reading socket keeps up
            text = await metrics_text(api)
            assert 'spacegrid_ws_closed_total{code="1013"} 1.0' in text
            return True

        await eventually_async(slow_one_closed, timeout=90, interval=0)
        assert await asyncio.to_thread(closed_by_peer, stalled)
        text = await metrics_text(api)
        dropped = next(float(line.split()[1]) for line in text.splitlines()
                       if line.startswith("spacegrid_ws_messages_dropped_total"))
        assert dropped >= 1
        assert "spacegrid_ws_connections 1.0" in text
        for _ in range(3):  # the reading socket still gets everything
            await order(api, user.headers, product["id"])
        assert [m["type"] for m in await messages(ws, 3)] == ["order"] * 3
    stalled.close()


async def test_metrics_count_sockets_messages_and_delay(shop: Shop) -> None:
    api = await shop()
    user = await api.signup()
    product = await api.product(stock=10)
    async with api.client.ws_connect("/ws", headers=user.headers) as ws:
        await messages(ws, 1)
        await order(api, user.headers, product["id"])
        await messages(ws, 1)
        text = await metrics_text(api)
    assert "spacegrid_ws_connections 1.0" in text
    assert 'spacegrid_ws_messages_sent_total{type="order"} 1.0' in text
    assert 'spacegrid_ws_messages_sent_total{type="ready"} 1.0' in text
    assert "spacegrid_ws_notification_delay_seconds_count 1.0" in text


async def test_shutdown_closes_every_socket_with_1001(shop: Shop) -> None:
    api = await shop()
    user = await api.signup()
    ws = await api.client.ws_connect("/ws", headers=user.headers)
    assert (await messages(ws, 1))[0]["type"] == "ready"
    closing = asyncio.create_task(api.client.server.close())
    assert await closed_with(ws, timeout=10) == (1001, "the unit is shutting down")
    await closing
