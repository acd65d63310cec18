"""The change-event contract (docs/architecture.md, "Change events"; fixed).

One event per changed entity, carrying its full state, so writers can coalesce a key's
versions inside a batch and a compacted topic can rebuild the database by replay.
Encoding is orjson; decoding validates and raises :class:`PoisonEvent` on anything a
writer must dead-letter instead of applying.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

import orjson

from grid_config.errors import PoisonEvent
from grid_config.names import KINDS

SCHEMA_VERSION = 1
Op = Literal["upsert", "delete"]


def utc_now_iso() -> str:
    """ISO-8601 UTC with millisecond precision, the contract's timestamp format."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


@dataclass(frozen=True)
class ChangeEvent:
    kind: str
    op: Op
    id: str
    version: int
    state: dict[str, Any]
    request_id: str = ""
    changed_at: str = field(default_factory=utc_now_iso)
    schema: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "kind": self.kind,
            "op": self.op,
            "id": self.id,
            "version": self.version,
            "changed_at": self.changed_at,
            "request_id": self.request_id,
            "state": self.state,
        }

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.to_dict())

    @property
    def key(self) -> bytes:
        """The Kafka key: the entity id."""
        return self.id.encode()

    @classmethod
    def from_dict(cls, raw: Any) -> "ChangeEvent":
        if not isinstance(raw, dict):
            raise PoisonEvent("event is not a JSON object")
        if raw.get("schema") != SCHEMA_VERSION:
            raise PoisonEvent(f"unknown schema version {raw.get('schema')!r}")
        kind, op, id_, version = raw.get("kind"), raw.get("op"), raw.get("id"), raw.get("version")
        if kind not in KINDS:
            raise PoisonEvent(f"unknown kind {kind!r}")
        if op not in ("upsert", "delete"):
            raise PoisonEvent(f"unknown op {op!r}")
        if not isinstance(id_, str) or not id_:
            raise PoisonEvent("id must be a non-empty string")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise PoisonEvent("version must be a positive integer")
        state = raw.get("state")
        if not isinstance(state, dict):
            raise PoisonEvent("state must be an object")
        changed_at = raw.get("changed_at")
        try:
            parse_iso(changed_at)  # type: ignore[arg-type]
        except (TypeError, ValueError) as e:
            raise PoisonEvent(f"changed_at is not ISO-8601: {changed_at!r}") from e
        return cls(
            kind=kind,
            op=op,
            id=id_,
            version=version,
            state=state,
            request_id=str(raw.get("request_id") or ""),
            changed_at=changed_at,  # type: ignore[arg-type]
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> "ChangeEvent":
        try:
            raw = orjson.loads(data)
        except orjson.JSONDecodeError as e:
            raise PoisonEvent(f"undecodable event: {e}") from e
        return cls.from_dict(raw)


#: Stored entity values carry their change's metadata under this field: the map's journal
#: entry is the change record, so what an event needs beyond the state travels in the value.
META_FIELD = "_meta"


def stamped(state: dict[str, Any], request_id: str, changed_at: str | None = None) -> dict[str, Any]:
    """``state`` as stored: with the time and request of the change that produced it."""
    return {**state, META_FIELD: {"changed_at": changed_at or utc_now_iso(), "request_id": request_id}}


def unstamped(value: dict[str, Any]) -> dict[str, Any]:
    """The entity state of a stored value (its change metadata removed)."""
    if META_FIELD not in value:
        return value
    return {k: v for k, v in value.items() if k != META_FIELD}


def event_from_value(kind: str, entity_id: str, value: dict[str, Any] | None,
                     old: dict[str, Any] | None = None) -> ChangeEvent:
    """The change event of one journal entry: ``entity_id`` went from ``old`` to ``value``.

    A removal (``value`` None) becomes a tombstone one version past the removed state.
    Raises :class:`PoisonEvent` when the stored value is not an entity the contract allows.
    """
    if value is None:
        if not isinstance(old, dict):
            raise PoisonEvent(f"{kind} {entity_id}: removal without the removed state")
        stored, op, bump = old, "delete", 1
    else:
        stored, op, bump = value, "upsert", 0
    if not isinstance(stored, dict):
        raise PoisonEvent(f"{kind} {entity_id}: stored value is not an object")
    meta = stored.get(META_FIELD)
    meta = meta if isinstance(meta, dict) else {}
    version = stored.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise PoisonEvent(f"{kind} {entity_id}: stored value has no integer version")
    changed_at = meta.get("changed_at") if op == "upsert" else None
    return ChangeEvent.from_dict({
        "schema": SCHEMA_VERSION, "kind": kind, "op": op, "id": entity_id, "version": version + bump,
        "state": unstamped(stored), "request_id": meta.get("request_id") or "",
        "changed_at": changed_at if isinstance(changed_at, str) else utc_now_iso(),
    })


#: headers of every record on the dead-letter topic, from the pump and the writer alike:
#: why it is poison, and where it came from (a grid structure or a Kafka topic)
ERROR_HEADER = "spacegrid-error"
SOURCE_HEADER = "spacegrid-source"
#: an error text longer than this is cut (Kafka headers are not the place for tracebacks)
ERROR_HEADER_MAX = 4000


def dead_letter_headers(error: str, source: str) -> dict[str, bytes]:
    """The headers of one dead letter: the one definition both pump and writer use."""
    return {ERROR_HEADER: error.encode()[:ERROR_HEADER_MAX], SOURCE_HEADER: source.encode()}
