"""The one place that builds grids and sinks from settings; every entry point uses it.

Components take a :class:`~grid_config.ports.Grid` and a
:class:`~data_writer.ports.Sink` as arguments and never choose adapters themselves;
the commands, the embedded process and the tools call the functions here. Nothing
connects on construction: grids connect in ``start()``, sinks on first use.
"""

from __future__ import annotations

from aiohttp import web

from data_writer.batching import DeferralPolicy
from data_writer.factory import sink_from_url
from data_writer.ports import Sink
from grid_config.names import Names
from grid_config.ports import Grid
from grid_config.settings import CommonSettings
from processing_unit.app import create_app
from processing_unit.settings import UnitSettings


def open_grid(settings: CommonSettings, names: Names | None = None) -> Grid:
    """The grid adapter ``SPACEGRID_GRID`` names (``names`` overrides the settings' names).

    Every process opens the same grid: no map is near-cached (decision 0017).
    """
    names = names or settings.names
    if settings.grid == "hazelcast":
        from grid_config.hazelcast_grid import HazelcastGrid

        return HazelcastGrid(settings, names)
    from grid_config.local_grid import LocalGrid

    return LocalGrid(names)


def open_sink(settings: CommonSettings, policy: DeferralPolicy | None = None, retry_budget_s: float = 30.0) -> Sink:
    """The database adapter ``SPACEGRID_DATABASE_URL`` names."""
    return sink_from_url(settings.database_url, policy, retry_budget_s)


def build_unit_app(settings: UnitSettings) -> web.Application:
    """A unit that owns its grid (starts it with the app, closes it on shutdown); its live
    messages come from the pump's Kafka topics."""
    from processing_unit.live.kafka_source import KafkaSource

    return create_app(settings, open_grid(settings), own_grid=True,
                      live_source=KafkaSource(settings, settings.live_retention_s))
