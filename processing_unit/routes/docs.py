"""GET /openapi.json and GET /docs (built once per app, from the route specs)."""

from __future__ import annotations

from aiohttp import web

from processing_unit.httpio import json_response
from processing_unit.routes.spec import RouteSpec

OPENAPI: web.AppKey[dict] = web.AppKey("openapi", dict)


async def openapi_json(request: web.Request) -> web.Response:
    return json_response(request.app[OPENAPI])


async def docs(request: web.Request) -> web.Response:
    from processing_unit.openapi import docs_page

    return web.Response(text=docs_page(request.app[OPENAPI]), content_type="text/html")


ROUTES = [
    RouteSpec("GET", "/openapi.json", "openapi", openapi_json, "This API's OpenAPI 3.1 description",
              tags=("operations",)),
    RouteSpec("GET", "/docs", "docs", docs, "Human-readable API listing", content_type="text/html",
              tags=("operations",)),
]
