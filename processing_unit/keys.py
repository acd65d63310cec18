"""Typed application keys: how handlers and middleware find the unit's services."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import web

from grid_config.ports import Grid

if TYPE_CHECKING:
    from processing_unit.backpressure import Backpressure
    from processing_unit.live.hub import LiveHub
    from processing_unit.metrics import UnitMetrics
    from processing_unit.services import Services
    from processing_unit.settings import UnitSettings


@dataclass
class Runtime:
    """Mutable process state the health checks read."""

    #: set once the grid holds its data (``spacegrid up`` loads the database first)
    loaded: asyncio.Event = field(default_factory=asyncio.Event)
    #: set on SIGTERM: readiness answers 503 so the load balancer stops sending traffic
    draining: bool = False
    in_flight: int = 0


SETTINGS: web.AppKey["UnitSettings"] = web.AppKey("settings")
GRID: web.AppKey[Grid] = web.AppKey("grid", Grid)
SERVICES: web.AppKey["Services"] = web.AppKey("services")
METRICS: web.AppKey["UnitMetrics"] = web.AppKey("metrics")
BACKPRESSURE: web.AppKey["Backpressure"] = web.AppKey("backpressure")
RUNTIME: web.AppKey[Runtime] = web.AppKey("runtime", Runtime)
LIVE: web.AppKey["LiveHub"] = web.AppKey("live")
#: names of long-lived routes (WebSockets): the request timeout does not apply to them
STREAMING: web.AppKey[frozenset] = web.AppKey("streaming", frozenset)
#: the request's X-Request-ID (given or generated), carried into change events
REQUEST_ID: web.RequestKey[str] = web.RequestKey("request_id", str)
