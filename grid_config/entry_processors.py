"""Entry processors: single-key atomic steps that run where the entry lives.

Writes without transactions (decision 0020, docs/guarantees.md G5): an order *holds* stock per line
with an idempotent processor, commits with ``put_if_absent``, then *settles* the holds (or
*releases* them if it gave up); a cancelled order *returns* its sold stock, once. On
Hazelcast the steps are the Java classes of grid_config/member/ (``io.spacegrid.member``),
run on the key's partition thread; this module holds, for each of them,

* an :class:`~hazelcast.serialization.api.IdentifiedDataSerializable` with the same
  factory and class ids, to send with ``IMap.execute_on_key`` (the member deserializes it
  into the Java class and runs that);
* the same semantics as a pure function over a decoded value (:func:`hold`,
  :func:`release`, :func:`settle`, :func:`return_stock`, :func:`forget`), for the
  in-process grid. ``tests/contract/stock_processor_contract.py`` holds both to one behaviour.

Every processor answers a small canonical JSON string (:class:`StockAnswer`), so the
client needs no factory to read results. A step that changes nothing leaves the entry
byte-identical: the pure functions return ``None`` as the new value, the Java side skips
``setValue`` (no journal event) and sends no backup.

The processors run on the product entry (map ``<namespace>products``, key = product id; the
whole product, decision 0017) and touch only its stock part::

    {"stock": available, "version": v,
     "holds": {order_id: {"at": ms, "qty": q, "by": attempt}},
     "returns": {order_id: {"at": ms, "qty": q}},
     "_meta": {"changed_at": iso, "request_id": rid}, ...}

Every other field (the catalog fields, the adapter's ``_sk``) is kept as it is. ``holds``
and ``returns`` are omitted when empty, so an entry without them is exactly the shape
written before they existed and code reading ``stock``/``version`` is unaffected.
``available`` excludes held quantities. Conservation (G5)::

    initial = available + sum(holds) + settled - returned

Every step that changes the entry bumps ``version`` by 1, settling and forgetting included
(the stored state changes, and every distinct state needs a distinct version for the
writers' version guard and event order), and sets ``_meta`` to ``{"changed_at",
"request_id"}`` of the step (the shape of :func:`grid_config.events.stamped`: the journal
event of the change carries them). Backups re-run the processor, so it is deterministic:
the hold's and the return's ``at`` and ``changed_at`` come from the caller (the Python
constructors default ``changed_at`` to :func:`~grid_config.events.utc_now_iso` on the
client); the member never reads a clock.

Every processor sends, in this order, ``order_id`` (non-empty), ``attempt``, ``request_id``
and ``changed_at`` (ISO-8601 UTC with milliseconds, ``2026-11-28T10:00:00.000Z``), then
its own fields. A missing entry is never created: "missing" for hold and return,
"absent" for release, settle and forget.

* ``hold(order_id, attempt, qty, now_ms)``: a hold for ``order_id`` exists: taken by the
  same ``attempt``, "held" with its qty (a retry gets the first answer); by another
  attempt, "busy" with available; nothing changes either way. Else available < qty:
  "short" with available, nothing changes. Else available -= qty, ``holds[order_id] =
  {"at": now_ms, "qty": qty, "by": attempt}``, "held". A "held" answer also carries the
  entry's ``price_cents`` (an integer >= 0, else left out): the price the line sells at.
* ``release(order_id, attempt)``: the hold of ``order_id`` taken by ``attempt`` is removed
  and given back (available += qty), "released" with its qty; otherwise "absent".
* ``settle(order_id, attempt)``: the hold of ``order_id`` taken by ``attempt`` is removed,
  available stays reduced (it is sold), "settled" with its qty; otherwise "absent".
* ``return_stock(order_id, qty, now_ms)``: ``returns[order_id]`` exists: "returned" with
  its qty, nothing changes (a repeat). Else available += qty, ``returns[order_id] =
  {"at": now_ms, "qty": qty}``, "returned".
* ``forget(order_id)``: ``returns[order_id]`` exists: it is removed, "forgot" with its qty;
  otherwise "absent".
* ``steps([step, ...])`` (:class:`StockSteps`): several of the above on one entry, in order,
  as one change (one version, one journal event): how a unit's next hold of a product
  carries the settles of its committed orders (decision 0033).

Why holds are scoped to an attempt: order ids are derived (user + idempotency key, G6), so
a duplicate request carries the same order id as the first. Each request is its own
attempt; a duplicate that finds the hold taken by another attempt gets "busy" and can
neither release nor settle a hold it did not take (its release or settle is "absent" and
changes nothing), so a losing duplicate can never give back or sell the winner's stock.
Holds written before attempts existed have no ``by`` and count as taken by attempt ``""``.
Why returns carry a marker: a cancel gives its order's sold stock back with
:func:`return_stock`, and the marker makes a retried or duplicated cancel a no-op, so the
give-back happens exactly once; the reaper drops markers past their retention with
:func:`forget` (:func:`stale_returns` finds them, :func:`stale_holds` the holds left by a
unit that died).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal, Mapping, Protocol, Sequence, TypeVar

import orjson
from hazelcast.serialization.api import IdentifiedDataSerializable, ObjectDataInput, ObjectDataOutput

from grid_config.events import stamped, utc_now_iso

Value = dict[str, Any]

#: the one DataSerializableFactory of the member-side code (io.spacegrid.member.MemberFactory)
FACTORY_ID = 7311
STOCK_HOLD = 1
STOCK_RELEASE = 2
STOCK_SETTLE = 3
# 4 CREDITS_TAKE, 5 CREDITS_GIVE: grid_config/credit_processors.py (never reuse an id)
STOCK_RETURN = 6
STOCK_FORGET = 7
# 8 MEMBER_STATUS: a task run on every member (grid_config/member_status.py)
STOCK_STEPS = 9
# 10 ID_ORDER: a comparator, the order of a query's page (grid_config/hazelcast_grid.IdOrder)
#: steps in one :class:`StockSteps` at most (the Java side refuses more)
MAX_STEPS = 1024

Outcome = Literal["held", "short", "busy", "missing", "released", "settled", "absent", "returned", "forgot"]
#: outcomes of steps that never change the entry (no journal entry: the grid returns the
#: write's journal credit, G7); "held" and "returned" may also be repeats, which keep theirs
NO_CHANGE: frozenset[str] = frozenset({"short", "busy", "missing", "absent"})


@dataclass(frozen=True)
class StockAnswer:
    """What a stock step did: ``outcome``, the ``available`` count after it, the step's ``qty``.

    held: the order holds ``qty`` for this attempt (new, or an earlier hold repeated: same
    answer); busy: another attempt holds stock for this order, refused; short: refused,
    ``available`` is what is left; missing: no such product (hold, return);
    released / settled: the attempt's hold of ``qty`` was given back / turned into a sale;
    returned: ``qty`` went back to the stock for this order, now or by an earlier return;
    forgot: the return marker of ``qty`` was dropped;
    absent: nothing to release, settle or forget (already done, never done, another
    attempt's hold, or no such product).
    """

    outcome: Outcome
    available: int | None = None
    qty: int | None = None
    #: "held" only: the product's price, read in the same step that took the stock
    price_cents: int | None = None

    def to_json(self) -> str:
        """The canonical JSON the Java processors return (absent fields left out)."""
        doc = {k: v for k, v in (("available", self.available), ("outcome", self.outcome), ("qty", self.qty),
                                 ("price_cents", self.price_cents)) if v is not None}
        return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS).decode()

    @classmethod
    def from_json(cls, text: str | bytes) -> "StockAnswer":
        """Decode a processor's result (as ``execute_on_key`` returns it)."""
        return cls.from_doc(orjson.loads(text))

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> "StockAnswer":
        return cls(outcome=doc["outcome"], available=doc.get("available"), qty=doc.get("qty"),
                   price_cents=doc.get("price_cents"))


# ---- the semantics, in-process --------------------------------------------------------------
#: the contract's timestamp format (grid_config.events.utc_now_iso); the Java side checks the same
_CHANGED_AT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z")


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"stock entry: {what!r} is missing or not an integer: {value!r}")
    return value


