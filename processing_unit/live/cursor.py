"""Cursors: where a socket stands in the change stream, as text a client hands back.

A stream is read in *lanes* (one per Kafka topic partition, or the one in-process lane);
a cursor holds, per lane, the next offset not yet accounted for, plus the stream's id so a
cursor from another stream (other topics, an earlier run of ``spacegrid up``) is refused.
Text form: ``1.<stream>.<offset>.<offset>...`` with offsets in base 36 (URL-safe).
"""

from __future__ import annotations

from dataclasses import dataclass

VERSION = "1"
#: a cursor longer than this is refused before parsing (lanes are few)
MAX_TEXT = 2048


class CursorError(Exception):
    """A cursor the hub cannot serve; ``code`` is the WebSocket close code."""

    code = 4400


class MalformedCursor(CursorError):
    code = 4400


class CursorTooOld(CursorError):
    """Older than the retention window, or from another stream (run, topics)."""

    code = 4410


@dataclass(frozen=True)
class Cursor:
    stream: str
    offsets: tuple[int, ...]

    def text(self) -> str:
        return ".".join((VERSION, self.stream, *(_b36(o) for o in self.offsets)))


def parse(text: str, stream: str, lanes: int) -> Cursor:
    """The cursor ``text`` names; raises :class:`MalformedCursor` or :class:`CursorTooOld`."""
    if not text or len(text) > MAX_TEXT:
        raise MalformedCursor("cursor is empty or too long")
    parts = text.split(".")
    if len(parts) < 3 or parts[0] != VERSION or not parts[1].isalnum():
        raise MalformedCursor("not a cursor this server issued")
    try:
        offsets = tuple(int(p, 36) for p in parts[2:])
    except ValueError:
        raise MalformedCursor("not a cursor this server issued") from None
    if any(o < 0 for o in offsets) or any(not p.isalnum() for p in parts[2:]):
        raise MalformedCursor("not a cursor this server issued")
    if parts[1] != stream:
        raise CursorTooOld("the cursor is from another change stream (an earlier run, other topics)")
    if len(offsets) != lanes:
        raise MalformedCursor(f"the cursor has {len(offsets)} positions, the stream {lanes}")
    return Cursor(parts[1], offsets)


def _b36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    if n == 0:
        return "0"
    out = []
    while n:
        n, r = divmod(n, 36)
        out.append(digits[r])
    return "".join(reversed(out))
