"""Work that spans several keys, as sagas of single-key steps with one commit point (G5, G6).

**Placing an order.** Hold every line's stock in parallel (an entry processor per product
entry, owned by this placement's *attempt*); when every line is held, write the order with
``put_if_absent``: that write is the commit point. Then settle the holds, off the request
path. A line that is short, missing or held by another attempt releases what this attempt
held and answers 409/422. With an Idempotency-Key the order id is derived from the user and
the key (:func:`~processing_unit.domain.orders.order_id_for`), so the order's own
``put_if_absent`` is the key's claim and the stored order is the replay, across restarts.

What a crash leaves behind is finished by the reaper (:mod:`processing_unit.reaper`): a
hold older than its bound is settled if its order exists with that attempt, else released.
A placement never sends its commit once its holds are older than half that bound (retries
included), and the bound is more than twice a grid call's deadline, so the reaper never
releases the stock of an order that is still about to be written. A line that is
short only because of other orders' holds (which may yet be released) is looked at again
(a read) for up to :data:`WAIT_FOR_HOLDS_MS`, holding again at most :data:`HOLD_TRIES` times,
before the answer is 409: a product sells out exactly unless the waits run out.

**Cancelling.** The order's compare-and-set to ``cancelled`` (``restock`` "pending") is the
commit point; then each line's stock is given back once (keyed by order id: a marker per
order) and the order records ``restock`` "done"; the reaper drops the markers once they
are older than the hold bound, so a concurrent give-back of the same order still finds
them. The reaper finishes a
cancellation whose unit died on the way, and *expires* a placed order left unpaid past its
timeout the same way (the compare-and-set only moves a still-placed order: a payment that
got there first stands).

**Open orders.** A user may have at most ``max_open`` placed (unpaid) orders; a placement
past it is a 409 before any stock is held. The cap's query (cluster-wide, indexed: p50
1.3 ms on an idle 2-member cluster against 0.3 ms for a ``get``) goes out together with
the placement's other reads (the key's stored order, a multi-line order's products). The
count is read, not reserved: concurrent placements of one user may pass it together.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import secrets
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Mapping, Sequence

from grid_config.entry_processors import StockAnswer
from grid_config.errors import GridUnavailable
from grid_config.ports import Grid
from processing_unit.domain import orders
from processing_unit.errors import Conflict, FieldError, InsufficientStock, InvalidInput, TooManyOpenOrders
from processing_unit.retrying import idempotent
from processing_unit.stock import Stock, failure


#: how long a placement waits for other orders' holds to settle or go before answering 409
WAIT_FOR_HOLDS_MS = 5_000
#: how often one placement holds its lines before a short line is its answer (each failed
#: try journals a hold and a release per held line: the bound keeps a sell-out's churn small)
HOLD_TRIES = 3


class _WaitForHolds(Exception):
    """Short only because of other orders' holds, which may yet be released: look again."""

    def __init__(self, short: InsufficientStock) -> None:
        super().__init__(str(short))
        self.short = short


@dataclass(frozen=True)
class _Held:
    """One attempt's holds on every line of an order, with the prices read before them."""

    attempt: str
    at_ms: int
    product_ids: list[str]
    prices: dict[str, int]


@dataclass(frozen=True)
class Placed:
    order: dict[str, Any]
    replayed: bool


def now_ms() -> int:
    return int(time.time() * 1000)


