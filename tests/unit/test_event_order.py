"""in_entity_order: each entity's versions ascending, other entities' records untouched."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from grid_config.events import ChangeEvent, in_entity_order


def ev(entity: str, version: int) -> ChangeEvent:
    return ChangeEvent("products", "upsert", entity, version, {"id": entity}, changed_at="2026-01-01T00:00:00.000Z")


def test_swapped_versions_of_one_entity_are_restored_in_their_slots() -> None:
    events = [ev("a", 1), ev("b", 1), ev("a", 3), ev("c", 1), ev("a", 2), ev("b", 2)]
    got = [(e.id, e.version) for e in in_entity_order(events)]
    assert got == [("a", 1), ("b", 1), ("a", 2), ("c", 1), ("a", 3), ("b", 2)]


@given(st.lists(st.tuples(st.sampled_from("abcd"), st.integers(1, 20)), max_size=40))
def test_any_sequence_keeps_entity_slots_and_sorts_versions(pairs: list[tuple[str, int]]) -> None:
    events = [ev(e, v) for e, v in pairs]
    got = in_entity_order(events)
    assert [e.id for e in got] == [e.id for e in events]  # every entity keeps its slots
    for entity in "abcd":
        versions = [e.version for e in got if e.id == entity]
        assert versions == sorted(versions)
    assert sorted((e.id, e.version) for e in got) == sorted(pairs)
