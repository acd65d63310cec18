"""bench compare's database side places an order the conventional way: one SQL transaction.

The space places an order as a saga of single-key steps (:mod:`processing_unit.sagas`);
run unchanged over PostgreSQL that saga would commit once per step and charge the
database side several fsyncs per order that a conventional service never pays. So the
database side locks the products (``FOR UPDATE``, in id order), checks and moves the
stock and inserts the order in one transaction: one commit per order, same answers.
"""

from __future__ import annotations

from typing import Any, Sequence

import orjson

from grid_config.ports import id_order
from processing_unit.domain import orders
from processing_unit.sagas import OrderSagas, Placed, now_ms, refusal_on_read
from tools.bench.postgres_grid import LIVE, PostgresGrid


class PostgresOrderSagas(OrderSagas):
    """Placement in one transaction; cancellation as the space does it (rare in the mix)."""

    async def place(
        self,
        user_id: str,
        lines: Sequence[tuple[str, int]],
        idempotency_key: str | None,
        fingerprint: str,
        request_id: str,
    ) -> Placed:
        grid = self._grid
        assert isinstance(grid, PostgresGrid)
        order_id = await self.order_id(user_id, idempotency_key)
        names = grid.names
        if self._max_open and (idempotency_key is None or await grid.get(names.orders, order_id) is None):
            await self.refuse_past_open_limit(user_id)  # as the space does: replays first
        wanted = dict(lines)

        def work(cur: Any) -> Placed:
            if idempotency_key is not None:
                first = grid._locked(cur, names.orders, order_id)
                if first is not None:
                    return Placed(orders.replayed(first, fingerprint), replayed=True)
            cur.execute(
                f"SELECT key, value::text FROM grid_entries WHERE map_name = %s AND key = ANY(%s) AND {LIVE} "
                "ORDER BY length(key), key FOR UPDATE",
                (names.products, sorted(wanted, key=id_order)),
            )
            products = {k: orjson.loads(v) for k, v in cur.fetchall()}
            refused = refusal_on_read(products, lines)  # the rows are locked: what it reads stays true
            if refused is not None:
                raise refused
            for pid in sorted(wanted, key=id_order):
                p = products[pid]
                grid._write(cur, names.products, pid,
                            {**p, "stock": p["stock"] - wanted[pid], "version": p["version"] + 1})
            order = orders.new_order(
                order_id, user_id, lines, {pid: products[pid]["price_cents"] for pid in wanted},
                attempt="sql", placed_at_ms=now_ms(),
                fingerprint=fingerprint if idempotency_key is not None else None)
            grid._write(cur, names.orders, order_id, order)
            return Placed(orders.public_order(order), replayed=False)

        return await grid.in_transaction(work)
