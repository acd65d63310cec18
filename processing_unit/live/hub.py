"""The live hub: one reader of the change stream per unit, fanned out to its sockets.

Why in-process fan-out: a Kafka consumer per socket would cost a broker connection and
a fetch loop per browser tab; one reader per unit costs the same for 1 or 1,000 sockets.

* Every change of an order becomes an ``order`` message for its owner; a product whose
  stock goes from above ``low_stock`` to at or below it (or is first seen at or below it
  by this hub) becomes a ``stock_low`` message for admins.
* The hub keeps those messages for ``retention_s`` (at most ``retention_events`` of them),
  indexed by user, so a socket reconnecting with a cursor gets what it missed without
  reading the stream again. Messages nobody could want are never kept.
* A socket's queue is bounded: past ``queue_size`` undelivered live messages the socket is
  marked too slow (the route closes it with 1013) and the message is dropped for it.

Everything here runs on the event loop without awaiting, so a subscription (replay, then
live) is atomic with respect to ingestion: no message is lost or repeated between them.
"""

from __future__ import annotations

import asyncio
import heapq
from array import array
import itertools
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import orjson

from grid_config.events import ChangeEvent, parse_iso
from processing_unit.domain.orders import public_order
from processing_unit.live.cursor import Cursor, CursorTooOld, parse

#: products whose last stock the hub remembers (for the above -> at-or-below transition)
STOCK_MEMORY = 200_000


class Closing(Exception):
    """The hub gave up on this subscription (see :attr:`Subscriber.closing`)."""


class Refused(Exception):
    """A subscription the hub will not take; ``code`` and ``reason`` go into the close frame."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


#: close codes (besides the cursor's 4400 and 4410)
TRY_AGAIN = 1013
TOO_MANY_FOR_USER = 4429


@dataclass(frozen=True, slots=True)
class Item:
    """One message kept by the hub: an order change (``user_id`` set) or a stock alert."""

    seq: int
    lane: int
    offset: int
    user_id: str | None
    type: str
    head: str
    tail: str
    changed_at: float  # epoch seconds of the write
    at: float  # hub clock when ingested (retention)
    position: array  # the stream position just past this record (compact: kept per message)
    cursor: str

    def message(self, cursor: str) -> str:
        return self.head + cursor + self.tail


_HEADS = {t: '{"type":"' + t + '","cursor":"' for t in ("order", "stock_low")}


def ready_message(cursor: str) -> str:
    return '{"type":"ready","cursor":"' + cursor + '"}'


@dataclass(eq=False)
class Subscriber:
    """One socket's view: its position, its bounded queue, and why it must close (if so)."""

    hub: "LiveHub"
    user_id: str
    admin: bool
    position: list[int]
    max_pending: int
    #: (item or None for the ready marker, cursor text, live?)
    queue: deque = field(default_factory=deque)
    live_pending: int = 0
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    #: set when the hub gives up on this socket: (close code, reason)
    closing: tuple[int, str] | None = None
    gone: asyncio.Event = field(default_factory=asyncio.Event)

    def _cursor_for(self, item: Item) -> str:
        """Advance past ``item``: the item's own cursor unless ours is ahead somewhere."""
        pos = self.position
        if all(p <= q for p, q in zip(pos, item.position)):
            self.position = list(item.position)
            return item.cursor
        self.position = [max(p, q) for p, q in zip(pos, item.position)]
        return Cursor(self.hub.stream, tuple(self.position)).text()

    def _take(self, item: Item, live: bool) -> bool:
        """Queue ``item`` unless this socket has it already; False when the queue is full."""
        if item.offset < self.position[item.lane]:
            return True  # before our cursor: delivered already (or by another unit)
        if live and self.live_pending >= self.max_pending:
            return False
        self.queue.append((item, self._cursor_for(item), live))
        if live:
            self.live_pending += 1
        self.wake.set()
        return True

    def _ready(self, now: Sequence[int]) -> None:
        self.position = [max(p, q) for p, q in zip(self.position, now)]
        self.queue.append((None, Cursor(self.hub.stream, tuple(self.position)).text(), False))
        self.wake.set()

    async def next(self) -> tuple[str, Item | None, bool]:
        """The next message text, its item (None: ready) and whether it is live; waits for one."""
        while not self.queue:
            if self.closing is not None:
                raise Closing(*self.closing)
            self.wake.clear()
            await self.wake.wait()
        item, cursor, live = self.queue.popleft()
        if live:
            self.live_pending -= 1
        return (ready_message(cursor) if item is None else item.message(cursor)), item, live

    def close(self, code: int, reason: str) -> None:
        if self.closing is None:
            self.closing = (code, reason)
        self.gone.set()
        self.wake.set()


