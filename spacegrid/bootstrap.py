"""The one place that builds grids and sinks from settings; every entry point uses it.

Components take a :class:`~grid_config.ports.Grid` and a
:class:`~data_writer.ports.Sink` as arguments and never choose adapters themselves;
the commands, the embedded process and the tools call the functions here. Nothing
connects on construction: grids connect in ``start()``, sinks on first use.
"""

from __future__ import annotations

from typing import Literal

from aiohttp import web

from data_writer.batching import DeferralPolicy
from data_writer.factory import sink_from_url
from data_writer.ports import Sink
from grid_config.names import Names
from grid_config.ports import Grid
from grid_config.settings import CommonSettings
from processing_unit.app import create_app
from processing_unit.settings import UnitSettings

#: who opens the grid; decides the near cache
Role = Literal["unit", "pump", "reader", "verify"]


def near_cached_maps(role: Role, names: Names) -> tuple[str, ...]:
    """Only units near-cache, and only the catalog: they read it on every request, while
    the pump, the reader and verify read each entry once (a near cache would only cost
    memory and invalidation traffic)."""
    return (names.products,) if role == "unit" else ()


def open_grid(settings: CommonSettings, role: Role, names: Names | None = None) -> Grid:
    """The grid adapter ``SPACEGRID_GRID`` names (``names`` overrides the settings' names)."""
    names = names or settings.names
    if settings.grid == "hazelcast":
        from grid_config.hazelcast_grid import HazelcastGrid

        return HazelcastGrid(settings, names, near_cache_maps=near_cached_maps(role, names))
    from grid_config.local_grid import LocalGrid

    return LocalGrid(names, settings.backlog_limit)


def open_sink(settings: CommonSettings, policy: DeferralPolicy | None = None, retry_budget_s: float = 30.0) -> Sink:
    """The database adapter ``SPACEGRID_DATABASE_URL`` names."""
    return sink_from_url(settings.database_url, policy, retry_budget_s)


def build_unit_app(settings: UnitSettings) -> web.Application:
    """A unit that owns its grid: starts it with the app, closes it on shutdown."""
    return create_app(settings, open_grid(settings, "unit"), own_grid=True)
