"""Liveness, readiness (grid reachable, loaded, journals under their bound, not draining), metrics."""

from __future__ import annotations

import asyncio

from aiohttp import web

from grid_config.errors import GridError
from processing_unit.httpio import json_response
from processing_unit.keys import BACKPRESSURE, METRICS, RUNTIME
from processing_unit.operator import OPERATOR
from processing_unit.routes.spec import RouteSpec
from processing_unit.schemas import Health

READY_PROBE_TIMEOUT_S = 2.0


async def live(request: web.Request) -> web.Response:
    return json_response({"status": "live", "checks": {}})


async def ready(request: web.Request) -> web.Response:
    """503 with the failing checks, 200 when every check passes; never hangs on the grid."""
    runtime, backpressure = request.app[RUNTIME], request.app[BACKPRESSURE]
    checks: dict[str, str] = {}
    checks["draining"] = "yes" if runtime.draining else "no"
    checks["loaded"] = "yes" if runtime.loaded.is_set() else "no"
    try:
        async with asyncio.timeout(READY_PROBE_TIMEOUT_S):
            await backpressure.probe()
        checks["grid"] = "reachable"
    except (GridError, TimeoutError) as e:
        checks["grid"] = f"unreachable: {type(e).__name__}"
    full = backpressure.full()
    checks["journals"] = "a journal is at its bound of un-shipped changes" if full else "under their bound"
    ok = not runtime.draining and runtime.loaded.is_set() and checks["grid"] == "reachable" and not full
    headers = None if ok else {"Retry-After": "2"}
    return json_response({"status": "ready" if ok else "unready", "checks": checks}, 200 if ok else 503, headers)


async def metrics(request: web.Request) -> web.Response:
    """Operators only (processing_unit.operator): route names, rates and errors are reconnaissance."""
    request.app[OPERATOR].require(request)
    registry = request.app[METRICS]
    registry.write_refusals.set(request.app[BACKPRESSURE].refusals)
    return web.Response(body=registry.render(), headers={"Content-Type": registry.content_type})


ROUTES = [
    RouteSpec("GET", "/health/live", "health.live", live, "Liveness: 200 while the process runs",
              response=Health, tags=("operations",)),
    RouteSpec("GET", "/health/ready", "health.ready", ready, "Readiness: may this unit take traffic?",
              response=Health, errors=(503,), tags=("operations",)),
    RouteSpec("GET", "/metrics", "metrics", metrics, "Prometheus metrics (operator token)",
              content_type="text/plain", auth="operator", errors=(401,), tags=("operations",)),
]
