"""The reaper: finishes the sagas a unit did not (a crash, a lost connection, a full settle queue).

Every unit runs one (``SPACEGRID_HOLD_BOUND_S``, default 30 s).
Several reapers are safe together: every step they take is an idempotent entry processor
scoped to one order and attempt, decided by the order's stored state:

* a stock hold older than the bound is *settled* when its order exists and was placed by
  the hold's attempt, else *released* (the placement never committed, or another attempt did);
* a cancelled order still owing its stock (``restock`` "pending") for longer than the bound
  gets it given back (:meth:`processing_unit.sagas.OrderSagas.restock`);
* a give-back marker older than the bound is dropped once its order no longer owes stock;
* a placed order left unpaid for ``SPACEGRID_ORDER_PAY_TIMEOUT_S`` (default 900 s) is
  cancelled by the system and its stock given back
  (:meth:`processing_unit.sagas.OrderSagas.expire`).

It sweeps every third of the shorter of the hold bound and the payment timeout.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import AsyncIterator

from grid_config.entry_processors import stale_holds, stale_returns
from grid_config.errors import GridError
from grid_config.ports import Grid
from processing_unit.sagas import OrderSagas, now_ms
from processing_unit.stock import Stock

log = logging.getLogger("spacegrid.unit.reaper")
REQUEST_ID = "reaper"


@dataclass
class Sweep:
    """What one sweep did; ``oldest_hold_ms``: the age of the oldest hold it saw (any age)."""

    settled: int = 0
    released: int = 0
    restocked: int = 0
    forgotten: int = 0
    expired: int = 0
    oldest_hold_ms: int = 0


class Reaper:
    def __init__(self, grid: Grid, stock: Stock, sagas: OrderSagas, bound_s: float,
                 pay_timeout_s: float = 900.0) -> None:
        self._grid, self._stock, self._sagas = grid, stock, sagas
        self._names = grid.names
        self.bound_s = bound_s
        self.pay_timeout_s = pay_timeout_s
        self.every_s = min(bound_s, pay_timeout_s) / 3

    async def sweep(self) -> Sweep:
        """One pass over the products, the cancelled orders that still owe stock and the
        placed orders past their payment timeout."""
        done = Sweep()
        now = now_ms()
        cutoff = now - int(self.bound_s * 1000)
        async for product_id, entry in self._grid.entries(self._names.products):
            ages = [now - h["at"] for h in (entry.get("holds") or {}).values() if isinstance(h, dict)]
            done.oldest_hold_ms = max([done.oldest_hold_ms, *ages])
            for order_id, attempt, _at in stale_holds(entry, cutoff):
                order = await self._grid.get(self._names.orders, order_id)
                if order is not None and order.get("attempt") == attempt:
                    await self._stock.settle(order_id, attempt, [product_id], REQUEST_ID)
                    done.settled += 1
                else:
                    await self._stock.release(order_id, attempt, [product_id], REQUEST_ID)
                    done.released += 1
            for order_id in stale_returns(entry, cutoff):
                order = await self._grid.get(self._names.orders, order_id)
                if order is None or order.get("restock") != "pending":
                    await self._stock.forget(order_id, [product_id], REQUEST_ID)
                    done.forgotten += 1
        async for order in self._owing_stock():
            if order.get("cancelled_at_ms", 0) < cutoff:
                await self._sagas.restock(order, REQUEST_ID)
                done.restocked += 1
        unpaid_since = now - int(self.pay_timeout_s * 1000)
        async for order in self._orders({"status": "placed"}, below={"placed_at_ms": unpaid_since}):
            if await self._sagas.expire(order["id"], unpaid_since, REQUEST_ID):
                done.expired += 1
        return done

    def _owing_stock(self) -> AsyncIterator[dict]:
        return self._orders({"restock": "pending"})

    async def _orders(self, equals: dict, below: dict | None = None) -> AsyncIterator[dict]:
        cursor = None
        while True:
            page = await self._grid.query(self._names.orders, equals, cursor, 100, below=below)
            for order in page.items:
                yield order
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def run(self) -> None:
        """Sweep every :attr:`every_s` until cancelled; a failed sweep is logged and retried."""
        while True:
            await asyncio.sleep(self.every_s)
            try:
                done = await self.sweep()
            except GridError as e:
                log.warning("reaper sweep failed, next one in %.0f s: %s", self.every_s, e)
                continue
            except Exception:  # a bug or a malformed entry: a dead reaper would leave holds forever
                log.exception("reaper sweep failed unexpectedly, next one in %.0f s", self.every_s)
                continue
            if done.settled or done.released or done.restocked or done.forgotten or done.expired:
                log.info("reaper finished stale sagas", extra=vars(done))