def _object(value: Mapping[str, Any], field: str) -> dict[str, Any]:
    found = value.get(field)
    if found is None:
        return {}
    if not isinstance(found, dict):
        raise ValueError(f"stock entry: {field!r} is not an object")
    return found


@dataclass(frozen=True)
class _State:
    """The stock part of an entry, validated (the input's own dicts: never mutate them)."""

    stock: int
    version: int
    holds: dict[str, Any]
    returns: dict[str, Any]

    @classmethod
    def of(cls, value: Mapping[str, Any]) -> "_State":
        return cls(_int(value.get("stock"), "stock"), _int(value.get("version"), "version"),
                   _object(value, "holds"), _object(value, "returns"))

    def hold(self, order_id: str) -> tuple[int, str] | None:
        """(qty, attempt) of ``order_id``'s hold; a hold without ``by`` is attempt ``""``."""
        found = self.holds.get(order_id)
        if found is None:
            return None
        if not isinstance(found, dict):
            raise ValueError(f"stock entry: hold {order_id!r} is not an object")
        by = found.get("by", "")
        if not isinstance(by, str):
            raise ValueError(f"stock entry: hold {order_id!r} has a 'by' that is not a string: {by!r}")
        return _int(found.get("qty"), "qty"), by

    def attempt_of(self, order_id: str) -> str:
        """The attempt that took ``order_id``'s hold (which must exist)."""
        found = self.hold(order_id)
        if found is None:
            raise KeyError(order_id)
        return found[1]

    def taken(self, order_id: str, attempt: str) -> int | None:
        """The qty of ``order_id``'s hold if ``attempt`` took it (else None: no hold, or
        another attempt's)."""
        found = self.hold(order_id)
        return found[0] if found is not None and found[1] == attempt else None

    def returned(self, order_id: str) -> int | None:
        """The qty of ``order_id``'s return marker."""
        found = self.returns.get(order_id)
        if found is None:
            return None
        if not isinstance(found, dict):
            raise ValueError(f"stock entry: return {order_id!r} is not an object")
        return _int(found.get("qty"), "qty")


