"""The stock steps of orders (G5): entry processors on the product entries, one per line.

Holds are keyed by order id and owned by the placement *attempt* that took them, so a
duplicate request for the same (derived) order id never releases or settles a hold it did
not take. Each step is idempotent and retried after an unknown outcome
(:func:`processing_unit.retrying.idempotent`). Settling is off the request path
(:meth:`Stock.settle_later`, a bounded set of tasks); whatever it misses, the reaper
(:mod:`processing_unit.reaper`) settles or releases once the hold is older than its bound.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Callable, Iterable, Mapping

from grid_config.entry_processors import (
    StockAnswer,
    StockForget,
    StockHold,
    StockProcessor,
    StockRelease,
    StockReturn,
    StockSettle,
)
from grid_config.errors import GridError
from grid_config.events import utc_now_iso
from grid_config.ports import Grid
from processing_unit.retrying import idempotent

log = logging.getLogger("spacegrid.unit.stock")
#: settle tasks in flight at most; beyond that, the reaper settles (every buffer has a bound)
MAX_BACKGROUND = 1024


class Stock:
    """Runs the stock processors of one order on the products map, all lines in parallel."""

    def __init__(self, grid: Grid) -> None:
        self._grid = grid
        self._map = grid.names.products
        self._background: set[asyncio.Task[None]] = set()

    async def _each(
        self, product_ids: Iterable[str], step: Callable[[str], StockProcessor]
    ) -> dict[str, StockAnswer | Exception]:
        """Run ``step(pid)`` on every product at once; an error stays in its line's slot."""
        pids = list(product_ids)

        async def one(pid: str) -> StockAnswer:
            return await idempotent(lambda: self._grid.execute(self._map, pid, step(pid)))

        results = await asyncio.gather(*(one(pid) for pid in pids), return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException) and not isinstance(r, Exception):
                raise r  # cancellation and the like are not a line's outcome
        return dict(zip(pids, results))  # type: ignore[arg-type]

    async def hold(
        self, order_id: str, attempt: str, lines: Mapping[str, int], now_ms: int, request_id: str
    ) -> dict[str, StockAnswer | Exception]:
        at = utc_now_iso()
        return await self._each(lines, lambda pid: StockHold(order_id, attempt, lines[pid], now_ms, request_id, at))

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
        """Settle off the request path: the order is committed, its holds only await bookkeeping."""
        if len(self._background) >= MAX_BACKGROUND:
            log.warning("settle of order %s left to the reaper: %d settles in flight", order_id, MAX_BACKGROUND)
            return
        task = asyncio.get_running_loop().create_task(self.settle(order_id, attempt, list(product_ids), request_id))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

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
        """Wait for the settles in flight (unit shutdown)."""
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
