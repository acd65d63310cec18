"""Read a Hazelcast IMap event journal from Python, one partition at a time.

Why: the map event journal is the change record that replaces the transactional outbox
(every put/update/remove is appended in the same partition operation as the change, and
replicated with the map's backups). hazelcast-python-client 5.7 has no API for it, so this
module speaks the two client-protocol messages Hazelcast's Java client uses:
``Map.EventJournalSubscribe`` (0x014100) and ``Map.EventJournalRead`` (0x014200).

It is the ONE module that touches private client internals, all of the asyncio client
(``hazelcast.asyncio.HazelcastClient``):

* ``client._context.invocation_service`` / ``hazelcast.internal.asyncio_invocation.Invocation``
  to send a partition-targeted request (the shape of the asyncio ``Ringbuffer.read_many``);
* ``hazelcast.protocol.client_message`` (``create_initial_buffer``, ``OutboundMessage``,
  header sizes) and ``hazelcast.protocol.builtin`` codecs to build and parse frames;
* ``client._context.serialization_service`` to turn key/value ``Data`` into objects;
* ``client._context.partition_service`` (internal) for the partition count and key hashing.

The client version is pinned (constraints.txt: hazelcast-python-client==5.7.0). Any other
version, or a missing internal, makes the first call raise :class:`JournalClientUnsupported`
naming this module: re-check the internals above and the wire format against
``MapEventJournalReadCodec`` / ``DeserializingEventJournalMapEvent`` of the member version,
run tests/integration/test_hazelcast_journal.py, then extend ``SUPPORTED_CLIENT_VERSIONS``.

Journal facts the API exposes (checked on 5.6.0 members):

* Sequences are per partition. Capacity is per partition (``capacity / partition count``);
  when full, the oldest events are overwritten silently and a read from an older sequence
  starts at the oldest one still held: :attr:`JournalBatch.lost` counts what was skipped.
* ``min_size > 0`` makes :func:`read` a long poll that parks on the member until that many
  events exist. The protocol has no wait timeout: cancelling the awaiting task (e.g.
  ``asyncio.wait_for``) leaves the operation parked on the member until the next write to
  that partition. Prefer ``min_size=1`` polls that a write will end, or ``min_size=0``.
* Keys and values are deserialized with the client's serialization service (this project's
  values come back as ``HazelcastJsonValue``; compact values work too, as the decoding runs
  in the response handler where the client fetches missing schemas).

Nothing here connects or does I/O at import.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from typing import Any, NamedTuple

SUPPORTED_CLIENT_VERSIONS = frozenset({"5.7.0"})

SUBSCRIBE_REQUEST_TYPE = 0x014100
SUBSCRIBE_RESPONSE_TYPE = 0x014101
READ_REQUEST_TYPE = 0x014200
READ_RESPONSE_TYPE = 0x014201

# DeserializingEventJournalMapEvent: MapDataSerializerHook factory -4, class 132.
EVENT_FACTORY_ID = -4
EVENT_CLASS_ID = 132
_DATA_SERIALIZABLE_TYPE = -2  # SerializationConstants.CONSTANT_TYPE_DATA_SERIALIZABLE
_DATA_HEADER = 8  # HeapData: int partition hash + int serializer type id, big-endian

# Our cap per read, as the ringbuffer's MAX_BATCH_SIZE: the member sizes its result set by it.
MAX_BATCH = 1000


class EventType(enum.IntEnum):
    """``com.hazelcast.core.EntryEventType`` codes as they appear in the journal."""

    ADDED = 1
    REMOVED = 2
    UPDATED = 4
    EVICTED = 8
    EXPIRED = 16
    EVICT_ALL = 32
    CLEAR_ALL = 64
    MERGED = 128
    INVALIDATION = 256
    LOADED = 512


class JournalBounds(NamedTuple):
    """Sequences of the oldest and newest event one partition's journal holds.

    An empty journal reports ``newest == oldest - 1`` (0 and -1 when never written).
    """

    oldest: int
    newest: int


class JournalEvent(NamedTuple):
    """One change of one key; ``type`` stays a plain int for a code newer than EventType."""

    seq: int
    type: EventType | int
    key: Any
    new_value: Any
    old_value: Any


@dataclass(frozen=True)
class JournalBatch:
    """One read of one partition.

    ``next_seq`` is where the following read starts. The member clamps the requested start
    into [oldest, newest + 1], so ``lost`` (``next_seq - read_count - start_seq``) is how
    many events after ``start_seq`` were overwritten before they could be read; negative
    when ``start_seq`` was beyond the journal's end (the journal is behind the reader: it
    was recreated, e.g. the map destroyed, or all replicas of the partition were lost). An
    empty batch reports ``next_seq == start_seq`` and ``lost == 0``: it cannot reveal either
    case, compare with :func:`subscribe` bounds when that matters.
    """

    start_seq: int
    read_count: int
    next_seq: int
    events: list[JournalEvent]

    @property
    def lost(self) -> int:
        return self.next_seq - self.read_count - self.start_seq


class JournalClientUnsupported(RuntimeError):
    """The installed hazelcast-python-client is not the one this module was written against."""


class JournalDecodeError(ValueError):
    """A journal item did not have the DeserializingEventJournalMapEvent layout."""


class Undecodable(NamedTuple):
    """A journal key or value this module does not deserialize: neither a JSON document nor
    a string (serializer ``type_id``). Never deserialized: a Python-pickled value (type
    -120) would run code in the reader. The pump dead-letters the entry."""

    type_id: int


#: serializer types :func:`read` turns into objects: HazelcastJsonValue (-130) and str (-11)
DECODABLE_TYPES = frozenset({-130, -11})


class RawEvent(NamedTuple):
    """A journal item split into its parts; key and values still serialized (Data bytes)."""

    type: int
    key: bytes | None
    new_value: bytes | None
    old_value: bytes | None


_BE_INT = struct.Struct(">i")


def decode_event(item: bytes) -> RawEvent:
    """Split one serialized journal item (a Data) into event type and key/value Data bytes.

    Layout (Java ``DeserializingEventJournalMapEvent.writeData``, identified data
    serializable, big-endian): Data header (partition hash, type -2), byte identified flag,
    int factory id, int class id, int event type, then key, new value and old value, each
    an int length (-1 for null) followed by that many bytes of a Data.
    """
    try:
        return _decode_event(memoryview(item))
    except struct.error as e:
        raise JournalDecodeError(f"journal item truncated: {e}") from e


def _decode_event(buf: memoryview) -> RawEvent:
    if len(buf) < _DATA_HEADER + 13:
        raise JournalDecodeError(f"journal item too short ({len(buf)} bytes)")
    (serializer,) = _BE_INT.unpack_from(buf, 4)
    if serializer != _DATA_SERIALIZABLE_TYPE:
        raise JournalDecodeError(f"journal item has serializer type {serializer}, expected -2 (projected?)")
    pos = _DATA_HEADER
    flags = buf[pos]
    pos += 1
    if not flags & 0x01:
        raise JournalDecodeError("journal item is DataSerializable but not identified")
    factory_id, class_id = struct.unpack_from(">ii", buf, pos)
    pos += 8
    if (factory_id, class_id) != (EVENT_FACTORY_ID, EVENT_CLASS_ID):
        raise JournalDecodeError(
            f"journal item is ({factory_id}, {class_id}), expected ({EVENT_FACTORY_ID}, {EVENT_CLASS_ID})"
        )
    if flags & 0x02:  # versioned (an Enterprise member): two version bytes follow the ids
        pos += 2
    (event_type,) = _BE_INT.unpack_from(buf, pos)
    pos += 4
    parts: list[bytes | None] = []
    for _ in range(3):
        (length,) = _BE_INT.unpack_from(buf, pos)
        pos += 4
        if length < 0:
            parts.append(None)
            continue
        if pos + length > len(buf):
            raise JournalDecodeError("journal item truncated")
        parts.append(bytes(buf[pos:pos + length]))
        pos += length
    return RawEvent(event_type, parts[0], parts[1], parts[2])


# --- private client internals, bound and checked once per process --------------------------

@dataclass(frozen=True)
class _Internals:
    Invocation: Any
    Data: Any
    create_initial_buffer: Any
    OutboundMessage: Any
    REQUEST_HEADER_SIZE: int
    RESPONSE_HEADER_SIZE: int
    FixSizedTypesCodec: Any
    StringCodec: Any
    CodecUtil: Any
    ListMultiFrameCodec: Any
    LongArrayCodec: Any


_BOUND: _Internals | None = None


def _unsupported(why: str) -> JournalClientUnsupported:
    import hazelcast

    return JournalClientUnsupported(
        f"grid_config/hazelcast_journal.py reads the map event journal through private internals of "
        f"hazelcast-python-client {sorted(SUPPORTED_CLIENT_VERSIONS)}; installed: "
        f"{getattr(hazelcast, '__version__', '?')}: {why}. Re-verify that module against the new "
        f"client before using it (see its docstring)."
    )


def _internals() -> _Internals:
    global _BOUND
    if _BOUND is not None:
        return _BOUND
    import hazelcast

    if getattr(hazelcast, "__version__", None) not in SUPPORTED_CLIENT_VERSIONS:
        raise _unsupported("unsupported client version")
    try:
        from hazelcast.internal.asyncio_invocation import Invocation
        from hazelcast.protocol import builtin, client_message
        from hazelcast.serialization.data import Data

        bound = _Internals(
            Invocation=Invocation,
            Data=Data,
            create_initial_buffer=client_message.create_initial_buffer,
            OutboundMessage=client_message.OutboundMessage,
            REQUEST_HEADER_SIZE=client_message.REQUEST_HEADER_SIZE,
            RESPONSE_HEADER_SIZE=client_message.RESPONSE_HEADER_SIZE,
            FixSizedTypesCodec=builtin.FixSizedTypesCodec,
            StringCodec=builtin.StringCodec,
            CodecUtil=builtin.CodecUtil,
            ListMultiFrameCodec=builtin.ListMultiFrameCodec,
            LongArrayCodec=builtin.LongArrayCodec,
        )
    except (ImportError, AttributeError) as e:
        raise _unsupported(f"missing internal: {e}") from e
    # Java's codec offsets are 16 and 13; the client's request buffer also holds the 6-byte
    # frame length and flags.
    if (bound.REQUEST_HEADER_SIZE, bound.RESPONSE_HEADER_SIZE) != (22, 13):
        raise _unsupported("client message header sizes changed")
    _BOUND = bound
    return bound


def _context(client: Any) -> Any:
    """The asyncio client's context (invocation, partition and serialization services)."""
    context = getattr(client, "_context", None)
    for attr in ("invocation_service", "partition_service", "serialization_service"):
        if getattr(context, attr, None) is None:
            raise _unsupported(f"client has no _context.{attr} (not a started asyncio HazelcastClient?)")
    return context


