"""The journal sizes Python knows (grid_config/journal.py) are the ones hazelcast.yaml sets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

import grid_config
from grid_config.journal import JOURNALS, PARTITION_COUNT, credit_key, journal_of
from grid_config.names import Names

pytestmark = pytest.mark.unit

YAML = Path(grid_config.__file__).parent / "hazelcast.yaml"


def _config() -> dict[str, Any]:
    # ${spacegrid.port} and friends are plain scalars to YAML: the file parses as it is
    return yaml.safe_load(YAML.read_text())["hazelcast"]


def test_yaml_journal_capacities_match_the_python_table() -> None:
    maps = _config()["map"]
    journaled = {
        pattern: cfg["event-journal"]["capacity"]
        for pattern, cfg in maps.items()
        if (cfg or {}).get("event-journal", {}).get("enabled")
    }
    in_yaml = {p.removeprefix("*"): c for p, c in journaled.items()}
    assert all(p.startswith("*") for p in journaled), journaled
    assert in_yaml == {kind: j.capacity for kind, j in JOURNALS.items()}


def test_capacities_split_evenly_over_the_partitions() -> None:
    properties = _config().get("properties") or {}
    assert int(properties.get("hazelcast.partition.count", PARTITION_COUNT)) == PARTITION_COUNT
    for j in JOURNALS.values():
        assert j.capacity % PARTITION_COUNT == 0, j
        assert j.bound == j.slots // 2 >= 1


def test_the_credits_map_is_not_journaled() -> None:
    maps = _config()["map"]
    name = Names().journal_credits
    assert f"*{name}" in maps
    assert "event-journal" not in maps[f"*{name}"]
    assert not any(name.endswith(kind) for kind in JOURNALS)


def test_bounds_and_keys() -> None:
    names = Names(namespace="t1-")
    assert {k: (j.slots, j.bound) for k, j in JOURNALS.items()} == {
        "users": (128, 64), "products": (256, 128), "orders": (256, 128),
        "journal-tiny": (10, 5)}
    assert journal_of(names.products, names.namespace).bound == 128
    assert credit_key(names.orders, 270) == "t1-orders#270"
    with pytest.raises(ValueError):
        journal_of(names.users_by_email, names.namespace)
    with pytest.raises(ValueError):
        credit_key(names.orders, PARTITION_COUNT)
