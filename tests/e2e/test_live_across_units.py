"""Issue 13 acceptance: live messages across `spacegrid unit` processes, with the real pump and Kafka.

Two units on the session's 3-member cluster, a `spacegrid pump` shipping the test's
namespace to the session's broker; each unit reads the entity topics for its sockets.
What is asserted is what the sockets receive. The delivery delay (a change's
``changed_at`` to the message's arrival at the client, one clock) is printed; the target
p99 <= 250 ms is reported, not asserted (2 shared cores: see docs/benchmarks.md §9): over
500 orders placed 8 at a time as fast as the shop answers (the machine saturated), then
over 500 at each of two offered rates below that.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import statistics
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any, AsyncIterator, Iterator

import aiohttp
import pytest
from aiohttp import WSMsgType

from tests.e2e.conftest import start_pump
from tests.support.engines import BrokerHandle, ClusterHandle
from tests.support.eventually import eventually_async
from tests.support.raw_ws import closed_by_peer, connect_never_reading
from tests.support.workers import WorkerProcess
from tools.local.processes import free_ports
from tools.local.units import LOAD_ENV, UnitProcess, start_units, stop_units
from tests.support.shop_http import post, sign_in
from tools.bench.results import percentile

pytestmark = pytest.mark.timeout(420)

ADMIN = ("admin@live.invalid", "live-admin-password")
TIMEOUT = aiohttp.ClientTimeout(total=30)


@pytest.fixture
def live_env(hazelcast_cluster: ClusterHandle, kafka_broker: BrokerHandle, namespace: str) -> dict[str, str]:
    return {
        **hazelcast_cluster.settings_env,
        **kafka_broker.settings_env,
        **LOAD_ENV,
        "SPACEGRID_NAMESPACE": namespace,
        "SPACEGRID_TOKEN_SECRET": secrets.token_urlsafe(32),
        "SPACEGRID_OPERATOR_TOKEN": secrets.token_urlsafe(32),  # GET /metrics answers to it only
        "SPACEGRID_BOOTSTRAP_ADMIN": f"{ADMIN[0]}:{ADMIN[1]}",
        "SPACEGRID_LOGIN_MAX_FAILURES": "1000",
    }


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[tuple[list[UnitProcess], list[WorkerProcess]]]:
    units: list[UnitProcess] = []
    pumps: list[WorkerProcess] = []
    yield units, pumps
    stop_units(units, timeout=20)
    for p in pumps:
        p.stop()


def start_shop(env: dict[str, str], count: int, tmp_path: Path, kafka: str, cluster_env: dict[str, str],
               processes: tuple[list[UnitProcess], list[WorkerProcess]]) -> list[str]:
    units, pumps = processes
    pumps.append(start_pump(cluster_env, kafka, env["SPACEGRID_NAMESPACE"], tmp_path / "logs"))
    units.extend(start_units(env, free_ports(count), tmp_path / "logs"))
    return [u.url for u in units]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=TIMEOUT, connector=aiohttp.TCPConnector(limit=0)) as s:
        yield s


async def shopper(http: aiohttp.ClientSession, base: str) -> tuple[str, str]:
    email = f"live-{uuid.uuid4().hex[:8]}@live.invalid"
    status, body = await post(http, f"{base}/users", {"email": email, "name": "L", "password": "live-shopper-pw"})
    assert status == 201, body
    return body["id"], await sign_in(http, base, email, "live-shopper-pw")


async def product(http: aiohttp.ClientSession, base: str, admin: str, stock: int) -> dict[str, Any]:
    status, body = await post(http, f"{base}/products", {"sku": f"L-{uuid.uuid4().hex[:10]}", "name": "Lamp",
                                                         "category": "live", "price_cents": 100, "stock": stock}, admin)
    assert status == 201, body
    return body


REFUSED_503: list[int] = []


async def place(http: aiohttp.ClientSession, base: str, token: str, lines: list[tuple[str, int]]) -> dict[str, Any]:
    """Place an order; a 503 (journals at their bound, G7) is retried as a client would."""
    for _ in range(50):
        status, body = await post(http, f"{base}/orders",
                                  {"lines": [{"product_id": p, "quantity": q} for p, q in lines]}, token)
        if status != 503:
            break
        REFUSED_503.append(1)
        await asyncio.sleep(0.2)
    assert status == 201, body
    return body


class Socket:
    """One client socket and everything it received (a reader task appends as messages come)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.got: list[tuple[float, dict[str, Any]]] = []
        self.closed: tuple[int, str] | None = None
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type == WSMsgType.TEXT:
                self.got.append((time.time(), json.loads(msg.data)))
        self.closed = (self.ws.close_code or 0, "")

    def orders(self) -> list[dict[str, Any]]:
        return [m["order"] for _, m in self.got if m["type"] == "order"]

    @property
    def cursor(self) -> str:
        return self.got[-1][1]["cursor"]

    async def close(self) -> None:
        await self.ws.close()
        await asyncio.gather(self.task, return_exceptions=True)


