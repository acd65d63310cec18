"""Pure batching logic of the data writers: no I/O, no driver, no Faust.

Both modes run these functions: the Faust agents (distributed) and the in-process
channel of ``spacegrid up`` (embedded). A batch of raw records goes through
:func:`prepare` -> decoded, checked, coalesced to the newest version per ``(kind, id)``
and ordered parents-first; poison is split out on the way. Inside the sink's
transaction, :func:`fresh_and_stale` drops what the database already has a newer
version of, and :func:`split_ready` defers orders whose user or products are not in the
database yet (they are retried later, never dead-lettered unless they expire, see
:class:`DeferralPolicy`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping, Sequence

from grid_config.errors import PoisonEvent
from grid_config.events import ChangeEvent, parse_iso
from grid_config.names import KINDS

#: application order inside one transaction: parents before children (foreign keys)
KIND_RANK: dict[str, int] = {"users": 0, "products": 1, "orders": 2}
MAX_BIGINT = 2**63
MAX_INT = 2**31
ORDER_STATUSES = frozenset({"placed", "paid", "shipped", "cancelled"})


@dataclass(frozen=True)
class Poison:
    """An event the writer will not apply: it goes to the dead-letter topic with ``error``."""

    error: str
    event: ChangeEvent | None = None
    raw: bytes | None = None

    def payload(self) -> bytes:
        """The original bytes when we have them, else the re-encoded event."""
        if self.raw is not None:
            return self.raw
        return self.event.to_bytes() if self.event is not None else b""

    @property
    def key(self) -> bytes | None:
        return self.event.key if self.event is not None else None


@dataclass
class Prepared:
    """A batch ready for the sink: newest version per key, parents first; and the poison."""

    events: list[ChangeEvent] = field(default_factory=list)
    poison: list[Poison] = field(default_factory=list)
    #: events received (before coalescing), for rows/s and coalescing metrics
    received: int = 0


# ---- decoding and checks --------------------------------------------------------------


def decode(raw: bytes | Mapping[str, Any] | ChangeEvent) -> ChangeEvent:
    """Bytes (Kafka), a dict (already JSON-decoded) or an event (in-process channel)."""
    if isinstance(raw, ChangeEvent):
        event = raw
    elif isinstance(raw, (bytes, bytearray, memoryview)):
        event = ChangeEvent.from_bytes(bytes(raw))
    else:
        event = ChangeEvent.from_dict(raw)
    problem = check(event)
    if problem:
        raise PoisonEvent(problem)
    return event


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _nonneg_int(state: Mapping[str, Any], name: str, required: bool) -> str | None:
    if name not in state or state[name] is None:
        return f"state.{name} is required" if required else None
    if not _is_int(state[name]) or not 0 <= state[name] < MAX_BIGINT:
        return f"state.{name} must be a non-negative 64-bit integer"
    return None


def _str(state: Mapping[str, Any], name: str, required: bool, max_len: int) -> str | None:
    v = state.get(name)
    if v is None:
        return f"state.{name} is required" if required else None
    if not isinstance(v, str) or (required and not v):
        return f"state.{name} must be a non-empty string"
    if len(v) > max_len:
        return f"state.{name} longer than {max_len}"
    return None


def check(event: ChangeEvent) -> str | None:
    """Why the database would refuse this event, or None. Deletes need no state."""
    if event.version >= MAX_BIGINT:
        return "version exceeds 64 bits"
    if len(event.id) > 64:
        return "id longer than 64 characters"
    try:
        parse_iso(event.changed_at)
    except (TypeError, ValueError):
        return f"changed_at is not ISO-8601: {event.changed_at!r}"
    if event.op == "delete":
        return None
    s = event.state
    if "id" in s and s["id"] != event.id:
        return f"state.id {s['id']!r} differs from event id {event.id!r}"
    problems: list[str | None]
    if event.kind == "users":
        problems = [_str(s, "email", True, 320), _str(s, "name", False, 200)]
        pw = s.get("password_hash", s.get("password"))
        if pw is not None and (not isinstance(pw, str) or len(pw) > 512):
            problems.append("state.password_hash must be a string of at most 512 characters")
        if "is_admin" in s and not isinstance(s["is_admin"], bool):
            problems.append("state.is_admin must be a boolean")
    elif event.kind == "products":
        problems = [
            _str(s, "name", True, 200),
            _str(s, "sku", False, 64),
            _str(s, "category", False, 100),
            _nonneg_int(s, "price_cents", True),
            _nonneg_int(s, "stock", False),
        ]
    else:
        problems = [_str(s, "user_id", True, 64), _nonneg_int(s, "total_cents", False)]
        if s.get("status") not in ORDER_STATUSES:
            problems.append(f"state.status must be one of {sorted(ORDER_STATUSES)}")
        lines = s.get("lines")
        if not isinstance(lines, list) or not lines:
            problems.append("state.lines must be a non-empty list")
        else:
            for i, line in enumerate(lines):
                if not isinstance(line, dict):
                    problems.append(f"state.lines[{i}] must be an object")
                    continue
                pid = line.get("product_id")
                if not isinstance(pid, str) or not pid or len(pid) > 64:
                    problems.append(f"state.lines[{i}].product_id must be a non-empty string")
                q = line.get("quantity")
                if not _is_int(q) or not 0 < q < MAX_INT:
                    problems.append(f"state.lines[{i}].quantity must be a positive integer")
                if "price_cents" in line and (
                    not _is_int(line["price_cents"]) or not 0 <= line["price_cents"] < MAX_BIGINT
                ):
                    problems.append(f"state.lines[{i}].price_cents must be a non-negative integer")
    found = [p for p in problems if p]
    return "; ".join(found) if found else None


# ---- coalescing and ordering ----------------------------------------------------------


def newer(a: ChangeEvent, b: ChangeEvent) -> bool:
    """True if ``a`` supersedes ``b`` (higher version; at equal version a delete wins)."""
    if a.version != b.version:
        return a.version > b.version
    return a.op == "delete" and b.op != "delete"


def coalesce(events: Iterable[ChangeEvent]) -> list[ChangeEvent]:
    """Keep the newest version of each ``(kind, id)``, in first-seen key order."""
    best: dict[tuple[str, str], ChangeEvent] = {}
    for e in events:
        k = (e.kind, e.id)
        cur = best.get(k)
        if cur is None or newer(e, cur):
            best[k] = e
    return list(best.values())


def parents_first(events: Iterable[ChangeEvent]) -> list[ChangeEvent]:
    """Users, then products, then orders (stable), so foreign keys hold inside one transaction."""
    return sorted(events, key=lambda e: KIND_RANK[e.kind])


def prepare(raws: Iterable[bytes | Mapping[str, Any] | ChangeEvent]) -> Prepared:
    """Decode, check, coalesce and order one batch; poison never stops the healthy events."""
    out = Prepared()
    good: list[ChangeEvent] = []
    for raw in raws:
        out.received += 1
        try:
            good.append(decode(raw))
        except PoisonEvent as e:
            if isinstance(raw, ChangeEvent):
                out.poison.append(Poison(str(e), event=raw))
            elif isinstance(raw, (bytes, bytearray, memoryview)):
                out.poison.append(Poison(str(e), raw=bytes(raw)))
            else:
                out.poison.append(Poison(str(e), raw=_safe_dump(raw)))
    out.events = parents_first(coalesce(good))
    return out


def _safe_dump(raw: Any) -> bytes:
    import orjson

    try:
        return orjson.dumps(raw)
    except TypeError:
        return repr(raw).encode()


# ---- decisions taken inside the sink's transaction -------------------------------------


def fresh_and_stale(
    events: Sequence[ChangeEvent], current: Mapping[str, int]
) -> tuple[list[ChangeEvent], list[ChangeEvent]]:
    """Split by the database's current version per id: only strictly newer events apply."""
    fresh, stale = [], []
    for e in events:
        (fresh if e.version > current.get(e.id, 0) else stale).append(e)
    return fresh, stale


