"""The pure parts of grid_config.hazelcast_journal: journal item layout, gap arithmetic,
and the guard that refuses an unverified client version."""

from __future__ import annotations

import struct

import pytest
from hazelcast.config import Config
from hazelcast.core import HazelcastJsonValue
from hazelcast.serialization.data import Data
from hazelcast.serialization.service import SerializationServiceV1

from grid_config import hazelcast_journal as journal
from grid_config.hazelcast_journal import JournalBatch, JournalDecodeError, decode_event


def data_bytes(part: bytes | None) -> bytes:
    return struct.pack(">i", -1) if part is None else struct.pack(">i", len(part)) + part


def event_item(
    event_type: int, key: bytes | None, new: bytes | None, old: bytes | None,
    *, flags: int = 1, ids: tuple[int, int] = (-4, 132), version: bytes = b"",
) -> bytes:
    """A journal item as a 5.6 member serializes DeserializingEventJournalMapEvent."""
    header = struct.pack(">ii", 0, -2)  # partition hash, CONSTANT_TYPE_DATA_SERIALIZABLE
    body = bytes([flags]) + struct.pack(">ii", *ids) + version + struct.pack(">i", event_type)
    return header + body + data_bytes(key) + data_bytes(new) + data_bytes(old)


def test_decode_splits_type_key_new_and_old_and_round_trips_through_the_client() -> None:
    ss = SerializationServiceV1(Config())
    key = ss.to_data("k1").buffer
    new = ss.to_data(HazelcastJsonValue('{"v":2}')).buffer
    old = ss.to_data(HazelcastJsonValue('{"v":1}')).buffer
    raw = decode_event(event_item(4, bytes(key), bytes(new), bytes(old)))
    assert raw.type == 4
    assert ss.to_object(Data(raw.key)) == "k1"
    assert ss.to_object(Data(raw.new_value)).loads() == {"v": 2}
    assert ss.to_object(Data(raw.old_value)).loads() == {"v": 1}


def test_null_parts_and_versioned_items() -> None:
    raw = decode_event(event_item(1, b"K", b"N", None))
    assert raw == (1, b"K", b"N", None)
    raw = decode_event(event_item(2, b"K", None, b"O", flags=3, version=b"\x05\x00"))
    assert raw == (2, b"K", None, b"O")


@pytest.mark.parametrize(
    "item",
    [
        event_item(1, b"K", None, None, ids=(-4, 133)),  # another class of the map factory
        event_item(1, b"K", None, None, flags=0),  # not identified
        struct.pack(">ii", 0, -130) + b"{}" * 10,  # a JSON value, e.g. from a projection
        event_item(1, b"KEY", None, None)[:-6],  # truncated
        b"\x00" * 8,
    ],
)
def test_unexpected_layouts_fail_loudly(item: bytes) -> None:
    with pytest.raises(JournalDecodeError):
        decode_event(item)


def test_lost_is_next_minus_read_minus_requested_start() -> None:
    assert JournalBatch(start_seq=0, read_count=10, next_seq=25, events=[]).lost == 15
    assert JournalBatch(start_seq=15, read_count=10, next_seq=25, events=[]).lost == 0
    assert JournalBatch(start_seq=5, read_count=1, next_seq=1, events=[]).lost == -5


def test_another_client_version_is_refused_naming_this_module(monkeypatch: pytest.MonkeyPatch) -> None:
    import hazelcast

    monkeypatch.setattr(journal, "_BOUND", None)
    monkeypatch.setattr(hazelcast, "__version__", "5.8.0")
    with pytest.raises(journal.JournalClientUnsupported, match="grid_config/hazelcast_journal.py"):
        journal.partition_count(object())


def test_the_pinned_client_binds_and_a_non_client_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(journal, "_BOUND", None)
    journal._internals()  # the installed (pinned) client has every internal used
    with pytest.raises(journal.JournalClientUnsupported, match="_context"):
        journal.partition_count(object())
