"""Pick the grid adapter from settings and build a unit app over it (the wiring choice, one place)."""

from __future__ import annotations

from aiohttp import web

from grid_config.ports import Grid
from processing_unit.app import create_app
from processing_unit.settings import UnitSettings


def build_grid(settings: UnitSettings) -> Grid:
    """The grid adapter the settings name; constructing it does not connect (start() does)."""
    names = settings.names
    if settings.grid == "hazelcast":
        from grid_config.hazelcast_grid import HazelcastGrid

        return HazelcastGrid(settings, names, near_cache_maps=(names.products,))
    from grid_config.local_grid import LocalGrid

    return LocalGrid(names, settings.backlog_limit)


def build_unit_app(settings: UnitSettings) -> web.Application:
    """A unit that owns its grid: starts it with the app, closes it on shutdown."""
    return create_app(settings, build_grid(settings), own_grid=True)
