"""Journal credits (G7, decision 0018): the entry processors that keep un-shipped journal
entries of every (map, partition) below a bound B.

A counter entry per (journaled map, partition) in the map ``<namespace>journal-credits``
(:attr:`grid_config.names.Names.journal_credits`), key ``"<map name>#<partition>"``
(:func:`grid_config.journal.credit_key`), value ``{"credits": c}``. A unit *takes* one
credit per journal entry its write will append to that (map, partition), atomically and
before writing; it answers 503 when refused. The pump *gives* back as many as Kafka
acknowledged. A missing entry is the full budget (c = B); a stored count above B (B was
lowered since) counts as B. Invariant: credits + taken-but-not-yet-shipped <= B.

As in :mod:`grid_config.entry_processors` (same factory 7311, class ids 4 and 5): the Java
classes ``io.spacegrid.member.CreditsTake`` / ``CreditsGive`` run on the member,
:class:`CreditsTake` / :class:`CreditsGive` here are their wire twins, and
:func:`take_credits` / :func:`give_credits` are the same semantics as pure functions for
the in-process grid. ``tests/contract/credit_processor_contract.py`` holds both to one
behaviour. A step that changes nothing leaves the entry alone (None as new value; no
``setValue``, no backup on the member). Answers are canonical JSON (:class:`CreditAnswer`).

* take(n, B): c >= n: c -= n, stored (a missing entry is created), "taken" with the new c;
  else nothing changes, "refused" with c.
* give(n, B): c = min(B, c + n), stored only if changed, "given" with the new c and
  ``capped``, how many of n the bound cut off (a give beyond B means credits were given
  that had not been taken: a reconciliation raced, or a write skipped its take). A give on a
  missing entry changes nothing and creates nothing (missing is already B).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Mapping

import orjson
from hazelcast.serialization.api import ObjectDataInput, ObjectDataOutput

from grid_config.entry_processors import MemberProcessor

Value = dict[str, Any]

CREDITS_TAKE = 4
CREDITS_GIVE = 5

CreditOutcome = Literal["taken", "refused", "given"]


@dataclass(frozen=True)
class CreditAnswer:
    """What a credit step did: ``outcome``, the ``credits`` left after it, and for a give how
    many of n the bound cut off (``capped``, 0 when none)."""

    outcome: CreditOutcome
    credits: int
    capped: int = 0

    @property
    def taken(self) -> bool:
        return self.outcome == "taken"

    def to_json(self) -> str:
        """The canonical JSON the Java processors return (``capped`` left out when 0)."""
        doc: dict[str, Any] = {"credits": self.credits, "outcome": self.outcome}
        if self.capped:
            doc["capped"] = self.capped
        return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS).decode()

    @classmethod
    def from_json(cls, text: str | bytes) -> "CreditAnswer":
        """Decode a processor's result (as ``execute_on_key`` returns it)."""
        doc = orjson.loads(text)
        return cls(outcome=doc["outcome"], credits=doc["credits"], capped=doc.get("capped", 0))


# ---- the semantics, in-process --------------------------------------------------------------
_MAX_LONG = 2**63 - 1


def _check_args(n: int, bound: int) -> None:
    for what, v in (("n", n), ("bound", bound)):
        if isinstance(v, bool) or not isinstance(v, int) or not 0 < v <= _MAX_LONG:
            raise ValueError(f"{what} must be a positive integer (a Java long), got {v!r}")


def _credits(value: Mapping[str, Any] | None, bound: int) -> int:
    """The effective count: B when missing, min(stored, B) otherwise."""
    if value is None:
        return bound
    c = value.get("credits")
    if isinstance(c, bool) or not isinstance(c, int):
        raise ValueError(f"credits entry: 'credits' is missing or not an integer: {c!r}")
    if c < 0:
        raise ValueError(f"credits entry: 'credits' is negative: {c}")
    return min(c, bound)


def _with(value: Mapping[str, Any] | None, credits: int) -> Value:
    """A new entry (the input is never mutated); other fields kept."""
    return {**(value or {}), "credits": credits}


def take_credits(value: Value | None, n: int, bound: int) -> tuple[Value | None, CreditAnswer]:
    """Take ``n`` credits if there are that many; returns (new value or None, answer)."""
    _check_args(n, bound)
    c = _credits(value, bound)
    if c < n:
        return None, CreditAnswer("refused", c)
    return _with(value, c - n), CreditAnswer("taken", c - n)


def give_credits(value: Value | None, n: int, bound: int) -> tuple[Value | None, CreditAnswer]:
    """Give ``n`` credits back, never above ``bound``; returns (new value or None, answer)."""
    _check_args(n, bound)
    c = _credits(value, bound)
    added = min(n, bound - c)
    answer = CreditAnswer("given", c + added, n - added)
    return (None if added == 0 else _with(value, c + added)), answer


# ---- the wire side: what execute_on_key sends -------------------------------------------------
class CreditsProcessor(MemberProcessor):
    """Base of the credit processors: ``n`` and ``bound`` on the wire (two longs)."""

    def __init__(self, n: int = 0, bound: int = 0) -> None:
        self.n = n
        self.bound = bound

    def apply(self, value: Value | None) -> tuple[Value | None, CreditAnswer]:
        """The in-process counterpart of the Java ``process``."""
        raise NotImplementedError

    def write_data(self, out: ObjectDataOutput) -> None:
        out.write_long(self.n)
        out.write_long(self.bound)

    def read_data(self, inp: ObjectDataInput) -> None:
        self.n = inp.read_long()
        self.bound = inp.read_long()


class CreditsTake(CreditsProcessor):
    """``io.spacegrid.member.CreditsTake``: see :func:`take_credits`."""

    CLASS_ID = CREDITS_TAKE

    def apply(self, value: Value | None) -> tuple[Value | None, CreditAnswer]:
        return take_credits(value, self.n, self.bound)


class CreditsGive(CreditsProcessor):
    """``io.spacegrid.member.CreditsGive``: see :func:`give_credits`."""

    CLASS_ID = CREDITS_GIVE

    def apply(self, value: Value | None) -> tuple[Value | None, CreditAnswer]:
        return give_credits(value, self.n, self.bound)
