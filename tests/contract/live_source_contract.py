"""The change-source port's contract (processing_unit/live/source.py) with the live hub on top.

``LiveSourceContract`` is not collected by itself; each adapter's test module subclasses it
and provides ``stream``: a :class:`Stream` whose ``source()`` is a fresh adapter reading the
test's own stream and whose ``publish(event)`` puts a change event on it the way the pump
does (keyed by entity id). What is asserted is what a socket would be sent.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any, AsyncIterator, Awaitable, Callable, Protocol

import pytest

from grid_config.events import ChangeEvent
from processing_unit.live.cursor import CursorTooOld, MalformedCursor
from processing_unit.live.hub import TOO_MANY_FOR_USER, TRY_AGAIN, LiveHub, Refused, Subscriber
from processing_unit.live.source import ChangeSource
from tests.support.eventually import eventually_async


class Stream(Protocol):
    #: whether two sources can read one stream (Kafka: yes; the in-process channel: one reader)
    shared: bool

    def source(self) -> ChangeSource: ...

    async def publish(self, event: ChangeEvent) -> None: ...

    async def publish_all(self, events: list[ChangeEvent]) -> None:
        """All of ``events`` at once (sent together, then acknowledged): a backlog."""


HubFactory = Callable[..., Awaitable[LiveHub]]


def order_event(order_id: str, user_id: str, status: str, version: int) -> ChangeEvent:
    state = {"id": order_id, "user_id": user_id, "status": status, "lines": [{"product_id": "1", "quantity": 1,
             "price_cents": 100}], "total_cents": 100, "version": version, "attempt": "a1", "placed_at_ms": 1}
    return ChangeEvent("orders", "upsert", order_id, version, state, request_id=f"r-{order_id}-{version}")


def product_event(product_id: str, stock: int, version: int) -> ChangeEvent:
    state = {"id": product_id, "sku": f"SKU-{product_id}", "name": "Thing", "category": "c", "price_cents": 100,
             "stock": stock, "version": version}
    return ChangeEvent("products", "upsert", product_id, version, state)


async def take(sub: Subscriber, n: int, timeout: float = 20.0) -> list[dict[str, Any]]:
    """The next ``n`` messages of ``sub``, decoded (fails at the deadline)."""
    out = []
    async with asyncio.timeout(timeout):
        for _ in range(n):
            text, _, _ = await sub.next()
            out.append(json.loads(text))
    return out


async def nothing_more(sub: Subscriber, wait_s: float = 0.5) -> None:
    await asyncio.sleep(wait_s)
    assert not sub.queue, [m for m in sub.queue]


def uid() -> str:
    return str(uuid.uuid4().int % 10**15 + 10**15)


class LiveSourceContract:
    @pytest.fixture
    async def hub_factory(self, stream: Stream) -> AsyncIterator[HubFactory]:
        tasks: list[asyncio.Task] = []

        async def make(**kwargs: Any) -> LiveHub:
            hub = LiveHub(**kwargs)
            tasks.append(asyncio.create_task(stream.source().run(hub)))
            await eventually_async(lambda: _true(hub.started), timeout=60)
            return hub

        yield make
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def test_every_change_of_a_users_orders_reaches_that_user_only_in_order(
        self, stream: Stream, hub_factory: HubFactory
    ) -> None:
        hub = await hub_factory()
        alice, bob = uid(), uid()
        a, b = hub.subscribe(alice, admin=False), hub.subscribe(bob, admin=False)
        assert [m["type"] for m in await take(a, 1)] == ["ready"]
        await take(b, 1)
        order = uid()
        for version, status in enumerate(("placed", "paid", "cancelled"), start=1):
            await stream.publish(order_event(order, alice, status, version))
        got = await take(a, 3)
        assert [(m["type"], m["order"]["id"], m["order"]["status"]) for m in got] == [
            ("order", order, "placed"), ("order", order, "paid"), ("order", order, "cancelled")]
        assert set(got[0]["order"]) == {"id", "user_id", "status", "lines", "total_cents", "version"}
        assert all(m["cursor"] and m["changed_at"] for m in got)
        await nothing_more(b)

    async def test_stock_low_goes_to_admins_when_stock_falls_to_the_threshold(
        self, stream: Stream, hub_factory: HubFactory
    ) -> None:
        hub = await hub_factory(low_stock=5)
        admin, shopper = hub.subscribe(uid(), admin=True), hub.subscribe(uid(), admin=False)
        await take(admin, 1)
        await take(shopper, 1)
        pid = uid()
        for version, stock in enumerate((9, 6, 5, 4, 8, 2), start=1):
            await stream.publish(product_event(pid, stock, version))
        got = await take(admin, 2)
        assert [(m["type"], m["product"]) for m in got] == [
            ("stock_low", {"id": pid, "sku": f"SKU-{pid}", "name": "Thing", "stock": 5}),
            ("stock_low", {"id": pid, "sku": f"SKU-{pid}", "name": "Thing", "stock": 2}),
        ]
        await nothing_more(admin)
        await nothing_more(shopper, 0)

    async def test_reconnect_after_a_cursor_gets_every_missed_message_once_in_order(
        self, stream: Stream, hub_factory: HubFactory
    ) -> None:
        hub = await hub_factory()
        user = uid()
        first = hub.subscribe(user, admin=False)
        await take(first, 1)
        orders = [uid() for _ in range(6)]
        for o in orders[:2]:
            await stream.publish(order_event(o, user, "placed", 1))
        seen = await take(first, 2)
        cursor = seen[-1]["cursor"]
        hub.unsubscribe(first)
        for o in orders[2:5]:  # missed while away
            await stream.publish(order_event(o, user, "placed", 1))
            await stream.publish(order_event(o, user, "paid", 2))
        await eventually_async(lambda: _true(hub.kept >= 8))
        again = hub.subscribe(user, admin=False, after=cursor)
        await stream.publish(order_event(orders[5], user, "placed", 1))  # live, after the replay
        got = await take(again, 8)
        assert [m["type"] for m in got] == ["order"] * 6 + ["ready", "order"]
        replayed = [(m["order"]["id"], m["order"]["status"]) for m in got[:6]]
        # once each; in order per order (orders in different partitions may interleave)
        assert sorted(replayed) == sorted((o, s) for o in orders[2:5] for s in ("placed", "paid"))
        for o in orders[2:5]:
            assert [s for i, s in replayed if i == o] == ["placed", "paid"]
        assert (got[7]["order"]["id"], got[7]["order"]["status"]) == (orders[5], "placed")
        await nothing_more(again)
        # the cursor of the last message leaves nothing to repeat
        hub.unsubscribe(again)
        last = hub.subscribe(user, admin=False, after=got[-1]["cursor"])
        assert [m["type"] for m in await take(last, 1)] == ["ready"]
        await nothing_more(last)

    async def test_a_cursor_of_another_hub_on_the_same_stream_is_served_without_repeats(
        self, stream: Stream, hub_factory: HubFactory
    ) -> None:
        if not stream.shared:
            pytest.skip("this adapter's stream has one reader per process")
        one, two = await hub_factory(), await hub_factory()
        user = uid()
        a = one.subscribe(user, admin=False)
        await take(a, 1)
        orders = [uid() for _ in range(4)]
        for o in orders[:2]:
            await stream.publish(order_event(o, user, "placed", 1))
        cursor = (await take(a, 2))[-1]["cursor"]
        for o in orders[2:]:
            await stream.publish(order_event(o, user, "placed", 1))
        await eventually_async(lambda: _true(two.kept >= 4))
        b = two.subscribe(user, admin=False, after=cursor)
        got = await take(b, 3)
        assert sorted(m["order"]["id"] for m in got[:2]) == sorted(orders[2:]) and got[2]["type"] == "ready"

    async def test_garbage_foreign_and_too_old_cursors_are_refused(
        self, stream: Stream, hub_factory: HubFactory
    ) -> None:
        hub = await hub_factory(retention_events=10)
        user = uid()
        for bad in ("garbage", "1", "1.x", "2.abc.0", "1.a b.0", "1." + hub.stream + ".-1", "1." + hub.stream + ".0.0.0.0.0.0.0.0.0.0.0.0.0.0.0",
                    "1." + hub.stream + "." + "z" * 3000):
            with pytest.raises(MalformedCursor):
                hub.subscribe(user, admin=False, after=bad)
        lanes = len(hub.position() or ())
        with pytest.raises(CursorTooOld):
            hub.subscribe(user, admin=False, after=".".join(["1", "k00000000", *["0"] * lanes]))
        sub = hub.subscribe(user, admin=False)
        early = (await take(sub, 1))[0]["cursor"]
        for i in range(12):  # more than the hub keeps
            await stream.publish(order_event(uid(), user, "placed", 1))
        await take(sub, 12)
        with pytest.raises(CursorTooOld):
            hub.subscribe(user, admin=False, after=early)
        assert hub.connections == 1  # refusals hold nothing

    async def test_a_socket_that_does_not_read_is_closed_and_its_messages_dropped(
        self, stream: Stream, hub_factory: HubFactory
    ) -> None:
        dropped: list[int] = []
        hub = await hub_factory(queue_size=3, on_drop=lambda: dropped.append(1))
        user = uid()
        slow, fast = hub.subscribe(user, admin=False), hub.subscribe(user, admin=False)
        await take(fast, 1)
        for _ in range(5):  # the fast one reads each message as it comes
            await stream.publish(order_event(uid(), user, "placed", 1))
            assert len(await take(fast, 1)) == 1
        await eventually_async(lambda: _true(slow.closing is not None))
        assert slow.closing is not None and slow.closing[0] == TRY_AGAIN and "too slow" in slow.closing[1]
        assert len(dropped) == 1 and slow.live_pending == 3  # the one that overflowed; then it is closing

    async def test_a_burst_for_one_socket_is_not_taken_for_a_client_too_slow_to_read(
        self, stream: Stream, hub_factory: HubFactory
    ) -> None:
        """A backlog the source reads in one go (a pump catching up) reaches a socket that
        reads as messages come, whole, although it is far longer than the socket's queue."""
        hub = await hub_factory(queue_size=20)
        user = uid()
        sub = hub.subscribe(user, admin=False)
        await take(sub, 1)
        reading = asyncio.create_task(take(sub, 300, timeout=60))
        orders = [uid() for _ in range(300)]
        await stream.publish_all([order_event(o, user, "placed", 1) for o in orders])
        got = await reading
        assert sub.closing is None
        assert sorted(m["order"]["id"] for m in got) == sorted(orders)

    async def test_sockets_are_limited_per_unit_and_per_user(self, stream: Stream, hub_factory: HubFactory) -> None:
        hub = await hub_factory(max_connections=3, max_per_user=2)
        alice = uid()
        subs = [hub.subscribe(alice, admin=False) for _ in range(2)]
        with pytest.raises(Refused) as per_user:
            hub.subscribe(alice, admin=False)
        assert per_user.value.code == TOO_MANY_FOR_USER
        subs.append(hub.subscribe(uid(), admin=False))
        with pytest.raises(Refused) as per_unit:
            hub.subscribe(uid(), admin=False)
        assert per_unit.value.code == TRY_AGAIN and "maximum of 3" in per_unit.value.reason
        hub.unsubscribe(subs[0])
        hub.subscribe(alice, admin=False)  # a freed slot is usable again


async def _true(value: bool) -> bool:
    assert value
    return True