async def connect(http: aiohttp.ClientSession, base: str, token: str, after: str | None = None,
                  timeout: float = 60) -> Socket:
    """A socket past its ``ready`` message; retried while the unit's stream is not connected (1013)."""
    url = f"{base}/ws?token={token}" + (f"&after={after}" if after else "")
    deadline = time.monotonic() + timeout
    while True:
        ws = await http.ws_connect(url, heartbeat=None)
        sock = Socket(ws)

        async def ready() -> bool:
            assert sock.closed is not None or any(m["type"] == "ready" for _, m in sock.got)
            return True

        await eventually_async(ready, timeout=30, interval=0.05)
        if sock.closed is None:
            return sock
        assert sock.closed[0] == 1013 and time.monotonic() < deadline, sock.closed
        await asyncio.sleep(0.5)


async def wait_for(check: Any, timeout: float = 60) -> None:
    async def ok() -> bool:
        assert check()
        return True

    await eventually_async(ok, timeout=timeout, interval=0.05)


def statuses(orders: list[dict[str, Any]]) -> list[str]:
    out: list[str] = []
    for o in orders:
        if not out or out[-1] != o["status"]:
            out.append(o["status"])
    return out


def delay_ms(arrived_at: float, message: dict[str, Any]) -> float:
    """A message's delivery delay: its change's ``changed_at`` to its arrival (one clock)."""
    return (arrived_at - datetime.fromisoformat(message["changed_at"].replace("Z", "+00:00")).timestamp()) * 1000


async def arrived_once_each(sock: Socket, before: int, placed: list[str]) -> list[tuple[float, dict[str, Any]]]:
    """Waits until every order placed has reached ``sock`` (after its ``before``-th
    message); the order messages that came, each order exactly once."""
    await wait_for(lambda: {o["id"] for o in sock.orders()} >= set(placed), timeout=120)
    fresh = [(at, m) for at, m in sock.got[before:] if m["type"] == "order"]
    assert sorted(m["order"]["id"] for _, m in fresh) == sorted(placed)  # once each
    return fresh


async def place_at_rate(http: aiohttp.ClientSession, units: tuple[str, ...], token: str,
                        products: list[dict[str, Any]], count: int, per_s: float) -> list[str]:
    """``count`` one-line orders, the i-th due ``i / per_s`` s after the start, over the units."""
    start = time.monotonic()

    async def due(i: int) -> str:
        await asyncio.sleep(max(0.0, start + i / per_s - time.monotonic()))
        return (await place(http, units[i % len(units)], token, [(products[i % len(products)]["id"], 1)]))["id"]

    return await asyncio.gather(*(due(i) for i in range(count)))