def partition_count(client: Any) -> int:
    """The cluster's partition count (271 by default); journal capacity is split over it."""
    _internals()
    count = _context(client).partition_service.partition_count
    if not count:
        raise RuntimeError("the client has no partition table yet (not connected)")
    return count


def partition_of(client: Any, key: Any) -> int:
    """The partition a map key lives in (and whose journal records its changes).

    Keys must serialize without a compact schema round trip (str/int keys do).
    """
    _internals()
    context = _context(client)
    partition_count(client)
    return context.partition_service.get_partition_id(context.serialization_service.to_data(key))


async def subscribe(client: Any, map_name: str, partition_id: int) -> JournalBounds:
    """The oldest and newest sequence of ``map_name``'s journal on one partition.

    Start reading at ``oldest`` for everything still held, or ``newest + 1`` for only what
    comes next. Raises ``hazelcast.errors.UnsupportedOperationError`` when the map
    has no journal configured.
    """
    hz = _internals()
    buf = hz.create_initial_buffer(hz.REQUEST_HEADER_SIZE, SUBSCRIBE_REQUEST_TYPE)
    hz.StringCodec.encode(buf, map_name, True)
    request = hz.OutboundMessage(buf, True)
    offset = hz.RESPONSE_HEADER_SIZE

    def handler(message: Any) -> JournalBounds:
        _expect(message, SUBSCRIBE_RESPONSE_TYPE)
        frame = message.next_frame()
        return JournalBounds(
            hz.FixSizedTypesCodec.decode_long(frame.buf, offset),
            hz.FixSizedTypesCodec.decode_long(frame.buf, offset + 8),
        )

    return await _invoke(client, hz, request, partition_id, handler)


