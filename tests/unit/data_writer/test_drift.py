"""The drift check: pure comparison, and end to end on the in-process grid + SQLite."""

from __future__ import annotations

from pathlib import Path

from data_writer.batching import prepare
from data_writer.drift import DriftReport, Fingerprint, checksum, compare, drift
from data_writer.sqlite import sqlite_sink
from grid_config.local_grid import LocalGrid
from grid_config.names import Names
from tests.contract.sink_contract import product, user


def fp(i: str, v: int = 1, state: str = "a", deleted: bool = False) -> Fingerprint:
    return Fingerprint(i, v, checksum({"s": state}), deleted)


def test_compare_counts_missing_stale_and_extra() -> None:
    grid = [fp("1"), fp("2", 2), fp("3", 1, "b"), fp("4"), fp("6")]
    db = [fp("1"), fp("2", 1), fp("3", 1, "a"), fp("5"), fp("6", deleted=True), fp("7", deleted=True)]
    d = compare("users", grid, db)
    assert (d.missing, d.stale, d.extra) == (2, 2, 1)
    assert d.examples == {"missing": ["4", "6"], "stale": ["2", "3"], "extra": ["5"]}
    assert not d.converged
    assert compare("users", [fp("1")], [fp("1"), fp("9", deleted=True)]).converged


def test_checksum_ignores_key_order() -> None:
    assert checksum({"a": 1, "b": [1, 2]}) == checksum({"b": [1, 2], "a": 1})
    assert checksum({"a": 1}) != checksum({"a": 2})


def test_report_round_trips_and_prints() -> None:
    report = DriftReport([compare("users", [fp("1")], [])])
    again = DriftReport.from_dict(report.to_dict())
    assert not again.converged and again.kinds[0].missing == 1
    assert report.lines()[-1] == "DRIFT"


async def test_drift_between_local_grid_and_sqlite(tmp_path: Path) -> None:
    names = Names(namespace="d-")
    grid = LocalGrid(names)
    await grid.start()
    sink = sqlite_sink(tmp_path / "d.db")
    await sink.migrate()
    u = user("1", 1)
    p = product("11", 2)
    await grid.put_all(names.users, {"1": u.state})
    await grid.put_all(names.products, {"11": dict(p.state)})  # one entry: the whole product
    try:
        before = await drift(grid, names, sink)
        assert [(k.kind, k.missing) for k in before.kinds] == [("users", 1), ("products", 1), ("orders", 0)]
        await sink.apply(prepare([u, p]).events)
        after = await drift(grid, names, sink)
        assert after.converged, after.lines()
    finally:
        await sink.close()
        await grid.close()