async def record_times(bootstrap: str, namespace: str, order_ids: set[str]) -> dict[str, float]:
    """When the pump sent each order's first record (epoch ms, the record's timestamp)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from grid_config.names import Names

    topic = Names(namespace).topic("orders")
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()  # noqa: SLF001 (topic metadata, once)
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        found: dict[str, float] = {}
        deadline = time.monotonic() + 60
        while len(found) < len(order_ids) and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for r in records:
                    event = json.loads(r.value)
                    if event["id"] in order_ids and event["version"] == 1:
                        found.setdefault(event["id"], float(r.timestamp))
        return found
    finally:
        await consumer.stop()


async def test_orders_and_stock_alerts_cross_units_in_order_with_the_delivery_delay(
    live_env: dict[str, str], hazelcast_cluster: ClusterHandle, kafka_broker: BrokerHandle, tmp_path: Path,
    processes: tuple[list[UnitProcess], list[WorkerProcess]], http: aiohttp.ClientSession,
) -> None:
    a, b = start_shop(live_env, 2, tmp_path, kafka_broker.bootstrap, hazelcast_cluster.settings_env, processes)
    admin = await sign_in(http, a, *ADMIN)
    user_id, token = await shopper(http, a)
    on_b = await connect(http, b, token)
    admin_on_a = await connect(http, a, admin)

    # placed, paid, cancelled through unit A; seen on unit B, in order
    p = await product(http, a, admin, 1000)
    order = await place(http, a, token, [(p["id"], 2)])
    assert (await post(http, f"{a}/orders/{order['id']}/payment", {"amount_cents": order["total_cents"]}, token))[0] == 200
    assert (await post(http, f"{a}/orders/{order['id']}/cancel", None, token))[0] == 200
    await wait_for(lambda: statuses([o for o in on_b.orders() if o["id"] == order["id"]]) == ["placed", "paid", "cancelled"])
    quiet = [round(delay_ms(at, m), 1) for at, m in on_b.got if m["type"] == "order"]
    print(f"\nlive delivery delay of the first changes after the processes started (ms): {quiet}")
    versions = [o["version"] for o in on_b.orders() if o["id"] == order["id"]]
    assert versions == sorted(set(versions))
    assert all(o["user_id"] == user_id for o in on_b.orders())

    # an order through unit B drains a product: the admin on unit A hears of it
    scarce = await product(http, a, admin, 6)
    await place(http, b, token, [(scarce["id"], 3)])
    await wait_for(lambda: any(m["type"] == "stock_low" and m["product"]["id"] == scarce["id"] for _, m in admin_on_a.got))
    alert = next(m for _, m in admin_on_a.got if m["type"] == "stock_low")
    assert alert["product"] == {"id": scarce["id"], "sku": scarce["sku"], "name": "Lamp", "stock": 3}
    assert not [m for _, m in on_b.got if m["type"] == "stock_low"]

    # 500 orders through both units, 8 at a time, over 20 products: every one arrives once
    # on B; the delay
    spread = [await product(http, a, admin, 1000) for _ in range(20)]
    before = len(on_b.got)
    sem = asyncio.Semaphore(8)

    async def one(i: int) -> str:
        async with sem:
            return (await place(http, (a, b)[i % 2], token, [(spread[i % 20]["id"], 1)]))["id"]

    placed = await asyncio.gather(*(one(i) for i in range(500)))
    fresh = await arrived_once_each(on_b, before, placed)
    delays_ms = [delay_ms(at, m) for at, m in fresh]
    p50, p99 = statistics.median(delays_ms), percentile(delays_ms, 99)
    verdict = "met" if p99 <= 250 else "NOT MET"
    print(f"\nlive delivery delay over {len(delays_ms)} orders placed 8 at a time as fast as answered, "
          f"the machine saturated (changed_at -> client): "
          f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {max(delays_ms):.1f} ms; target p99 <= 250 ms: {verdict} "
          f"({len(REFUSED_503)} placements answered 503 and retried)")
    # where the time goes: write -> Kafka (the pump; the record's timestamp is when the pump
    # sent it) and Kafka -> client (the unit's reader, the hub, the socket)
    sent_at = await record_times(kafka_broker.bootstrap, live_env["SPACEGRID_NAMESPACE"], set(placed))
    pump_ms = [sent_at[m["order"]["id"]] - (at - d / 1000) * 1000 for (at, m), d in zip(fresh, delays_ms)]
    rest_ms = [d - pm for d, pm in zip(delays_ms, pump_ms)]
    print(f"  of which write -> Kafka (pump): p50 {statistics.median(pump_ms):.1f} ms, p99 {percentile(pump_ms, 99):.1f} ms; "
          f"Kafka -> client (unit): p50 {statistics.median(rest_ms):.1f} ms, p99 {percentile(rest_ms, 99):.1f} ms")
    assert p99 < 5000, "delivery is broken, not just slow"
    # the same at offered rates below what the shop answers 8 at a time (open loop: every
    # order is due at its time, whatever the answers do): the delay when the machine is
    # not saturated
    for rate in (100, 200):
        before = len(on_b.got)
        paced = await place_at_rate(http, (a, b), token, spread, count=500, per_s=rate)
        paced_ms = [delay_ms(at, m) for at, m in await arrived_once_each(on_b, before, paced)]
        paced_p99 = percentile(paced_ms, 99)
        print(f"  at {rate} orders/s offered (500 orders): p50 {statistics.median(paced_ms):.1f} ms, "
              f"p99 {paced_p99:.1f} ms, max {max(paced_ms):.1f} ms; "
              f"target p99 <= 250 ms: {'met' if paced_p99 <= 250 else 'NOT MET'}")
    # single changes on a warm, otherwise idle system
    idle = []
    for i in range(10):
        oid = (await place(http, a, token, [(spread[i]["id"], 1)]))["id"]
        await wait_for(lambda: oid in {o["id"] for o in on_b.orders()}, timeout=30)
        at, m = next((at, m) for at, m in on_b.got if m["type"] == "order" and m["order"]["id"] == oid)
        idle.append(round(delay_ms(at, m), 1))
        await asyncio.sleep(0.3)  # idle between changes on purpose: this measures the idle path
    print(f"  single changes on a warm idle system (ms): {idle}")
    await on_b.close()
    await admin_on_a.close()


async def test_reconnecting_on_the_other_unit_with_the_last_cursor_gets_every_missed_message_once(
    live_env: dict[str, str], hazelcast_cluster: ClusterHandle, kafka_broker: BrokerHandle, tmp_path: Path,
    processes: tuple[list[UnitProcess], list[WorkerProcess]], http: aiohttp.ClientSession,
) -> None:
    a, b = start_shop(live_env, 2, tmp_path, kafka_broker.bootstrap, hazelcast_cluster.settings_env, processes)
    admin = await sign_in(http, a, *ADMIN)
    _, token = await shopper(http, a)
    p = await product(http, a, admin, 1000)
    sock = await connect(http, b, token)
    first = await place(http, a, token, [(p["id"], 1)])
    await wait_for(lambda: [o["id"] for o in sock.orders()] == [first["id"]])
    cursor = sock.cursor
    await sock.close()

    missed = []
    for i in range(20):  # placed, and every other one paid, while away
        o = await place(http, a, token, [(p["id"], 1)])
        missed.append((o["id"], 1))
        if i % 2:
            assert (await post(http, f"{a}/orders/{o['id']}/payment", {"amount_cents": o["total_cents"]}, token))[0] == 200
            missed.append((o["id"], 2))
    later = await connect(http, a, token, after=cursor)  # the other unit
    await wait_for(lambda: len(later.orders()) >= len(missed))
    got = [(o["id"], o["version"]) for o in later.orders()]
    assert sorted(got) == sorted(missed)  # every missed message, once
    for oid in {o for o, _ in missed}:
        assert [v for o, v in got if o == oid] == sorted(v for o, v in missed if o == oid)  # in order per order
    # what had reached unit A's reader when the socket came is replayed before `ready`, the
    # rest follows live; together they are the list above, once each
    assert [m["type"] for _, m in later.got].count("ready") == 1
    # garbage, foreign and missing credentials on a real unit: close codes, never a 500
    for path, code in ((f"/ws?token={token}&after=1.zz.0", 4410), (f"/ws?token={token}&after=not-a-cursor", 4400),
                       ("/ws?token=nope", 4401), ("/ws", 4401)):
        async with http.ws_connect(a + path) as ws:
            msg = await ws.receive(timeout=10)
            assert msg.type == WSMsgType.CLOSE and msg.data == code, (path, msg)
    await later.close()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


#: the stated bound: 1,000 open sockets (and their traffic) add at most this much to a unit's RSS
SOCKETS = 1000
USERS = 20
RSS_GROWTH_BOUND_MB = 100.0  # ~100 KB per socket: the buffers each may hold (decision 0028)


async def test_a_thousand_sockets_on_one_unit_stay_bounded_and_a_stalled_reader_is_closed(
    live_env: dict[str, str], hazelcast_cluster: ClusterHandle, kafka_broker: BrokerHandle, tmp_path: Path,
    processes: tuple[list[UnitProcess], list[WorkerProcess]], http: aiohttp.ClientSession,
) -> None:
    env = {**live_env, "SPACEGRID_WS_MAX_PER_USER": str(SOCKETS // USERS), "SPACEGRID_WS_QUEUE": "16",
           "SPACEGRID_WS_HEARTBEAT_S": "300"}  # the stalled reader must be closed by its queue, not a ping
    (base,) = start_shop(env, 1, tmp_path, kafka_broker.bootstrap, hazelcast_cluster.settings_env, processes)
    unit = processes[0][0]
    admin = await sign_in(http, base, *ADMIN)
    users = [await shopper(http, base) for _ in range(USERS)]
    products = [await product(http, base, admin, 100_000) for _ in range(15)]
    await place(http, base, users[0][1], [(products[0]["id"], 1)])  # warm: every path once
    rss_before = rss_mb(unit.pid)

    async def metrics() -> str:
        async with http.get(f"{base}/metrics", headers={"Authorization": f"Bearer {env['SPACEGRID_OPERATOR_TOKEN']}"}) as r:
            assert r.status == 200, await r.text()
            return await r.text()

    def closed_1013(text: str) -> float:
        return sum(float(line.split()[1]) for line in text.splitlines()
                   if line.startswith('spacegrid_ws_closed_total{code="1013"}'))

    await (await connect(http, base, users[1][1])).close()  # the unit reads the stream by now
    refused_before = closed_1013(await metrics())  # refusals while it was connecting (1013 too)
    port = int(base.rsplit(":", 1)[1])
    stalled = await asyncio.to_thread(connect_never_reading, "127.0.0.1", port, f"/ws?token={users[0][1]}")
    sockets: list[tuple[int, Socket]] = []
    sem = asyncio.Semaphore(50)

    async def open_one(i: int) -> None:
        u = i % USERS
        async with sem:
            sockets.append((u, await connect(http, base, users[u][1])))

    await asyncio.gather(*(open_one(i) for i in range(1, SOCKETS)))  # + the stalled one (user 0) = 1,000
    started = time.monotonic()

    # orders flow: user 0 places big orders (15 lines) and pays and cancels each (the stalled
    # socket's messages pile up); every other user places two
    expected: dict[int, set[str]] = {u: set() for u in range(USERS)}
    big = [(pr["id"], 1) for pr in products]
    stalled_closed = False
    for i in range(60):
        o = await place(http, base, users[0][1], big)
        expected[0].add(o["id"])
        await post(http, f"{base}/orders/{o['id']}/payment", {"amount_cents": o["total_cents"]}, users[0][1])
        await post(http, f"{base}/orders/{o['id']}/cancel", None, users[0][1])
        if i < 2 * (USERS - 1):
            u = 1 + i % (USERS - 1)
            expected[u].add((await place(http, base, users[u][1], [(products[1]["id"], 1)]))["id"])
        if i % 10 == 9 and closed_1013(await metrics()) - refused_before >= 1:
            stalled_closed = True
    rss_peak = rss_mb(unit.pid)

    async def everyone_received() -> bool:
        for u, s in sockets:
            assert {o["id"] for o in s.orders()} >= expected[u], (u, len(s.orders()))
        return True

    await eventually_async(everyone_received, timeout=120, interval=0.5)
    rss_after = rss_mb(unit.pid)
    text = await metrics()
    print(f"\n{SOCKETS} sockets: unit RSS {rss_before:.0f} MB before, {rss_peak:.0f} MB under load, "
          f"{rss_after:.0f} MB after delivery (bound: +{RSS_GROWTH_BOUND_MB:.0f} MB); "
          f"delivered to all {len(sockets)} reading sockets in {time.monotonic() - started:.1f} s")
    assert closed_1013(text) - refused_before == 1, (refused_before, closed_1013(text))  # the stalled one
    print(f"  the stalled socket was closed (1013) {'while' if stalled_closed else 'after'} orders flowed")
    assert any(line.startswith("spacegrid_ws_messages_dropped_total") and float(line.split()[1]) >= 1
               for line in text.splitlines())
    assert f"spacegrid_ws_connections {float(SOCKETS - 1)}" in text  # the stalled one is gone, the rest open
    assert await asyncio.to_thread(closed_by_peer, stalled)
    assert all(s.closed is None for _, s in sockets)
    assert max(rss_peak, rss_after) - rss_before <= RSS_GROWTH_BOUND_MB
    stalled.close()
    await asyncio.gather(*(s.close() for _, s in sockets))


async def test_sockets_work_through_the_load_balancer(
    shop_factory: Any, hazelcast_cluster: ClusterHandle, kafka_broker: BrokerHandle, http: aiohttp.ClientSession,
) -> None:
    """deploy/haproxy.cfg passes the upgrade; heartbeats (20 s) stay inside its 30 s idle timeouts."""
    from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD

    shop = shop_factory({**hazelcast_cluster.settings_env, **kafka_broker.settings_env}, 2)
    admin = await sign_in(http, shop.url, ADMIN_EMAIL, ADMIN_PASSWORD)
    _, token = await shopper(http, shop.url)
    sock = await connect(http, shop.url, token)
    p = await product(http, shop.url, admin, 10)
    placed = [(await place(http, shop.url, token, [(p["id"], 1)]))["id"] for _ in range(4)]  # over both units
    await wait_for(lambda: [o["id"] for o in sock.orders()] == placed or sorted(o["id"] for o in sock.orders()) == sorted(placed))
    await sock.close()
