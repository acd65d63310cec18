"""The stock steps of orders (G5): entry processors on the product entries, one per line.

Holds are keyed by order id and owned by the placement *attempt* that took them, so a
duplicate request for the same (derived) order id never releases or settles a hold it did
not take. Each step is idempotent and retried after an unknown outcome
(:func:`processing_unit.retrying.idempotent`).

Settling is off the request path and rides along (decision 0033): a committed order's
settles wait per product (:meth:`Stock.settle_later`) for the next hold this unit sends to
that product, which carries them in the same call (:class:`StockSteps`: one processor call,
one backup, one journal event for all of them); a product with no hold within
:data:`SETTLE_DELAY_S` gets its waiting settles in one call of their own. What waits is
bounded (:data:`MAX_WAITING`); whatever is missed (a full queue, a failed call, a unit that
died), the reaper (:mod:`processing_unit.reaper`) settles or releases once the hold is older
than its bound.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Awaitable, Callable, Iterable, Mapping

from grid_config.entry_processors import (
    StockAnswer,
    StockForget,
    StockHold,
    StockProcessor,
    StockRelease,
    StockReturn,
    StockSettle,
    StockSteps,
)
from grid_config.errors import GridError
from grid_config.events import utc_now_iso
from grid_config.ports import Grid
from processing_unit.retrying import idempotent

log = logging.getLogger("spacegrid.unit.stock")
#: settles waiting for a ride at most; beyond that, the reaper settles (every buffer has a bound)
MAX_WAITING = 1024
#: how long a product's settles wait for a hold to carry them before they go on their own
SETTLE_DELAY_S = 0.25
#: settles one call carries at most (the rest wait for the next one)
SETTLES_PER_CALL = 128


@dataclass(frozen=True)
class _Settle:
    attempt: str
    request_id: str


class Stock:
    """Runs the stock processors of one order on the products map, all lines in parallel."""

    def __init__(self, grid: Grid) -> None:
        self._grid = grid
        self._map = grid.names.products
        self._background: set[asyncio.Task[None]] = set()
        #: product id -> order id -> the committed attempt's settle, waiting for a ride
        self._waiting: dict[str, dict[str, _Settle]] = {}
        self._waiting_count = 0
        self._timers: dict[str, asyncio.TimerHandle] = {}

    async def _each(
        self, product_ids: Iterable[str], step: Callable[[str], StockProcessor]
    ) -> dict[str, StockAnswer | Exception]:
        """Run ``step(pid)`` on every product at once; an error stays in its line's slot."""

        async def one(pid: str) -> StockAnswer:
            return await idempotent(lambda: self._grid.execute(self._map, pid, step(pid)))

        return await self._gather(list(product_ids), one)

    @staticmethod
    async def _gather(
        pids: list[str], one: Callable[[str], Awaitable[StockAnswer]]
    ) -> dict[str, StockAnswer | Exception]:
        results = await asyncio.gather(*(one(pid) for pid in pids), return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException) and not isinstance(r, Exception):
                raise r  # cancellation and the like are not a line's outcome
        return dict(zip(pids, results))  # type: ignore[arg-type]

    async def hold(
        self, order_id: str, attempt: str, lines: Mapping[str, int], now_ms: int, request_id: str
    ) -> dict[str, StockAnswer | Exception]:
        """Hold every line; each call also carries the settles waiting for that product."""
        at = utc_now_iso()

        async def one(pid: str) -> StockAnswer:
            hold = StockHold(order_id, attempt, lines[pid], now_ms, request_id, at)
            riders = self._take(pid)
            if not riders:
                return await idempotent(lambda: self._grid.execute(self._map, pid, hold))
            steps = StockSteps([*self._settles(riders), hold])
            try:
                answers = await idempotent(lambda: self._grid.execute(self._map, pid, steps))
            except BaseException:
                self._wait(pid, riders)  # they go with the next call, or on their own
                raise
            return answers[-1]

        return await self._gather(list(lines), one)

    async def release(self, order_id: str, attempt: str, product_ids: Iterable[str], request_id: str) -> None:
        """Give this attempt's holds back; a failure is logged (the reaper releases it later)."""
        at = utc_now_iso()
        results = await self._each(product_ids, lambda pid: StockRelease(order_id, attempt, request_id, at))
        _log_failures("release", order_id, results)

    async def settle(self, order_id: str, attempt: str, product_ids: Iterable[str], request_id: str) -> None:
        at = utc_now_iso()
        results = await self._each(product_ids, lambda pid: StockSettle(order_id, attempt, request_id, at))
        _log_failures("settle", order_id, results)

    def settle_later(self, order_id: str, attempt: str, product_ids: Iterable[str], request_id: str) -> None:
        """Settle off the request path, riding on the next hold of each product (the order is
        committed: its holds only await bookkeeping)."""
        pids = list(product_ids)
        if self._waiting_count + len(pids) > MAX_WAITING:
            log.warning("settle of order %s left to the reaper: %d settles waiting", order_id, self._waiting_count)
            return
        for pid in pids:
            self._wait(pid, {order_id: _Settle(attempt, request_id)})

    def _wait(self, pid: str, settles: Mapping[str, _Settle]) -> None:
        waiting = self._waiting.setdefault(pid, {})
        before = len(waiting)
        waiting.update(settles)
        self._waiting_count += len(waiting) - before
        if pid not in self._timers:
            self._timers[pid] = asyncio.get_running_loop().call_later(SETTLE_DELAY_S, self._go_alone, pid)

    def _take(self, pid: str) -> dict[str, _Settle]:
        """Up to :data:`SETTLES_PER_CALL` of the settles waiting for ``pid`` (removed)."""
        waiting = self._waiting.get(pid)
        if not waiting:
            return {}
        if len(waiting) <= SETTLES_PER_CALL:
            taken = self._waiting.pop(pid)
            timer = self._timers.pop(pid, None)
            if timer is not None:
                timer.cancel()
        else:
            taken = {k: waiting.pop(k) for k in list(waiting)[:SETTLES_PER_CALL]}
        self._waiting_count -= len(taken)
        return taken

    @staticmethod
    def _settles(taken: Mapping[str, _Settle]) -> list[StockProcessor]:
        at = utc_now_iso()
        return [StockSettle(order_id, s.attempt, s.request_id, at) for order_id, s in taken.items()]

    def _go_alone(self, pid: str) -> None:
        """No hold came for ``pid`` in time: its settles go in a call of their own."""
        self._timers.pop(pid, None)
        self._send_alone(pid, self._take(pid))
        if self._waiting.get(pid):  # more than one call's worth: the rest in the next turn
            self._timers[pid] = asyncio.get_running_loop().call_later(0, self._go_alone, pid)

    def _send_alone(self, pid: str, taken: Mapping[str, _Settle]) -> None:
        if taken:
            task = asyncio.get_running_loop().create_task(self._settle_waiting(pid, taken))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _settle_waiting(self, pid: str, taken: Mapping[str, _Settle]) -> None:
        steps = StockSteps(self._settles(taken))
        try:
            await idempotent(lambda: self._grid.execute(self._map, pid, steps))
        except Exception as e:  # noqa: BLE001 - the reaper settles them once they are old enough
            log.warning("settle of %d order(s) on product %s failed, the reaper finishes it: %s", len(taken), pid, e)

    async def give_back(
        self, order_id: str, lines: Mapping[str, int], now_ms: int, request_id: str
    ) -> dict[str, StockAnswer | Exception]:
        """A cancelled order's stock back on sale, once per (order, product)."""
        at = utc_now_iso()
        return await self._each(lines, lambda pid: StockReturn(order_id, lines[pid], now_ms, request_id, at))

    async def forget(self, order_id: str, product_ids: Iterable[str], request_id: str) -> None:
        """Drop the give-back markers once the order records its stock is back."""
        at = utc_now_iso()
        results = await self._each(product_ids, lambda pid: StockForget(order_id, request_id, at))
        _log_failures("forget", order_id, results)

    async def drain(self) -> None:
        """Send every waiting settle now and wait for them (unit shutdown, tests)."""
        for pid in list(self._waiting):
            while taken := self._take(pid):  # the last take cancels the product's timer
                self._send_alone(pid, taken)
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)


def _log_failures(what: str, order_id: str, results: Mapping[str, StockAnswer | Exception]) -> None:
    failed = {pid: r for pid, r in results.items() if isinstance(r, Exception)}
    if failed:
        log.warning("%s of order %s failed on %d line(s), the reaper finishes it: %s", what, order_id,
                    len(failed), "; ".join(f"{pid}: {e}" for pid, e in failed.items()),
                    extra={"order_id": order_id})


def failure(results: Mapping[str, StockAnswer | Exception]) -> Exception | None:
    """The first grid error among the lines (the request fails with it)."""
    for r in results.values():
        if isinstance(r, GridError):
            return r
    for r in results.values():
        if isinstance(r, Exception):
            return r
    return None
