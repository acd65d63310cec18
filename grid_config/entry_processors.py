"""Entry processors: single-key atomic steps that run where the entry lives.

Groundwork for writes without transactions (docs/guarantees.md G5): an order *holds* stock per line
with an idempotent processor, commits with ``put_if_absent``, then *settles* the holds (or
*releases* them if it gave up). On Hazelcast the steps are the Java classes of
grid_config/member/ (``io.spacegrid.member``), run on the key's partition thread; this
module holds, for each of them,

* an :class:`~hazelcast.serialization.api.IdentifiedDataSerializable` with the same
  factory and class ids, to send with ``IMap.execute_on_key`` (the member deserializes it
  into the Java class and runs that);
* the same semantics as a pure function over a decoded value (:func:`hold`,
  :func:`release`, :func:`settle`), for the in-process grid. ``tests/contract/
  stock_processor_contract.py`` holds both to one behaviour.

Every processor answers a small canonical JSON string (:class:`StockAnswer`), so the
client needs no factory to read results. A step that changes nothing leaves the entry
alone: the pure functions return ``None`` as the new value, the Java side skips
``setValue`` (no journal event) and sends no backup.

The processors run on the product entry (map ``<namespace>products``, key = product id; the
whole product, decision 0017) and touch only its stock part::

    {"stock": available, "version": v, "holds": {order_id: {"at": ms, "qty": q}}, ...}

Every other field (the catalog fields, the adapter's ``_sk``) is kept as it is. ``holds``
is omitted when empty, so an entry without holds is exactly the shape written before holds
existed and code reading ``stock``/``version`` is unaffected. ``available``
excludes held quantities; conservation (G5): initial = available + sum(holds) + settled.
Every change bumps ``version``, settling included (the stored state changes, and every
distinct state needs a distinct version for the writers' version guard and event order).
The hold's ``at`` comes from the caller: backups re-run the processor, so it must be
deterministic (no clock inside).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Mapping

import orjson
from hazelcast.serialization.api import IdentifiedDataSerializable, ObjectDataInput, ObjectDataOutput

Value = dict[str, Any]

#: the one DataSerializableFactory of the member-side code (io.spacegrid.member.MemberFactory)
FACTORY_ID = 7311
STOCK_HOLD = 1
STOCK_RELEASE = 2
STOCK_SETTLE = 3
# 4 CREDITS_TAKE, 5 CREDITS_GIVE: grid_config/credit_processors.py (never reuse an id)

Outcome = Literal["held", "short", "missing", "released", "settled", "absent"]


@dataclass(frozen=True)
class StockAnswer:
    """What a stock step did: ``outcome``, the ``available`` count after it, the hold's ``qty``.

    held: the order holds ``qty`` (new, or an earlier hold repeated: same answer);
    short: refused, ``available`` is what is left; missing: no such product;
    released / settled: the hold of ``qty`` was given back / turned into a sale;
    absent: no hold for that order (already released or settled, or never held).
    """

    outcome: Outcome
    available: int | None = None
    qty: int | None = None

    def to_json(self) -> str:
        """The canonical JSON the Java processors return (absent fields left out)."""
        doc = {k: v for k, v in (("available", self.available), ("outcome", self.outcome), ("qty", self.qty))
               if v is not None}
        return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS).decode()

    @classmethod
    def from_json(cls, text: str | bytes) -> "StockAnswer":
        """Decode a processor's result (as ``execute_on_key`` returns it)."""
        doc = orjson.loads(text)
        return cls(outcome=doc["outcome"], available=doc.get("available"), qty=doc.get("qty"))


# ---- the semantics, in-process --------------------------------------------------------------
def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"stock entry: {what!r} is missing or not an integer: {value!r}")
    return value


def _state(value: Mapping[str, Any]) -> tuple[int, int, dict[str, Any]]:
    stock = _int(value.get("stock"), "stock")
    version = _int(value.get("version"), "version")
    holds = value.get("holds")
    if holds is None:
        holds = {}
    elif not isinstance(holds, dict):
        raise ValueError("stock entry: 'holds' is not an object")
    return stock, version, holds


def _with(value: Mapping[str, Any], stock: int, version: int, holds: dict[str, Any]) -> Value:
    """A new entry (the input is never mutated); ``holds`` left out when empty."""
    new = {k: v for k, v in value.items() if k != "holds"}
    new["stock"], new["version"] = stock, version
    if holds:
        new["holds"] = holds
    return new


def _held(holds: Mapping[str, Any], order_id: str) -> int | None:
    hold = holds.get(order_id)
    if hold is None:
        return None
    if not isinstance(hold, dict):
        raise ValueError(f"stock entry: hold {order_id!r} is not an object")
    return _int(hold.get("qty"), "qty")


def _check_order_id(order_id: str) -> None:
    if not isinstance(order_id, str) or not order_id:
        raise ValueError("order id must be a non-empty string")


