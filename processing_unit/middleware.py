"""Middleware: request ids, logs and metrics (observe); problem mapping (G8).

Order (outermost first): observe -> problems -> handler, so every answer, including a
mapped error, is counted, logged and carries ``X-Request-ID``. G7 needs no gate here: a
write that would overfill a journal is refused by the grid itself (BacklogFull -> 503).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid

from aiohttp import web
from aiohttp.typedefs import Handler

from grid_config.errors import BacklogFull, GridError
from processing_unit import problems
from processing_unit.errors import Unavailable, UnitError
from processing_unit.keys import BACKPRESSURE, METRICS, REQUEST_ID, RUNTIME, SETTINGS, STREAMING
from service_kit.logs import request_id_var

log = logging.getLogger("spacegrid.unit")
access = logging.getLogger("spacegrid.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def route_name(request: web.Request) -> str:
    route = request.match_info.route
    return route.name or (route.resource.canonical if route.resource else "unmatched")


@web.middleware
async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Assign the request id, count the request in flight, then log and measure it."""
    given = request.headers.get("X-Request-ID", "")
    rid = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
    request[REQUEST_ID] = rid
    token = request_id_var.set(rid)
    runtime, metrics = request.app[RUNTIME], request.app[METRICS]
    runtime.in_flight += 1
    metrics.in_flight.inc()
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        response.headers["X-Request-ID"] = rid
        return response
    finally:
        elapsed = time.perf_counter() - started
        runtime.in_flight -= 1
        metrics.in_flight.dec()
        name = route_name(request)
        metrics.observe_request(name, request.method, status, elapsed)
        access.info(
            "request",
            extra={"method": request.method, "route": name, "path": request.path,
                   "status": status, "ms": round(elapsed * 1000, 2)},
        )
        request_id_var.reset(token)


@web.middleware
async def problem_mapping(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure becomes a problem+json answer; only a bug is a 500. Slow grid -> 503."""
    metrics = request.app[METRICS]
    streaming = route_name(request) in request.app[STREAMING]
    try:
        async with asyncio.timeout(None if streaming else request.app[SETTINGS].request_timeout_s):
            return await handler(request)
    except UnitError as e:
        response = problems.from_unit_error(e)
    except GridError as e:
        log.warning("grid error", extra={"error": repr(e)})
        if isinstance(e, BacklogFull):
            request.app[BACKPRESSURE].note_full()  # readiness turns 503 for a while (G7)
        response = problems.from_grid_error(e)
    except TimeoutError:
        log.warning("request timed out")
        response = problems.from_unit_error(Unavailable("the data grid did not answer in time", 2))
    except web.HTTPException as e:
        if e.status < 400:
            raise
        response = problems.from_http_exception(e)
    except Exception:
        log.exception("unhandled error")
        response = problems.internal_error()
    metrics.errors.labels(str(response.status)).inc()
    return response
