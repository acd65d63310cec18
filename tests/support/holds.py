"""What the change records show of the orders' stock holds (G5, decision 0033)."""

from __future__ import annotations

from typing import Any, Iterable, Mapping


def lines_without_their_hold_record(events: Iterable[Any], orders: Iterable[Mapping[str, Any]]) -> list[tuple]:
    """(order id, line) of every line of ``orders`` for which no product record holds that
    order's quantity: each acknowledged line must appear held in its product's records (its
    settle may be a record of its own or ride on a later hold)."""
    held: dict[tuple[str, str], set[int]] = {}
    for e in events:
        if e.kind == "products":
            for order_id, hold in (e.state.get("holds") or {}).items():
                held.setdefault((e.id, order_id), set()).add(hold["qty"])
    return [(o["id"], line) for o in orders for line in o["lines"]
            if held.get((line["product_id"], o["id"])) != {line["quantity"]}]
