"""Turn every failure into an ``application/problem+json`` answer (RFC 9457), in one place."""

from __future__ import annotations

import logging

import orjson
from aiohttp import web

from grid_config.errors import BacklogFull, GridError, GridUnavailable, WriteConflict
from processing_unit.errors import FieldError, Unavailable, UnitError

log = logging.getLogger("spacegrid.unit")
TYPE_BASE = "https://spacegrid.dev/problems/"
PROBLEM_JSON = "application/problem+json"


def problem_response(
    status: int,
    title: str,
    detail: str,
    slug: str,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    body = {
        "type": TYPE_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "errors": [{"field": e.field, "message": e.message} for e in errors or []],
    }
    return web.Response(body=orjson.dumps(body), status=status, content_type=PROBLEM_JSON, headers=headers)


def from_unit_error(e: UnitError) -> web.Response:
    return problem_response(e.status, e.title, e.detail, e.slug, e.errors, e.headers)


def from_grid_error(e: GridError) -> web.Response:
    """Grid failures are the server's, not the client's: 503 with a hint when to retry."""
    if isinstance(e, BacklogFull):
        err = Unavailable("too many changes wait to be shipped to the database; retry shortly", 2)
    elif isinstance(e, WriteConflict):
        err = Unavailable("the grid is busy with conflicting writes; retry", 1)
    elif isinstance(e, GridUnavailable):
        err = Unavailable("the data grid is unreachable; retry shortly", 2)
    else:
        err = Unavailable(f"data grid error: {type(e).__name__}", 2)
    return from_unit_error(err)


def from_http_exception(e: web.HTTPException) -> web.Response:
    headers = {k: v for k, v in e.headers.items() if k.lower() == "allow"}
    detail = e.text if e.text and not e.text.startswith(f"{e.status}:") else e.reason
    return problem_response(e.status, e.reason, detail, e.reason.lower().replace(" ", "-"), None, headers)


def internal_error() -> web.Response:
    return problem_response(500, "Internal server error", "unexpected error; see the unit's log", "internal")
