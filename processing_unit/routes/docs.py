"""GET / (a landing page), GET /openapi.json and GET /docs (interactive, from local assets).

``/docs`` is Swagger UI over ``/openapi.json``: types, headers, query parameters, examples
and "Try it out". Its JavaScript and CSS come from the ``swagger-ui-py`` package installed
by pip (decision 0022) and are served from ``/docs/assets/``: the page works offline and
loads nothing from a CDN. Without JavaScript the page shows the routes as tables.
"""

from __future__ import annotations

import html
import importlib.util
from pathlib import Path

from aiohttp import web

from processing_unit.httpio import json_response
from processing_unit.routes.spec import RouteSpec

OPENAPI: web.AppKey[dict] = web.AppKey("openapi", dict)
ASSETS_ROUTE = "/docs/assets"

#: where the landing page points (path, what it is)
LINKS = [
    ("/docs", "API documentation: every route with types, headers and examples; try requests"),
    ("/openapi.json", "the OpenAPI 3.1 schema"),
    ("/health/ready", "readiness: may this process take traffic?"),
    ("/health/live", "liveness"),
    ("/metrics", "Prometheus metrics"),
    ("/dashboard", "operator dashboard: members, processes, rates and lag, live (admin or operator token)"),
]


def swagger_assets() -> Path:
    """The Swagger UI distribution the ``swagger-ui-py`` package ships (its package is not imported)."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("swagger-ui-py is not installed: pip install swagger-ui-py")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


def add_assets(app: web.Application) -> None:
    """Serve the Swagger UI files under ``/docs/assets/`` (not an API route: not in /openapi.json)."""
    app.router.add_static(ASSETS_ROUTE, swagger_assets(), name="docs.assets", append_version=False)


async def openapi_json(request: web.Request) -> web.Response:
    return json_response(request.app[OPENAPI])


async def docs(request: web.Request) -> web.Response:
    from processing_unit.openapi import route_table

    spec = request.app[OPENAPI]
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(spec["info"]["title"])}: API</title>
<link rel="stylesheet" href="{ASSETS_ROUTE}/swagger-ui.css">
<link rel="icon" type="image/png" href="{ASSETS_ROUTE}/favicon-32x32.png"></head>
<body><div id="swagger-ui"></div>
<noscript><h1>spacegrid API</h1><p>Schema: <a href="/openapi.json">/openapi.json</a>.
Errors are <code>application/problem+json</code>.</p>{route_table(spec)}</noscript>
<script src="{ASSETS_ROUTE}/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({{
  url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true, docExpansion: "list",
  tryItOutEnabled: true, persistAuthorization: true, displayRequestDuration: true,
  showExtensions: true, showCommonExtensions: true, defaultModelsExpandDepth: 1
}});
</script></body></html>"""
    return web.Response(text=page, content_type="text/html")


async def landing(request: web.Request) -> web.Response:
    items = "".join(f'<li><a href="{path}">{path}</a>: {html.escape(what)}</li>' for path, what in LINKS)
    page = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>spacegrid</title>"
        f"<link rel='icon' type='image/png' href='{ASSETS_ROUTE}/favicon-32x32.png'>"
        "<style>body{font-family:sans-serif;margin:2em;max-width:48em}li{margin:.4em 0}</style></head>"
        "<body><h1>spacegrid</h1><p>An online shop served from a Hazelcast space. Start with the "
        "<a href='/docs'>API documentation</a>: sign up (<code>POST /users</code>), log in "
        "(<code>POST /sessions</code>), then <em>Authorize</em> with the token and place an order "
        f"(<code>POST /orders</code>).</p><ul>{items}</ul></body></html>"
    )
    return web.Response(text=page, content_type="text/html")


ROUTES = [
    RouteSpec("GET", "/", "landing", landing, "Landing page: links to the docs and the health pages",
              content_type="text/html", tags=("operations",)),
    RouteSpec("GET", "/openapi.json", "openapi", openapi_json, "This API's OpenAPI 3.1 description",
              tags=("operations",)),
    RouteSpec("GET", "/docs", "docs", docs, "Interactive API documentation (Swagger UI, local assets)",
              content_type="text/html", tags=("operations",)),
]