def _changed(value: Mapping[str, Any], state: _State, stock: int, holds: dict[str, Any],
             returns: dict[str, Any], request_id: str, changed_at: str) -> Value:
    """The new entry after a change (the input is never mutated): version + 1, ``_meta``
    of this step, ``holds`` / ``returns`` left out when empty, every other field kept."""
    new = {k: v for k, v in value.items() if k not in ("holds", "returns")}
    new["stock"], new["version"] = stock, state.version + 1
    if holds:
        new["holds"] = holds
    if returns:
        new["returns"] = returns
    return stamped(new, request_id, changed_at)


def _without(objects: Mapping[str, Any], order_id: str) -> dict[str, Any]:
    return {k: v for k, v in objects.items() if k != order_id}


def _check_order_id(order_id: str) -> None:
    if not isinstance(order_id, str) or not order_id:
        raise ValueError("order id must be a non-empty string")


def _check_common(order_id: str, attempt: str, request_id: str, changed_at: str) -> None:
    """The common wire fields, checked as the Java processors check them."""
    _check_order_id(order_id)
    if not isinstance(attempt, str):
        raise ValueError(f"attempt must be a string, got {attempt!r}")
    if not isinstance(request_id, str):
        raise ValueError(f"request id must be a string, got {request_id!r}")
    if not isinstance(changed_at, str) or not _CHANGED_AT.fullmatch(changed_at):
        raise ValueError(f"changed_at must be ISO-8601 UTC with milliseconds, got {changed_at!r}")


