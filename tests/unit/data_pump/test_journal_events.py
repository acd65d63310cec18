"""Journal entries -> change events (pure): what the pump publishes for each stored value."""

from __future__ import annotations

import pytest

from data_pump.shipping import to_events
from grid_config.change_log import JournalChange
from grid_config.errors import PoisonEvent
from grid_config.events import META_FIELD, event_from_value, stamped, unstamped

ORDER = {"id": "42", "user_id": "7", "status": "placed", "lines": [], "total_cents": 0, "version": 3}


def test_a_stored_value_becomes_an_upsert_with_its_stamp() -> None:
    value = stamped(ORDER, "req-1", changed_at="2026-11-28T07:00:00.000Z")
    event = event_from_value("orders", "42", value)
    assert (event.op, event.version, event.request_id, event.changed_at) == ("upsert", 3, "req-1",
                                                                             "2026-11-28T07:00:00.000Z")
    assert event.state == ORDER and META_FIELD not in event.state


def test_a_removal_becomes_a_tombstone_one_version_past_the_removed_state() -> None:
    event = event_from_value("orders", "42", None, stamped(ORDER, "req-1"))
    assert (event.op, event.version, event.state) == ("delete", 4, ORDER)


def test_an_unstamped_value_still_ships_with_a_fresh_timestamp() -> None:
    event = event_from_value("orders", "42", ORDER)
    assert event.request_id == "" and event.changed_at.endswith("Z")


@pytest.mark.parametrize("value", [{"id": "42"}, {"version": "3"}, {"version": True}])
def test_a_value_without_an_integer_version_is_poison(value: dict) -> None:
    with pytest.raises(PoisonEvent):
        event_from_value("orders", "42", value)


def test_a_removal_without_its_state_is_poison() -> None:
    with pytest.raises(PoisonEvent):
        event_from_value("orders", "42", None, None)


def test_unstamped_returns_the_state_only() -> None:
    assert unstamped(stamped(ORDER, "r")) == ORDER
    assert unstamped(ORDER) is ORDER


def test_to_events_keeps_order_and_sets_poison_aside() -> None:
    changes = [
        JournalChange(0, "1", stamped({**ORDER, "id": "1", "version": 1}, "a")),
        JournalChange(1, "2", {"no": "version"}),
        JournalChange(2, "1", stamped({**ORDER, "id": "1", "version": 2}, "b")),
    ]
    events, poison = to_events("orders", changes)
    assert [(e.id, e.version, e.request_id) for e in events] == [("1", 1, "a"), ("1", 2, "b")]
    assert [(p.change.seq, p.change.key) for p in poison] == [(1, "2")]
    assert b'"no":"version"' in poison[0].raw()