class OrderSagas:
    """Placement and cancellation of orders over one grid."""

    def __init__(self, grid: Grid, stock: Stock, hold_bound_s: float, *, max_open: int = 0) -> None:
        self._grid, self._stock = grid, stock
        self._orders = grid.names.orders
        self._products = grid.names.products
        self._bound_ms = int(hold_bound_s * 1000)
        self._max_open = max_open

    async def place(
        self,
        user_id: str,
        lines: Sequence[tuple[str, int]],
        idempotency_key: str | None,
        fingerprint: str,
        request_id: str,
    ) -> Placed:
        order_id = await self.order_id(user_id, idempotency_key)
        first, products = await self._read_before_holding(order_id, user_id, lines, idempotency_key is not None)
        if first is not None:
            return Placed(orders.replayed(first, fingerprint), replayed=True)
        held = await self._hold_every_line(order_id, lines, request_id, products)
        attempt, started = held.attempt, held.at_ms
        if now_ms() - started > self._bound_ms // 2:
            # the reaper may release these holds soon: committing now could sell stock twice
            await self._stock.release(order_id, attempt, held.product_ids, request_id)
            raise GridUnavailable("placing the order took too long; nothing was ordered")
        order = orders.new_order(
            order_id, user_id, lines, held.prices, attempt=attempt, placed_at_ms=started,
            fingerprint=fingerprint if idempotency_key is not None else None)
        # the commit point; on an unknown outcome the holds stay for the reaper to decide
        commit_by = started + self._bound_ms // 2

        async def commit() -> dict[str, Any] | None:
            if now_ms() > commit_by:  # a retry now could land after the reaper released the holds
                raise GridUnavailable("the order's outcome is unknown; retry with the same Idempotency-Key")
            return await self._grid.put_if_absent(self._orders, order_id, order, request_id=request_id)

        first = await idempotent(commit)
        if first is not None and first.get("attempt") != attempt:
            await self._stock.release(order_id, attempt, held.product_ids, request_id)
            return Placed(orders.replayed(first, fingerprint), replayed=True)
        self._stock.settle_later(order_id, attempt, held.product_ids, request_id)
        return Placed(orders.public_order(order), replayed=False)

    async def _read_before_holding(
        self, order_id: str, user_id: str, lines: Sequence[tuple[str, int]], keyed: bool
    ) -> tuple[Mapping[str, Any] | None, Mapping[str, Mapping[str, Any]] | None]:
        """The reads a placement makes before it holds anything, all in one round trip's time:
        the key's stored order (``keyed``: a replay wins over any refusal), the open-orders
        cap, and a multi-line order's products (its refusals are known before holding)."""
        reads: dict[str, Awaitable[Any]] = {}
        if keyed:
            reads["first"] = self._grid.get(self._orders, order_id)
        if self._max_open:
            reads["cap"] = self.refuse_past_open_limit(user_id)
        if len(lines) > 1:
            reads["products"] = self._grid.get_many(self._products, list(dict(lines)))
        if len(reads) <= 1:  # nothing to overlap (the common one-line order): no task made
            got = {name: await read for name, read in reads.items()}
        else:
            got = dict(zip(reads, await asyncio.gather(*reads.values(), return_exceptions=True)))
            failed = [o for o in got.values() if isinstance(o, BaseException)]
            for outcome in failed:
                if not isinstance(outcome, Exception):
                    raise outcome  # a cancellation is not a read's answer
            first = got.get("first")
            if isinstance(first, Exception):
                raise first
            if first is None and failed:
                raise failed[0]
        return got.get("first"), got.get("products")

    async def refuse_past_open_limit(self, user_id: str) -> None:
        """409 when the user already has ``max_open`` placed (unpaid) orders."""
        if not self._max_open:
            return
        open_ = await self._grid.query(self._orders, {"user_id": user_id, "status": "placed"},
                                       limit=self._max_open)
        if len(open_.items) >= self._max_open:
            raise TooManyOpenOrders(
                f"you have {self._max_open} orders placed and not paid; pay or cancel one first",
                [FieldError("orders", f"at most {self._max_open} placed orders at once")])

    async def order_id(self, user_id: str, idempotency_key: str | None) -> str:
        """The id a placement writes its order under: derived from the key (G6), else a new one."""
        if idempotency_key is not None:
            return orders.order_id_for(user_id, idempotency_key)
        return await self._grid.new_id()

    async def _hold_every_line(self, order_id: str, lines: Sequence[tuple[str, int]], request_id: str,
                               products: Mapping[str, Mapping[str, Any]] | None) -> _Held:
        """Hold every line for a new attempt, or raise why not (nothing of this attempt held).

        ``products``: the lines' products as just read, or None when nothing was read: a
        one-line order holds at once, since its hold answers what a read would (no such
        product, short, the price) and a refused hold changes nothing. Several lines are
        read first, so that an unknown product (422) or a line short even counting other
        orders' holds (409) changes nothing, not even a hold and release of another line.
        A line short only because of holds is read again until those holds settle or go,
        holding again at most :data:`HOLD_TRIES` times.
        """
        wanted = dict(lines)
        give_up_at = now_ms() + min(WAIT_FOR_HOLDS_MS, self._bound_ms // 3)
        tries = 0
        for round_ in itertools.count():
            attempt, started = secrets.token_hex(8), now_ms()
            if round_:  # read again: bad input (an unknown product) and a shortage change nothing
                products = await self._grid.get_many(self._products, list(wanted))
            refused = None if products is None else _precheck(products, lines)
            if isinstance(refused, _WaitForHolds):
                refused = refused.short  # short for now: other orders hold the rest
            elif refused is not None:
                raise refused  # unknown product, or sold out
            else:
                tries += 1
                holds = await self._stock.hold(order_id, attempt, wanted, started, request_id)
                held = [pid for pid, a in holds.items() if isinstance(a, StockAnswer) and a.outcome == "held"]
                if len(held) == len(wanted):
                    return _Held(attempt, started, held, await self._prices(holds, products))
                await self._stock.release(order_id, attempt, held, request_id)
                refused = _refusal(holds, lines)
                if not isinstance(refused, InsufficientStock) or tries >= HOLD_TRIES:
                    raise refused
                if products is None:
                    continue  # nothing read yet: whether holds may free the stock, a read says
            if now_ms() >= give_up_at:
                raise refused
            # other orders' holds may yet be released: look again shortly (a read, no write)
            await asyncio.sleep(random.uniform(0.005, 0.02) * min(round_ + 1, 5))
        raise AssertionError("unreachable")  # pragma: no cover

    async def _prices(self, holds: Mapping[str, StockAnswer | Exception],
                      products: Mapping[str, Mapping[str, Any]] | None) -> dict[str, int]:
        """Each line's price: the one its hold answered (read with the stock it took), else
        the product as read (an entry whose price is not an integer answers none)."""
        prices = {pid: a.price_cents for pid, a in holds.items() if isinstance(a, StockAnswer)}
        if any(p is None for p in prices.values()) and products is None:
            products = await self._grid.get_many(self._products, list(prices))
        return {pid: p if p is not None else products[pid]["price_cents"]  # type: ignore[index]
                for pid, p in prices.items()}

    async def cancel(self, order_id: str, user: Mapping[str, Any], request_id: str) -> dict[str, Any]:
        """The compare-and-set to cancelled, then the stock back (see the module docstring)."""
        cancelled = await self._grid.update(
            self._orders, order_id,
            lambda o: orders.cancelled(o, order_id=order_id, user_id=user["id"],
                                       is_admin=bool(user.get("is_admin")), now_ms=now_ms()),
            request_id=request_id)
        assert cancelled is not None
        return await self.restock(cancelled, request_id)

    async def expire(self, order_id: str, placed_before_ms: int, request_id: str) -> bool:
        """Cancel an order still placed (unpaid) since before ``placed_before_ms``, its stock
        back once; False when it was paid, cancelled or placed later meanwhile."""
        order = await self._grid.update(
            self._orders, order_id,
            lambda o: orders.expired(o, placed_before_ms=placed_before_ms, now_ms=now_ms()),
            request_id=request_id)
        if order is None or order.get("cancelled_by") != "expiry" or order.get("restock") != "pending":
            return False
        await self.restock(order, request_id)
        return True

    async def restock(self, order: Mapping[str, Any], request_id: str) -> dict[str, Any]:
        """Give a cancelled order's stock back once and record it.

        The give-back markers stay: the reaper drops them once they are older than the hold
        bound and the order no longer owes stock. Dropping them here let a concurrent
        restock of the same order (both units' reapers expiring it in the same second, a
        reaper and the user's cancel, a repeated cancel), which read "pending" before this
        one finished, find no marker and give the stock back a second time.
        """
        order_id = order["id"]
        lines = orders.lines_of(order)
        given = await self._stock.give_back(order_id, lines, now_ms(), request_id)
        problem = failure(given)
        if problem is not None:
            raise problem  # the order stays "pending": a retry or the reaper gives the rest back
        done = await idempotent(lambda: self._grid.update(self._orders, order_id, orders.restocked,
                                                          request_id=request_id))
        return orders.public_order(done or order)


def refusal_on_read(products: Mapping[str, Mapping[str, Any]], lines: Sequence[tuple[str, int]]) -> Exception | None:
    """The refusal the products as read already show: an unknown product (422), or a line
    short of available stock (409); None when every line could be had."""
    missing = [pid for pid, _ in lines if pid not in products]
    if missing:
        return unknown_products(missing, lines)
    short = {pid: products[pid]["stock"] for pid, qty in lines if products[pid]["stock"] < qty}
    return short_of(short, dict(lines)) if short else None


def _precheck(products: Mapping[str, Mapping[str, Any]], lines: Sequence[tuple[str, int]]) -> Exception | None:
    """:func:`refusal_on_read`, except that a shortage other orders' holds could still cover
    is a :class:`_WaitForHolds`."""
    refusal = refusal_on_read(products, lines)
    if not isinstance(refusal, InsufficientStock):
        return refusal
    short = {pid: products[pid]["stock"] for pid, qty in lines if products[pid]["stock"] < qty}
    held = {pid: sum(h.get("qty", 0) for h in (products[pid].get("holds") or {}).values()) for pid in short}
    if all(short[pid] + held[pid] >= qty for pid, qty in lines if pid in short):
        return _WaitForHolds(refusal)
    return refusal


def unknown_products(missing: Sequence[str], lines: Sequence[tuple[str, int]]) -> InvalidInput:
    index = {pid: i for i, (pid, _) in enumerate(lines)}
    return InvalidInput(
        "unknown product(s): " + ", ".join(missing),
        [FieldError(f"lines[{index[p]}].product_id", "no such product") for p in missing],
    )


def short_of(left: Mapping[str, int], wanted: Mapping[str, int]) -> InsufficientStock:
    """409 for the lines of ``left`` (product id -> units left)."""
    return InsufficientStock(
        "not enough stock for product(s): " + ", ".join(left),
        [FieldError(f"product {p}", f"{n} left, {wanted[p]} wanted") for p, n in left.items()],
    )


def _refusal(holds: Mapping[str, StockAnswer | Exception], lines: Sequence[tuple[str, int]]) -> Exception:
    """Why the holds did not all succeed, as the error the client gets."""
    problem = failure(holds)
    if problem is not None:
        return problem
    answers = {pid: a for pid, a in holds.items() if isinstance(a, StockAnswer)}
    missing = [pid for pid, a in answers.items() if a.outcome == "missing"]
    if missing:  # removed since it was read
        return unknown_products(missing, lines)
    if any(a.outcome == "busy" for a in answers.values()):
        return Conflict("an order with this Idempotency-Key is being placed right now; retry shortly",
                        [FieldError("Idempotency-Key", "a request with this key is in progress")])
    return short_of({pid: a.available or 0 for pid, a in answers.items() if a.outcome == "short"}, dict(lines))