def hold(value: Value | None, order_id: str, qty: int, now_ms: int) -> tuple[Value | None, StockAnswer]:
    """Hold ``qty`` for ``order_id``, once; returns (new value or None when unchanged, answer)."""
    _check_order_id(order_id)
    if isinstance(qty, bool) or not isinstance(qty, int) or qty <= 0:
        raise ValueError(f"qty must be a positive integer, got {qty!r}")
    if value is None:
        return None, StockAnswer("missing")
    stock, version, holds = _state(value)
    held = _held(holds, order_id)
    if held is not None:
        return None, StockAnswer("held", stock, held)
    if stock < qty:
        return None, StockAnswer("short", stock)
    new_holds = {**holds, order_id: {"at": now_ms, "qty": qty}}
    return _with(value, stock - qty, version + 1, new_holds), StockAnswer("held", stock - qty, qty)


def release(value: Value | None, order_id: str) -> tuple[Value | None, StockAnswer]:
    """Give ``order_id``'s hold back to the available stock, exactly once."""
    _check_order_id(order_id)
    if value is None:
        return None, StockAnswer("absent")
    stock, version, holds = _state(value)
    held = _held(holds, order_id)
    if held is None:
        return None, StockAnswer("absent", stock)
    rest = {k: v for k, v in holds.items() if k != order_id}
    return _with(value, stock + held, version + 1, rest), StockAnswer("released", stock + held, held)


def settle(value: Value | None, order_id: str) -> tuple[Value | None, StockAnswer]:
    """Turn ``order_id``'s hold into a sale: the hold goes, available stays reduced."""
    _check_order_id(order_id)
    if value is None:
        return None, StockAnswer("absent")
    stock, version, holds = _state(value)
    held = _held(holds, order_id)
    if held is None:
        return None, StockAnswer("absent", stock)
    rest = {k: v for k, v in holds.items() if k != order_id}
    return _with(value, stock, version + 1, rest), StockAnswer("settled", stock, held)


# ---- the wire side: what execute_on_key sends -------------------------------------------------
class MemberProcessor(IdentifiedDataSerializable):
    """Base of every processor of the member factory: ids, equality by fields, a readable repr.

    Subclasses set ``CLASS_ID`` (the Java class's id in ``MemberFactory``) and write and
    read their fields in the Java class's order.
    """

    CLASS_ID = 0

    def get_factory_id(self) -> int:
        return FACTORY_ID

    def get_class_id(self) -> int:
        return self.CLASS_ID

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and vars(other) == vars(self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in vars(self).items())})"


class StockProcessor(MemberProcessor):
    """Base of the stock processors: ``order_id`` on the wire, :meth:`apply` in-process."""

    def __init__(self, order_id: str = "") -> None:
        self.order_id = order_id

    def apply(self, value: Value | None) -> tuple[Value | None, StockAnswer]:
        """The in-process counterpart of the Java ``process``."""
        raise NotImplementedError

    def write_data(self, out: ObjectDataOutput) -> None:
        out.write_string(self.order_id)

    def read_data(self, inp: ObjectDataInput) -> None:
        self.order_id = inp.read_string()


class StockHold(StockProcessor):
    """``io.spacegrid.member.StockHold``: see :func:`hold`."""

    CLASS_ID = STOCK_HOLD

    def __init__(self, order_id: str = "", qty: int = 0, now_ms: int = 0) -> None:
        super().__init__(order_id)
        self.qty = qty
        self.now_ms = now_ms

    def apply(self, value: Value | None) -> tuple[Value | None, StockAnswer]:
        return hold(value, self.order_id, self.qty, self.now_ms)

    def write_data(self, out: ObjectDataOutput) -> None:
        super().write_data(out)
        out.write_long(self.qty)
        out.write_long(self.now_ms)

    def read_data(self, inp: ObjectDataInput) -> None:
        super().read_data(inp)
        self.qty = inp.read_long()
        self.now_ms = inp.read_long()


class StockRelease(StockProcessor):
    """``io.spacegrid.member.StockRelease``: see :func:`release`."""

    CLASS_ID = STOCK_RELEASE

    def apply(self, value: Value | None) -> tuple[Value | None, StockAnswer]:
        return release(value, self.order_id)


class StockSettle(StockProcessor):
    """``io.spacegrid.member.StockSettle``: see :func:`settle`."""

    CLASS_ID = STOCK_SETTLE

    def apply(self, value: Value | None) -> tuple[Value | None, StockAnswer]:
        return settle(value, self.order_id)


def data_serializable_factories() -> dict[int, dict[int, type[IdentifiedDataSerializable]]]:
    """The client option ``data_serializable_factories``; only needed to *read* these objects
    back (results are plain strings, so execute_on_key works without it). Covers every
    class of the factory, the journal-credit processors (:mod:`grid_config.credit_processors`,
    ids 4 and 5) included."""
    from grid_config.credit_processors import CreditsGive, CreditsTake  # imports this module

    classes: tuple[type[Any], ...] = (StockHold, StockRelease, StockSettle, CreditsTake, CreditsGive)
    return {FACTORY_ID: {c.CLASS_ID: c for c in classes}}
