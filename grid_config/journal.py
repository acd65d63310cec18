"""Journal sizes known to Python: per-partition capacity and the G7 bound of each journaled map.

The event journals are configured in ``hazelcast.yaml`` (``event-journal: capacity`` per map
pattern, for all partitions together); each partition gets ``capacity / 271`` slots and
silently overwrites its oldest entry when they are full. G7 keeps the un-shipped entries of
every (map, partition) below ``bound = slots // 2`` with journal credits (decision 0018,
:mod:`grid_config.credit_processors`); the margin bound..slots absorbs what the bound
cannot see (see the decision). ``tests/unit/test_journal_sizes.py`` fails when this table
and the YAML disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Hazelcast's default partition count (hazelcast.yaml does not change it)
PARTITION_COUNT = 271


@dataclass(frozen=True)
class JournalSize:
    """One journaled map pattern (``*<kind>`` in hazelcast.yaml)."""

    kind: str
    #: the YAML ``event-journal: capacity``, all partitions together
    capacity: int

    @property
    def slots(self) -> int:
        """Journal entries one partition holds before it overwrites its oldest."""
        return self.capacity // PARTITION_COUNT

    @property
    def bound(self) -> int:
        """B: un-shipped entries of one (map, partition) stay at or below this (G7)."""
        return self.slots // 2


#: every journaled map of hazelcast.yaml, by the suffix its pattern matches (``*orders``)
JOURNALS: dict[str, JournalSize] = {
    j.kind: j
    for j in (
        JournalSize("users", 271 * 128),
        JournalSize("products", 271 * 256),
        JournalSize("orders", 271 * 256),
        JournalSize("journal-tiny", 271 * 10),  # test-only: gaps on purpose
    )
}


def journal_of(map_name: str, namespace: str = "") -> JournalSize:
    """The journal size of a journaled map by its full name (``<namespace><kind>``)."""
    if not map_name.startswith(namespace):
        raise ValueError(f"map {map_name!r} is not in namespace {namespace!r}")
    kind = map_name[len(namespace):]
    try:
        return JOURNALS[kind]
    except KeyError:
        raise ValueError(f"map {map_name!r} has no event journal") from None


def credit_key(map_name: str, partition: int) -> str:
    """The key of a (map, partition)'s counter in the journal-credits map."""
    if not 0 <= partition < PARTITION_COUNT:
        raise ValueError(f"partition {partition} out of range 0..{PARTITION_COUNT - 1}")
    return f"{map_name}#{partition}"
