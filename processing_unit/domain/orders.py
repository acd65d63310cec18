"""Orders: placement (all stock or none, G5) with its idempotency claim (G6), and the state machine.

placed -> paid -> shipped; placed|paid -> cancelled (stock released in the same
transaction as the status change, so exactly once: a second cancel finds ``cancelled``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Sequence

from grid_config.names import Names
from grid_config.ports import Tx, id_order
from processing_unit.errors import (
    Conflict,
    FieldError,
    Forbidden,
    InsufficientStock,
    InvalidInput,
    InvalidState,
    NotFound,
)


@dataclass(frozen=True)
class IdempotencyClaim:
    """An ``Idempotency-Key`` scoped to its user, with a fingerprint of the request body."""

    key: str  # "<user_id>:<client key>"
    fingerprint: str
    ttl_s: float


@dataclass(frozen=True)
class Placed:
    order: dict[str, Any]
    replayed: bool


def _moved(product: dict[str, Any], delta: int) -> dict[str, Any]:
    """The product entry with ``delta`` units of stock more and the next version.

    Every other field of the entry (catalog fields, stock holds) is kept as it is.
    """
    return {**product, "stock": product["stock"] + delta, "version": product["version"] + 1}


def _claimed(tx: Tx, names: Names, claim: IdempotencyClaim) -> dict[str, Any] | None:
    """The first result stored under this key, unless it expired; 422 on a different body."""
    record = tx.get(names.idempotency, claim.key)
    if record is None or time.time() - record["created_at_s"] > claim.ttl_s:
        return None
    if record["fingerprint"] != claim.fingerprint:
        raise InvalidInput(
            "this Idempotency-Key was used with a different request body",
            [FieldError("Idempotency-Key", "reused with a different body")],
        )
    return record["response"]


def place_order(
    tx: Tx,
    names: Names,
    *,
    order_id: str,
    user_id: str,
    lines: Sequence[tuple[str, int]],
    claim: IdempotencyClaim | None = None,
) -> Placed:
    """Reserve every line's stock or none, store the order and its claim (each write journaled).

    The claim is read for update first, so a concurrent duplicate waits on its lock and
    then sees the first result; a crash before commit leaves neither claim nor order.
    """
    if claim is not None:
        first = _claimed(tx, names, claim)
        if first is not None:
            return Placed(first, replayed=True)
    wanted = dict(lines)
    ordered = sorted(wanted, key=id_order)
    products: dict[str, dict[str, Any]] = {}
    missing = []
    for pid in ordered:
        entry = tx.get(names.products, pid)
        if entry is None:
            missing.append(pid)
        else:
            products[pid] = entry
    if missing:
        index = {pid: i for i, (pid, _) in enumerate(lines)}
        raise InvalidInput(
            "unknown product(s): " + ", ".join(missing),
            [FieldError(f"lines[{index[p]}].product_id", "no such product") for p in missing],
        )
    short = [pid for pid in ordered if products[pid]["stock"] < wanted[pid]]
    if short:
        raise InsufficientStock(
            "not enough stock for product(s): " + ", ".join(short),
            [
                FieldError(f"product {p}", f"{products[p]['stock']} left, {wanted[p]} wanted")
                for p in short
            ],
        )
    order_lines = [
        {"product_id": pid, "quantity": qty, "price_cents": products[pid]["price_cents"]} for pid, qty in lines
    ]
    for pid in ordered:
        tx.put(names.products, pid, _moved(products[pid], -wanted[pid]))
    order = {
        "id": order_id,
        "user_id": user_id,
        "status": "placed",
        "lines": order_lines,
        "total_cents": sum(line["quantity"] * line["price_cents"] for line in order_lines),
        "version": 1,
    }
    tx.put(names.orders, order_id, order)
    if claim is not None:
        tx.put(
            names.idempotency,
            claim.key,
            {"fingerprint": claim.fingerprint, "response": order, "created_at_s": time.time()},
        )
    return Placed(order, replayed=False)


def _owned(tx: Tx, names: Names, order_id: str, user_id: str, is_admin: bool) -> dict[str, Any]:
    order = tx.get(names.orders, order_id)
    if order is None or (order["user_id"] != user_id and not is_admin):
        raise NotFound(f"no order {order_id}")
    return order


def _advance(tx: Tx, names: Names, order: dict[str, Any], status: str) -> dict[str, Any]:
    order = {**order, "status": status, "version": order["version"] + 1}
    tx.put(names.orders, order["id"], order)
    return order


def pay_order(
    tx: Tx, names: Names, *, order_id: str, user_id: str, is_admin: bool, amount_cents: int
) -> dict[str, Any]:
    """placed -> paid, by the owner only, for exactly the total."""
    order = _owned(tx, names, order_id, user_id, is_admin)
    if order["user_id"] != user_id:
        raise Forbidden("only the owner pays an order")
    if order["status"] != "placed":
        raise InvalidState(f"order {order_id} is {order['status']}, only a placed order can be paid")
    if amount_cents != order["total_cents"]:
        raise InvalidInput(
            f"amount_cents must equal the order total {order['total_cents']}",
            [FieldError("amount_cents", f"expected {order['total_cents']}")],
        )
    return _advance(tx, names, order, "paid")


def cancel_order(
    tx: Tx, names: Names, *, order_id: str, user_id: str, is_admin: bool
) -> dict[str, Any]:
    """placed|paid -> cancelled, releasing every line's stock in the same transaction."""
    order = _owned(tx, names, order_id, user_id, is_admin)
    if order["status"] not in ("placed", "paid"):
        raise InvalidState(f"order {order_id} is {order['status']} and cannot be cancelled")
    wanted = {line["product_id"]: line["quantity"] for line in order["lines"]}
    ordered = sorted(wanted, key=id_order)
    products = {pid: tx.get(names.products, pid) for pid in ordered}
    cancelled = _advance(tx, names, order, "cancelled")
    for pid in ordered:
        old = products[pid]
        if old is None:  # product removed from the space: nothing to release
            raise Conflict(f"product {pid} of order {order_id} is gone; cannot release its stock")
        tx.put(names.products, pid, _moved(old, wanted[pid]))
    return cancelled


def ship_order(tx: Tx, names: Names, *, order_id: str) -> dict[str, Any]:
    """paid -> shipped (admin; the caller checks the role)."""
    order = tx.get(names.orders, order_id)
    if order is None:
        raise NotFound(f"no order {order_id}")
    if order["status"] != "paid":
        raise InvalidState(f"order {order_id} is {order['status']}, only a paid order can be shipped")
    return _advance(tx, names, order, "shipped")
