"""``GET /dashboard``: the operator dashboard's page and files, and ``GET /dashboard/data``.

The page and its files are static and public (they hold no data; the page asks for a
sign-in). The data answers to an admin's session token or to the operator token
(:mod:`processing_unit.operator`: ``SPACEGRID_OPERATOR_TOKEN``, or ``spacegrid up``'s).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from aiohttp import web

from processing_unit.auth import admin_user
from processing_unit.dashboard.data import snapshot
from processing_unit.errors import Unauthorized
from processing_unit.httpio import json_response
from processing_unit.keys import GRID
from processing_unit.operator import OPERATOR
from processing_unit.routes.spec import RouteSpec

FILES = Path(__file__).resolve().parent.parent / "dashboard"
TYPES = {"dashboard.js": "text/javascript", "dashboard.css": "text/css"}


async def page(request: web.Request) -> web.Response:
    return web.Response(body=(FILES / "dashboard.html").read_bytes(), content_type="text/html",
                        headers={"Cache-Control": "no-cache"})


def _file(name: str) -> Callable:
    async def serve(request: web.Request) -> web.Response:
        return web.Response(body=(FILES / name).read_bytes(), content_type=TYPES[name],
                            headers={"Cache-Control": "no-cache"})

    return serve


async def data(request: web.Request) -> web.Response:
    """Admins and operators only: members and every registered process with its figures."""
    try:
        request.app[OPERATOR].require(request)
    except Unauthorized:
        try:
            await admin_user(request)
        except Unauthorized as e:
            raise Unauthorized(f"{e.detail}; or send the operator token") from e
    return json_response(await snapshot(request.app[GRID]), headers={"Cache-Control": "no-store"})


ROUTES = [
    RouteSpec("GET", "/dashboard", "dashboard.page", page, "The operator dashboard (a page; its data needs a sign-in)",
              content_type="text/html", tags=("operations",)),
    RouteSpec("GET", "/dashboard/dashboard.js", "dashboard.js", _file("dashboard.js"), "The dashboard's script",
              content_type="text/javascript", tags=("operations",)),
    RouteSpec("GET", "/dashboard/dashboard.css", "dashboard.css", _file("dashboard.css"), "The dashboard's style sheet",
              content_type="text/css", tags=("operations",)),
    RouteSpec("GET", "/dashboard/data", "dashboard.data", data,
              "Members and every registered process with its figures (admin or operator token)",
              auth="admin", errors=(401, 403), tags=("operations",)),
]