def parents_of(event: ChangeEvent) -> tuple[set[str], set[str]]:
    """User ids and product ids an order upsert references (empty for deletes/other kinds)."""
    if event.kind != "orders" or event.op != "upsert":
        return set(), set()
    users = {event.state["user_id"]}
    products = {line["product_id"] for line in event.state.get("lines", [])}
    return users, products


def split_ready(
    orders: Sequence[ChangeEvent], users_present: set[str], products_present: set[str]
) -> tuple[list[ChangeEvent], list[ChangeEvent]]:
    """Orders whose parents are all in the database, and the ones to defer."""
    ready, deferred = [], []
    for e in orders:
        users, products = parents_of(e)
        if users <= users_present and products <= products_present:
            ready.append(e)
        else:
            deferred.append(e)
    return ready, deferred


@dataclass(frozen=True)
class DeferralPolicy:
    """How long an order may wait for its parents before it is dead-lettered.

    Deferred orders live in the database (table ``deferred_orders``), written in the
    same transaction that would have written them, so Kafka offsets can be committed and
    a crash loses nothing; memory holds one page at a time. Past ``max_age`` the order is
    dead-lettered ("parents missing for > N s") so an operator sees it in one place and
    can replay it; until then it is retried after every parent batch and on a timer.
    """

    max_age: timedelta = timedelta(hours=1)
    page: int = 1000

    def expired(self, deferred_at: datetime, now: datetime) -> bool:
        return now - deferred_at > self.max_age


def oldest_changed_at(events: Iterable[ChangeEvent]) -> datetime | None:
    """Change time of the oldest event: the writer-lag metric is ``now`` minus this."""
    stamps = [parse_iso(e.changed_at) for e in events]
    return min(stamps) if stamps else None


__all__ = [
    "KINDS",
    "KIND_RANK",
    "DeferralPolicy",
    "Poison",
    "Prepared",
    "check",
    "coalesce",
    "decode",
    "fresh_and_stale",
    "newer",
    "oldest_changed_at",
    "parents_first",
    "parents_of",
    "prepare",
    "split_ready",
]