async def read(
    client: Any,
    map_name: str,
    partition_id: int,
    start_seq: int,
    *,
    min_size: int = 0,
    max_size: int = MAX_BATCH,
) -> JournalBatch:
    """Read up to ``max_size`` events of one partition from ``start_seq`` on.

    ``min_size=0`` answers at once (maybe empty); ``min_size > 0`` waits on the member for
    that many events (see the module docstring about cancelling such a wait).
    """
    if start_seq < 0 or min_size < 0 or max_size < max(min_size, 1) or max_size > MAX_BATCH:
        raise ValueError(f"need 0 <= start_seq, 0 <= min_size <= max_size <= {MAX_BATCH} (and max_size >= 1)")
    hz = _internals()
    serialization = _context(client).serialization_service
    header = hz.REQUEST_HEADER_SIZE
    buf = hz.create_initial_buffer(header + 16, READ_REQUEST_TYPE)
    hz.FixSizedTypesCodec.encode_long(buf, header, start_seq)
    hz.FixSizedTypesCodec.encode_int(buf, header + 8, min_size)
    hz.FixSizedTypesCodec.encode_int(buf, header + 12, max_size)
    hz.StringCodec.encode(buf, map_name)
    hz.CodecUtil.encode_nullable(buf, None, None)  # predicate: none
    hz.CodecUtil.encode_nullable(buf, None, None, True)  # projection: none
    request = hz.OutboundMessage(buf, True, True)
    offset = hz.RESPONSE_HEADER_SIZE

    def to_object(part: bytes | None) -> Any:
        if part is None:
            return None
        data = hz.Data(part)
        if data.get_type() not in DECODABLE_TYPES:
            return Undecodable(data.get_type())
        return serialization.to_object(data)

    def handler(message: Any) -> JournalBatch:
        _expect(message, READ_RESPONSE_TYPE)
        frame = message.next_frame()
        read_count = hz.FixSizedTypesCodec.decode_int(frame.buf, offset)
        next_seq = hz.FixSizedTypesCodec.decode_long(frame.buf, offset + 4)
        items = hz.ListMultiFrameCodec.decode(message, lambda m: bytes(m.next_frame().buf))
        seqs = hz.CodecUtil.decode_nullable(message, hz.LongArrayCodec.decode)
        if read_count == 0:
            # The member only sets nextSeq when it read something (ReadResultSetImpl's
            # default is 0): an empty read stays where it was asked to start.
            next_seq = start_seq
        if seqs is None:  # no filter: the items are consecutive, ending before next_seq
            seqs = list(range(next_seq - len(items), next_seq))
        events = []
        for seq, item in zip(seqs, items):
            raw = decode_event(item)
            try:
                kind = EventType(raw.type)
            except ValueError:
                kind = raw.type  # an event type newer than this module: keep the code
            key, new, old = to_object(raw.key), to_object(raw.new_value), to_object(raw.old_value)
            events.append(JournalEvent(seq, kind, key, new, old))
        return JournalBatch(start_seq, read_count, next_seq, events)

    return await _invoke(client, hz, request, partition_id, handler)


def _expect(message: Any, response_type: int) -> None:
    if message.get_message_type() != response_type:
        raise _unsupported(f"response type {message.get_message_type():#08x}, expected {response_type:#08x}")


async def _invoke(client: Any, hz: _Internals, request: Any, partition_id: int, handler: Any) -> Any:
    """Send a partition-targeted request the way the client's own proxies do."""
    context = _context(client)
    count = partition_count(client)
    if not 0 <= partition_id < count:
        raise ValueError(f"partition_id {partition_id} is not in [0, {count})")
    invocation = hz.Invocation(request, partition_id=partition_id, response_handler=handler)
    return await context.invocation_service.ainvoke(invocation)