def _check_qty(qty: int, now_ms: int) -> None:
    if isinstance(qty, bool) or not isinstance(qty, int) or qty <= 0:
        raise ValueError(f"qty must be a positive integer, got {qty!r}")
    if isinstance(now_ms, bool) or not isinstance(now_ms, int):
        raise ValueError(f"now_ms must be an integer, got {now_ms!r}")


def hold(value: Value | None, order_id: str, attempt: str, qty: int, now_ms: int,
         request_id: str, changed_at: str) -> tuple[Value | None, StockAnswer]:
    """Hold ``qty`` for ``order_id`` by ``attempt``, once; returns (new value or None when
    unchanged, answer)."""
    _check_common(order_id, attempt, request_id, changed_at)
    _check_qty(qty, now_ms)
    if value is None:
        return None, StockAnswer("missing")
    state = _State.of(value)
    existing = state.hold(order_id)
    price = value.get("price_cents")
    if isinstance(price, bool) or not isinstance(price, int) or price < 0:
        price = None
    if existing is not None:
        held, by = existing
        if by == attempt:
            return None, StockAnswer("held", state.stock, held, price)
        return None, StockAnswer("busy", state.stock)
    if state.stock < qty:
        return None, StockAnswer("short", state.stock)
    holds = {**state.holds, order_id: {"at": now_ms, "by": attempt, "qty": qty}}
    new = _changed(value, state, state.stock - qty, holds, state.returns, request_id, changed_at)
    return new, StockAnswer("held", state.stock - qty, qty, price)


def release(value: Value | None, order_id: str, attempt: str, request_id: str,
            changed_at: str) -> tuple[Value | None, StockAnswer]:
    """Give the hold ``attempt`` took for ``order_id`` back to the available stock, once."""
    _check_common(order_id, attempt, request_id, changed_at)
    if value is None:
        return None, StockAnswer("absent")
    state = _State.of(value)
    held = state.taken(order_id, attempt)
    if held is None:
        return None, StockAnswer("absent", state.stock)
    new = _changed(value, state, state.stock + held, _without(state.holds, order_id), state.returns,
                   request_id, changed_at)
    return new, StockAnswer("released", state.stock + held, held)


def settle(value: Value | None, order_id: str, attempt: str, request_id: str,
           changed_at: str) -> tuple[Value | None, StockAnswer]:
    """Turn the hold ``attempt`` took for ``order_id`` into a sale: the hold goes, available
    stays reduced."""
    _check_common(order_id, attempt, request_id, changed_at)
    if value is None:
        return None, StockAnswer("absent")
    state = _State.of(value)
    held = state.taken(order_id, attempt)
    if held is None:
        return None, StockAnswer("absent", state.stock)
    new = _changed(value, state, state.stock, _without(state.holds, order_id), state.returns,
                   request_id, changed_at)
    return new, StockAnswer("settled", state.stock, held)


def return_stock(value: Value | None, order_id: str, qty: int, now_ms: int, request_id: str,
                 changed_at: str) -> tuple[Value | None, StockAnswer]:
    """Give ``qty`` of ``order_id``'s sold stock back, exactly once (a repeat answers the
    first return's qty and changes nothing)."""
    _check_common(order_id, "", request_id, changed_at)
    _check_qty(qty, now_ms)
    if value is None:
        return None, StockAnswer("missing")
    state = _State.of(value)
    done = state.returned(order_id)
    if done is not None:
        return None, StockAnswer("returned", state.stock, done)
    returns = {**state.returns, order_id: {"at": now_ms, "qty": qty}}
    new = _changed(value, state, state.stock + qty, state.holds, returns, request_id, changed_at)
    return new, StockAnswer("returned", state.stock + qty, qty)


