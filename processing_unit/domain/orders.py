"""Orders: the order document and its state machine, as pure functions (G5, G6).

An order is placed by a saga in :mod:`processing_unit.sagas`; this module says what
the stored order looks like and how each transition changes it:
placed -> paid -> shipped; placed|paid -> cancelled (its stock given back once, keyed by
the order id: ``restock`` goes "pending" -> "done"); placed -> cancelled by the system when
it was not paid in time (``cancelled_by`` "expiry").

The stored order carries, besides the public fields, the ``attempt`` that placed it (the
saga's token: only that attempt's stock holds are settled for it) and, when it was placed
with an Idempotency-Key, the request body's ``fingerprint`` (the same key with another
body is a 422).
"""

from __future__ import annotations

import hashlib
from typing import Any, Mapping, Sequence

from processing_unit.errors import FieldError, Forbidden, InvalidInput, InvalidState, NotFound

#: the order resource a client sees (the stored order holds the saga's fields as well)
PUBLIC_FIELDS = ("id", "user_id", "status", "lines", "total_cents", "version")
_ID_SPACE = 2**63 - 1


def public_order(order: Mapping[str, Any]) -> dict[str, Any]:
    return {k: order[k] for k in PUBLIC_FIELDS}


def order_id_for(user_id: str, idempotency_key: str) -> str:
    """The order id a (user, Idempotency-Key) pair names, the same on every unit and restart.

    Decimal, like every id, below 2^63 (it pages like the others); 63 bits of SHA-256, so
    two keys meet with a chance of about n^2 / 2^64.
    """
    digest = hashlib.sha256(f"{user_id}\x1f{idempotency_key}".encode()).digest()
    return str(int.from_bytes(digest[:8], "big") % _ID_SPACE + 1)


def new_order(
    order_id: str,
    user_id: str,
    lines: Sequence[tuple[str, int]],
    prices: Mapping[str, int],
    *,
    attempt: str,
    placed_at_ms: int,
    fingerprint: str | None = None,
) -> dict[str, Any]:
    """The order a placement commits (``put_if_absent``) once every line is held."""
    order_lines = [{"product_id": pid, "quantity": qty, "price_cents": prices[pid]} for pid, qty in lines]
    order: dict[str, Any] = {
        "id": order_id,
        "user_id": user_id,
        "status": "placed",
        "lines": order_lines,
        "total_cents": sum(line["quantity"] * line["price_cents"] for line in order_lines),
        "version": 1,
        "attempt": attempt,
        "placed_at_ms": placed_at_ms,
    }
    if fingerprint is not None:
        order["fingerprint"] = fingerprint
    return order


def replayed(order: Mapping[str, Any], fingerprint: str) -> dict[str, Any]:
    """The first result of an Idempotency-Key, or 422 when the key came with another body."""
    if order.get("fingerprint") != fingerprint:
        raise InvalidInput(
            "this Idempotency-Key was used with a different request body",
            [FieldError("Idempotency-Key", "reused with a different body")],
        )
    return public_order(order)


def owned(order: Mapping[str, Any] | None, order_id: str, user_id: str, is_admin: bool) -> Mapping[str, Any]:
    """The order if the caller may see it; 404 otherwise (another user's order does not exist for them)."""
    if order is None or (order["user_id"] != user_id and not is_admin):
        raise NotFound(f"no order {order_id}")
    return order


def _advance(order: Mapping[str, Any], status: str, **fields: Any) -> dict[str, Any]:
    return {**order, "status": status, "version": order["version"] + 1, **fields}


def paid(order: Mapping[str, Any] | None, *, order_id: str, user_id: str, is_admin: bool,
         amount_cents: int) -> dict[str, Any]:
    """placed -> paid, by the owner only, for exactly the total."""
    order = owned(order, order_id, user_id, is_admin)
    if order["user_id"] != user_id:
        raise Forbidden("only the owner pays an order")
    if order["status"] != "placed":
        raise InvalidState(f"order {order_id} is {order['status']}, only a placed order can be paid")
    if amount_cents != order["total_cents"]:
        raise InvalidInput(
            f"amount_cents must equal the order total {order['total_cents']}",
            [FieldError("amount_cents", f"expected {order['total_cents']}")],
        )
    return _advance(order, "paid")


def cancelled(order: Mapping[str, Any] | None, *, order_id: str, user_id: str, is_admin: bool,
              now_ms: int) -> dict[str, Any]:
    """placed|paid -> cancelled; its stock is then owed back (``restock`` "pending")."""
    order = owned(order, order_id, user_id, is_admin)
    if order["status"] not in ("placed", "paid"):
        raise InvalidState(f"order {order_id} is {order['status']} and cannot be cancelled")
    return _advance(order, "cancelled", restock="pending", cancelled_at_ms=now_ms)


def expired(order: Mapping[str, Any] | None, *, placed_before_ms: int, now_ms: int) -> dict[str, Any] | None:
    """placed -> cancelled by the system, for an order placed before ``placed_before_ms`` and
    still unpaid; None (no change) for any other order: a payment that won the race stands."""
    if order is None or order["status"] != "placed" or order.get("placed_at_ms", now_ms) >= placed_before_ms:
        return None
    return _advance(order, "cancelled", restock="pending", cancelled_at_ms=now_ms, cancelled_by="expiry")


def restocked(order: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Record that a cancelled order's stock is back (None: nothing to record)."""
    if order is None or order.get("restock") != "pending":
        return None
    return {**order, "restock": "done", "version": order["version"] + 1}


def shipped(order: Mapping[str, Any] | None, *, order_id: str) -> dict[str, Any]:
    """paid -> shipped (admin; the caller checks the role)."""
    if order is None:
        raise NotFound(f"no order {order_id}")
    if order["status"] != "paid":
        raise InvalidState(f"order {order_id} is {order['status']}, only a paid order can be shipped")
    return _advance(order, "shipped")


def lines_of(order: Mapping[str, Any]) -> dict[str, int]:
    """product id -> quantity of an order."""
    return {line["product_id"]: line["quantity"] for line in order["lines"]}
