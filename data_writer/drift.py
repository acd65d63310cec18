"""The drift check (G4): grid vs database, entity by entity. Pure comparison + readers.

An entity is *converged* when the database holds a live row with the grid's version
and the same state checksum (sha256 of canonical JSON). Per kind we count:

- ``missing``: in the grid, absent from the database (or only a tombstone there);
- ``stale``: in both, but the database has another version or another state;
- ``extra``: a live row in the database that the grid does not have.

Tombstones absent from the grid are expected (deletes) and not drift.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any, AsyncIterator, Iterable, Mapping

from data_writer.ports import Sink
from data_writer.schema import state_json
from grid_config.names import KINDS, Names
from grid_config.ports import Grid

#: the ``spacegrid up`` admin route that runs this check in-process (embedded mode)
ADMIN_DRIFT_ROUTE = "/admin/drift"
#: the ``spacegrid up`` admin route that re-ships drifted entities (``verify --repair``)
ADMIN_REPAIR_ROUTE = "/admin/drift/repair"
#: file under SPACEGRID_CACHE_DIR holding the operator token (mode 0600), written by ``up``
OPERATOR_TOKEN_FILE = "operator-token"
#: how many ids of each category a report lists (counts are always complete)
SAMPLE = 10


def checksum(state: Mapping[str, Any]) -> str:
    return hashlib.sha256(state_json(dict(state)).encode()).hexdigest()


@dataclass(frozen=True)
class Fingerprint:
    id: str
    version: int
    checksum: str
    deleted: bool = False


@dataclass
class KindDrift:
    kind: str
    grid: int = 0
    database: int = 0
    missing: int = 0
    stale: int = 0
    extra: int = 0
    examples: dict[str, list[str]] = field(default_factory=lambda: {"missing": [], "stale": [], "extra": []})
    #: every missing or stale id (what a repair re-ships); not part of the report
    drifted: list[str] = field(default_factory=list, repr=False)

    @property
    def converged(self) -> bool:
        return self.missing == self.stale == self.extra == 0

    def _note(self, what: str, entity_id: str) -> None:
        setattr(self, what, getattr(self, what) + 1)
        if what != "extra":
            self.drifted.append(entity_id)
        if len(self.examples[what]) < SAMPLE:
            self.examples[what].append(entity_id)


def compare(kind: str, grid: Iterable[Fingerprint], database: Iterable[Fingerprint]) -> KindDrift:
    """Count missing / stale / extra entities of one kind (memory: one fingerprint per id)."""
    out = KindDrift(kind)
    db = {}
    for f in database:
        db[f.id] = f
        out.database += 0 if f.deleted else 1
    seen: set[str] = set()
    for g in grid:
        out.grid += 1
        seen.add(g.id)
        d = db.get(g.id)
        if d is None or d.deleted:
            out._note("missing", g.id)
        elif d.version != g.version or d.checksum != g.checksum:
            out._note("stale", g.id)
    for d in db.values():
        if not d.deleted and d.id not in seen:
            out._note("extra", d.id)
    return out


@dataclass
class DriftReport:
    kinds: list[KindDrift]

    @property
    def converged(self) -> bool:
        return all(k.converged for k in self.kinds)

    def to_dict(self) -> dict[str, Any]:
        kinds = [{k: v for k, v in asdict(kind).items() if k != "drifted"} for kind in self.kinds]
        return {"converged": self.converged, "kinds": kinds}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "DriftReport":
        return cls([KindDrift(**k) for k in raw["kinds"]])

    def lines(self) -> list[str]:
        out = [f"{'kind':<10} {'grid':>8} {'database':>9} {'missing':>8} {'stale':>6} {'extra':>6}"]
        for k in self.kinds:
            out.append(f"{k.kind:<10} {k.grid:>8} {k.database:>9} {k.missing:>8} {k.stale:>6} {k.extra:>6}")
            for what, ids in k.examples.items():
                if ids:
                    out.append(f"  {what}: {', '.join(ids)}{' ...' if getattr(k, what) > len(ids) else ''}")
        out.append("converged" if self.converged else "DRIFT")
        return out


# ---- readers ---------------------------------------------------------------------------


async def grid_states(grid: Grid, names: Names, kind: str, batch: int = 1000) -> AsyncIterator[tuple[str, dict]]:
    """Each entity's state as the units put it in its change events: its map entry
    (a product's entry holds the whole product, decision 0017)."""
    async for key, value in grid.entries(names.entity_map(kind), batch):
        yield key, value


async def drift(grid: Grid, names: Names, sink: Sink) -> DriftReport:
    """Compare every kind; the ``up`` admin route and ``spacegrid verify`` both call this."""
    kinds = []
    for kind in KINDS:
        grid_prints = [
            Fingerprint(key, int(state.get("version", 0)), checksum(state))
            async for key, state in grid_states(grid, names, kind)
        ]
        db_prints = [Fingerprint(r.id, r.version, checksum(r.state), r.deleted) async for r in sink.read_entities(kind)]
        kinds.append(compare(kind, grid_prints, db_prints))
    return DriftReport(kinds)


async def repair(grid: Grid, names: Names, sink: Sink) -> dict[str, int]:
    """Re-ship the grid's current state of every missing or stale entity (G4).

    Through the normal pipeline: each entity's current value is appended to its map's
    journal again (the same path a journal gap's repair takes), so the pump ships it and
    the writers apply it. ``extra`` rows (in the database, not in the grid) have no grid
    state to ship and stay reported. Returns the entities re-shipped per kind.
    """
    report = await drift(grid, names, sink)
    return {k.kind: await grid.change_log.reship(names.entity_map(k.kind), k.drifted) if k.drifted else 0
            for k in report.kinds}