def forget(value: Value | None, order_id: str, request_id: str,
           changed_at: str) -> tuple[Value | None, StockAnswer]:
    """Drop ``order_id``'s return marker (the stock stays; a later return would count again)."""
    _check_common(order_id, "", request_id, changed_at)
    if value is None:
        return None, StockAnswer("absent")
    state = _State.of(value)
    done = state.returned(order_id)
    if done is None:
        return None, StockAnswer("absent", state.stock)
    new = _changed(value, state, state.stock, state.holds, _without(state.returns, order_id),
                   request_id, changed_at)
    return new, StockAnswer("forgot", state.stock, done)


def steps(value: Value | None, processors: "Sequence[StockProcessor]") -> tuple[Value | None, list[StockAnswer]]:
    """Several steps on one entry, in order, as one change (:class:`StockSteps`): each step
    runs on what the previous left and answers as it would alone; when any changed the
    entry, the result is one stored change (``version`` + 1 over the entry as it was,
    ``_meta`` of the last step that changed it). Every step is checked before any runs."""
    if not processors or len(processors) > MAX_STEPS:
        raise ValueError(f"stock steps: 1 to {MAX_STEPS} steps, got {len(processors)}")
    for p in processors:
        p.check()
    current, changed, answers = value, False, []
    for p in processors:
        new, answer = p.apply(current)
        answers.append(answer)
        if new is not None:
            current, changed = new, True
    if not changed or value is None or current is None:
        return None, answers
    return {**current, "version": _State.of(value).version + 1}, answers


# ---- for the reaper ---------------------------------------------------------------------------
def _at(entry: Any, what: str) -> int:
    if not isinstance(entry, dict):
        raise ValueError(f"stock entry: {what} is not an object")
    return _int(entry.get("at"), "at")


def stale_holds(value: Mapping[str, Any] | None, older_than_ms: int) -> list[tuple[str, str, int]]:
    """``(order_id, attempt, at)`` of every hold taken before ``older_than_ms`` (``at`` <
    it), oldest first (then by order id); a hold without ``by`` has attempt ``""``. The
    reaper settles (order stored) or releases (order absent) each with that attempt."""
    if value is None:
        return []
    state = _State.of(value)
    found: list[tuple[str, str, int]] = []
    for order_id, entry in state.holds.items():
        at = _at(entry, f"hold {order_id!r}")
        if at < older_than_ms:
            found.append((order_id, state.attempt_of(order_id), at))
    return sorted(found, key=lambda h: (h[2], h[0]))


def stale_returns(value: Mapping[str, Any] | None, older_than_ms: int) -> list[str]:
    """Order ids of the return markers written before ``older_than_ms`` (``at`` < it), oldest
    first (then by order id): the ones the reaper may :func:`forget`."""
    if value is None:
        return []
    state = _State.of(value)
    found = [(_at(entry, f"return {order_id!r}"), order_id) for order_id, entry in state.returns.items()]
    return [order_id for at, order_id in sorted(found) if at < older_than_ms]


# ---- the wire side: what execute_on_key sends -------------------------------------------------
A = TypeVar("A", covariant=True)


class MemberStep(Protocol[A]):
    """What ``Grid.execute`` runs: a :class:`StockProcessor` (answer :class:`StockAnswer`) or
    :class:`StockSteps` (answer: a list of them)."""

    def apply(self, value: Value | None) -> tuple[Value | None, A]: ...

    def decode(self, raw: str | bytes) -> A: ...

    def changed_nothing(self, answer: Any) -> bool: ...


class MemberObject(IdentifiedDataSerializable):
    """An object of the member factory: its ids. Subclasses set ``CLASS_ID`` (the Java
    class's id in ``MemberFactory``)."""

    CLASS_ID = 0

    def get_factory_id(self) -> int:
        return FACTORY_ID

    def get_class_id(self) -> int:
        return self.CLASS_ID