class LiveHub:
    """Ingests the change stream (the :class:`~processing_unit.live.source.Ingest` side) and
    serves subscriptions; all state bounded by the settings below."""

    def __init__(
        self,
        *,
        low_stock: int = 5,
        retention_s: float = 600.0,
        retention_events: int = 50_000,
        max_connections: int = 2000,
        max_per_user: int = 8,
        queue_size: int = 64,
        on_drop: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.low_stock = low_stock
        self.retention_s = retention_s
        self.retention_events = retention_events
        self.max_connections = max_connections
        self.max_per_user = max_per_user
        self.queue_size = queue_size
        self._on_drop = on_drop or (lambda: None)
        self._clock = clock
        self.stream = ""
        self._position: list[int] | None = None
        self._floor: list[int] = []
        self._ring: deque[Item] = deque()
        self._by_user: dict[str, deque[Item]] = {}
        self._alerts: deque[Item] = deque()
        self._stock: OrderedDict[str, int] = OrderedDict()
        self._seq = itertools.count()
        self._subs: dict[str, set[Subscriber]] = {}
        self._admins: set[Subscriber] = set()
        self.connections = 0
        self.ingested = 0

    # ---- the Ingest side ---------------------------------------------------------------
    def reset(self, stream: str, starts: Sequence[int]) -> None:
        """Start (or restart from scratch) a stream: every kept message and socket goes."""
        if self._position is not None and stream == self.stream and len(starts) == len(self._position):
            return  # the source reconnected to the same stream: carry on where we are
        self.close_all(1012, "the change stream was reset; reconnect without a cursor")
        self.stream = stream
        self._position = list(starts)
        self._floor = list(starts)
        self._ring.clear()
        self._by_user.clear()
        self._alerts.clear()
        self._stock.clear()

    def position(self) -> tuple[int, ...] | None:
        return None if self._position is None else tuple(self._position)

    @property
    def started(self) -> bool:
        return self._position is not None

    def ingest(self, lane: int, offset: int, event: ChangeEvent | None) -> None:
        pos = self._position
        if pos is None or offset < pos[lane]:
            return  # not started, or a record seen already
        pos[lane] = offset + 1
        self.ingested += 1
        now = self._clock()
        self._trim(now)
        if event is None or event.op != "upsert":
            return
        made = self._message_of(event)
        if made is None:
            return
        type_, user_id, head_key, payload = made
        position = array("q", pos)
        cursor = Cursor(self.stream, tuple(pos)).text()
        try:
            changed_at = parse_iso(event.changed_at).timestamp()
        except ValueError:
            changed_at = time.time()
        item = Item(
            seq=next(self._seq), lane=lane, offset=offset, user_id=user_id, type=type_,
            head=_HEADS[type_],
            tail='","changed_at":' + orjson.dumps(event.changed_at).decode() + ',"' + head_key + '":'
                 + orjson.dumps(payload).decode() + "}",
            changed_at=changed_at, at=now, position=position, cursor=cursor,
        )
        self._keep(item)
        for sub in list(self._subs.get(user_id, ()) if user_id is not None else self._admins):
            if sub.closing is not None:
                continue
            if not sub._take(item, live=True):
                self._on_drop()
                sub.close(TRY_AGAIN, f"too slow: more than {self.queue_size} messages waiting")

    def _message_of(self, event: ChangeEvent) -> tuple[str, str | None, str, dict[str, Any]] | None:
        state = event.state
        if event.kind == "orders":
            user_id = state.get("user_id")
            try:
                order = public_order(state)
            except KeyError:
                return None
            return ("order", str(user_id), "order", order) if user_id is not None else None
        if event.kind == "products":
            stock = state.get("stock")
            if not isinstance(stock, int):
                return None
            before = self._stock.pop(event.id, None)
            self._stock[event.id] = stock
            if len(self._stock) > STOCK_MEMORY:
                self._stock.popitem(last=False)
            if stock <= self.low_stock and (before is None or before > self.low_stock):
                product = {k: state.get(k) for k in ("id", "sku", "name", "stock")}
                return "stock_low", None, "product", product
        return None

    def _keep(self, item: Item) -> None:
        self._ring.append(item)
        if item.user_id is not None:
            self._by_user.setdefault(item.user_id, deque()).append(item)
        else:
            self._alerts.append(item)
        self._trim(item.at)

    def _trim(self, now: float) -> None:
        ring = self._ring
        while ring and (len(ring) > self.retention_events or now - ring[0].at > self.retention_s):
            old = ring.popleft()
            if old.user_id is not None:
                mine = self._by_user[old.user_id]
                mine.popleft()
                if not mine:
                    del self._by_user[old.user_id]
            else:
                self._alerts.popleft()
            self._floor[old.lane] = max(self._floor[old.lane], old.offset + 1)

    # ---- the socket side ------------------------------------------------------------------
    def subscribe(self, user_id: str, admin: bool, after: str | None = None) -> Subscriber:
        """A subscription: what was missed since ``after`` (else nothing), ready, then live.

        Raises :class:`Refused` (limits, stream not connected) or a
        :class:`~processing_unit.live.cursor.CursorError`.
        """
        if self._position is None:
            raise Refused(TRY_AGAIN, "the change stream is not connected yet; retry shortly")
        if self.connections >= self.max_connections:
            raise Refused(TRY_AGAIN, f"this unit serves its maximum of {self.max_connections} sockets; retry")
        mine = self._subs.get(user_id, set())
        if len(mine) >= self.max_per_user:
            raise Refused(TOO_MANY_FOR_USER, f"at most {self.max_per_user} sockets per user")
        self._trim(self._clock())
        now = list(self._position)
        if after is None:
            sub = Subscriber(self, user_id, admin, list(now), self.queue_size)
        else:
            cursor = parse(after, self.stream, len(now))
            if any(c < f for c, f in zip(cursor.offsets, self._floor)):
                raise CursorTooOld(
                    f"the cursor is older than this server keeps (about {self.retention_s:.0f} s); "
                    "reload with GET /orders and reconnect without 'after'"
                )
            sub = Subscriber(self, user_id, admin, list(cursor.offsets), self.queue_size)
            for item in self._missed(user_id, admin):
                sub._take(item, live=False)
        sub._ready(now)
        self._subs.setdefault(user_id, set()).add(sub)
        if admin:
            self._admins.add(sub)
        self.connections += 1
        return sub

    def _missed(self, user_id: str, admin: bool) -> Iterable[Item]:
        mine: Iterable[Item] = self._by_user.get(user_id, ())
        if not admin:
            return list(mine)
        return list(heapq.merge(mine, self._alerts, key=lambda i: i.seq))

    def unsubscribe(self, sub: Subscriber) -> None:
        mine = self._subs.get(sub.user_id)
        if mine is None or sub not in mine:
            return
        mine.discard(sub)
        if not mine:
            del self._subs[sub.user_id]
        self._admins.discard(sub)
        self.connections -= 1
        sub.gone.set()

    def close_all(self, code: int, reason: str) -> None:
        """Ask every socket to close (shutdown: 1001)."""
        for subs in list(self._subs.values()):
            for sub in list(subs):
                sub.close(code, reason)

    @property
    def kept(self) -> int:
        """Messages held for replays."""
        return len(self._ring)
