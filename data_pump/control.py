"""Ownership notes on the control topic: which pump took which shard, and when.

The control topic exists for its *partitions* (Kafka's group assignment of them decides
which pump drains which shard); its messages are only an audit trail: a pump that
starts draining shard *s* writes a note into partition *s*, and every pump's control
agent reads the notes of the partitions it owns. Pure functions, so the Faust agent
around them stays a thin loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from grid_config.events import utc_now_iso


@dataclass(frozen=True)
class OwnershipNote:
    shard: int
    pump: str
    at: str

    def to_bytes(self) -> bytes:
        return orjson.dumps({"shard": self.shard, "pump": self.pump, "at": self.at})


def acquired(shard: int, pump: str) -> OwnershipNote:
    return OwnershipNote(shard=shard, pump=pump, at=utc_now_iso())


def parse_note(raw: bytes) -> OwnershipNote | None:
    """Decode a note; anything else on the control topic is ignored (None), never fatal."""
    try:
        doc = orjson.loads(raw)
        return OwnershipNote(shard=int(doc["shard"]), pump=str(doc["pump"]), at=str(doc["at"]))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