class NoFields(MemberObject):
    """A member object with nothing on the wire (``io.spacegrid.member.NoFields``: a task
    that answers about its member, a comparator)."""

    def write_data(self, object_data_output: ObjectDataOutput) -> None:
        pass

    def read_data(self, object_data_input: ObjectDataInput) -> None:
        pass


class MemberProcessor(MemberObject):
    """Base of every processor of the member factory: ids, equality by fields, a readable repr.

    Subclasses set ``CLASS_ID`` and write and read their fields in the Java class's order.
    """

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and vars(other) == vars(self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in vars(self).items())})"


class StockProcessor(MemberProcessor):
    """Base of the stock processors: the common wire fields (``order_id``, ``attempt``,
    ``request_id``, ``changed_at``, in this order), :meth:`apply` in-process.

    An empty ``changed_at`` is the client's clock now (:func:`~grid_config.events.utc_now_iso`),
    fixed here once: the member and its backup run the step with this value. Every argument
    has a default only so that the client's serializer can create an empty instance to read
    into; a processor to run needs its real values.
    """

    def __init__(self, order_id: str = "", attempt: str = "", request_id: str = "",
                 changed_at: str = "") -> None:
        self.order_id = order_id
        self.attempt = attempt
        self.request_id = request_id
        self.changed_at = changed_at or utc_now_iso()

    def apply(self, value: Value | None) -> tuple[Value | None, StockAnswer]:
        """The in-process counterpart of the Java ``process``."""
        raise NotImplementedError

    def check(self) -> None:
        """Refuse bad arguments, as the Java ``check`` does before any entry is read."""
        _check_common(self.order_id, self.attempt, self.request_id, self.changed_at)

    @staticmethod
    def decode(raw: str | bytes) -> StockAnswer:
        """The answer from what the member returned."""
        return StockAnswer.from_json(raw)

    @staticmethod
    def changed_nothing(answer: StockAnswer) -> bool:
        """Whether the step certainly wrote nothing (no journal event: its credit goes back)."""
        return answer.outcome in NO_CHANGE

    def write_data(self, out: ObjectDataOutput) -> None:
        out.write_string(self.order_id)
        out.write_string(self.attempt)
        out.write_string(self.request_id)
        out.write_string(self.changed_at)

    def read_data(self, inp: ObjectDataInput) -> None:
        self.order_id = inp.read_string()
        self.attempt = inp.read_string()
        self.request_id = inp.read_string()
        self.changed_at = inp.read_string()


class _Quantified(StockProcessor):
    """A stock processor with ``qty`` and ``now_ms`` after the common fields."""

    qty: int
    now_ms: int

    def write_data(self, out: ObjectDataOutput) -> None:
        super().write_data(out)
        out.write_long(self.qty)
        out.write_long(self.now_ms)

    def read_data(self, inp: ObjectDataInput) -> None:
        super().read_data(inp)
        self.qty = inp.read_long()
        self.now_ms = inp.read_long()

    def check(self) -> None:
        super().check()
        _check_qty(self.qty, self.now_ms)


class StockHold(_Quantified):
    """``io.spacegrid.member.StockHold``: see :func:`hold`."""

    CLASS_ID = STOCK_HOLD

    def __init__(self, order_id: str = "", attempt: str = "", qty: int = 0, now_ms: int = 0,
                 request_id: str = "", changed_at: str = "") -> None:
        super().__init__(order_id, attempt, request_id, changed_at)
        self.qty = qty
        self.now_ms = now_ms

    def apply(self, value: Value | None) -> tuple[Value | None, StockAnswer]:
        return hold(value, self.order_id, self.attempt, self.qty, self.now_ms, self.request_id, self.changed_at)


class StockRelease(StockProcessor):
    """``io.spacegrid.member.StockRelease``: see :func:`release`."""

    CLASS_ID = STOCK_RELEASE

    def __init__(self, order_id: str = "", attempt: str = "", request_id: str = "", changed_at: str = "") -> None:
        super().__init__(order_id, attempt, request_id, changed_at)

    def apply(self, value: Value | None) -> tuple[Value | None, StockAnswer]:
        return release(value, self.order_id, self.attempt, self.request_id, self.changed_at)


class StockSettle(StockProcessor):
    """``io.spacegrid.member.StockSettle``: see :func:`settle`."""

    CLASS_ID = STOCK_SETTLE

    def __init__(self, order_id: str = "", attempt: str = "", request_id: str = "", changed_at: str = "") -> None:
        super().__init__(order_id, attempt, request_id, changed_at)

    def apply(self, value: Value | None) -> tuple[Value | None, StockAnswer]:
        return settle(value, self.order_id, self.attempt, self.request_id, self.changed_at)


class StockReturn(_Quantified):
    """``io.spacegrid.member.StockReturn``: see :func:`return_stock` (``attempt`` is sent
    empty; returns are scoped to the order only)."""

    CLASS_ID = STOCK_RETURN

    def __init__(self, order_id: str = "", qty: int = 0, now_ms: int = 0, request_id: str = "",
                 changed_at: str = "") -> None:
        super().__init__(order_id, "", request_id, changed_at)
        self.qty = qty
        self.now_ms = now_ms

    def apply(self, value: Value | None) -> tuple[Value | None, StockAnswer]:
        return return_stock(value, self.order_id, self.qty, self.now_ms, self.request_id, self.changed_at)


class StockForget(StockProcessor):
    """``io.spacegrid.member.StockForget``: see :func:`forget` (``attempt`` is sent empty)."""

    CLASS_ID = STOCK_FORGET

    def __init__(self, order_id: str = "", request_id: str = "", changed_at: str = "") -> None:
        super().__init__(order_id, "", request_id, changed_at)

    def apply(self, value: Value | None) -> tuple[Value | None, StockAnswer]:
        return forget(value, self.order_id, self.request_id, self.changed_at)


class StockSteps(MemberProcessor):
    """``io.spacegrid.member.StockSteps``: see :func:`steps`. On the wire: the number of
    steps, then each step's class id and its fields; the answer is a JSON array of the
    steps' answers."""

    CLASS_ID = STOCK_STEPS

    def __init__(self, processors: "Sequence[StockProcessor]" = ()) -> None:
        self.processors = list(processors)

    def apply(self, value: Value | None) -> tuple[Value | None, list[StockAnswer]]:
        return steps(value, self.processors)

    @staticmethod
    def decode(raw: str | bytes) -> list[StockAnswer]:
        return [StockAnswer.from_doc(d) for d in orjson.loads(raw)]

    @staticmethod
    def changed_nothing(answers: list[StockAnswer]) -> bool:
        return all(a.outcome in NO_CHANGE for a in answers)

    def write_data(self, out: ObjectDataOutput) -> None:
        out.write_int(len(self.processors))
        for p in self.processors:
            out.write_int(p.CLASS_ID)
            p.write_data(out)

    def read_data(self, inp: ObjectDataInput) -> None:
        classes = data_serializable_factories()[FACTORY_ID]
        self.processors = []
        for _ in range(inp.read_int()):
            p = classes[inp.read_int()]()
            p.read_data(inp)
            self.processors.append(p)


def data_serializable_factories() -> dict[int, dict[int, type[IdentifiedDataSerializable]]]:
    """The client option ``data_serializable_factories``; only needed to *read* these objects
    back (results are plain strings, so execute_on_key works without it). Covers every
    class of the factory, the journal-credit processors (:mod:`grid_config.credit_processors`,
    ids 4 and 5) included."""
    from grid_config.credit_processors import CreditsGive, CreditsTake  # imports this module

    classes: tuple[type[Any], ...] = (StockHold, StockRelease, StockSettle, CreditsTake, CreditsGive,
                                      StockReturn, StockForget, StockSteps)
    return {FACTORY_ID: {c.CLASS_ID: c for c in classes}}
