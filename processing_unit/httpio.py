"""Request parsing and response helpers shared by the thin handlers.

Everything a client sends passes through here: the JSON body (size, media type, syntax,
schema), query strings and path ids. Failures become :mod:`processing_unit.errors`.
"""

from __future__ import annotations

import re
from typing import Any, Mapping, TypeVar

import orjson
from aiohttp import web
from pydantic import BaseModel, ValidationError

from processing_unit.errors import (
    FieldError,
    InvalidInput,
    MalformedBody,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from processing_unit.keys import SETTINGS
from processing_unit.schemas import ID_PATTERN

M = TypeVar("M", bound=BaseModel)
_ID = re.compile(ID_PATTERN)


def field_errors(e: ValidationError, prefix: str = "") -> list[FieldError]:
    """pydantic errors as ``[{field, message}]`` with dotted/indexed field paths."""
    out = []
    for err in e.errors(include_url=False):
        path = prefix
        for part in err["loc"]:
            if isinstance(part, int):
                path += f"[{part}]"
            else:
                path = f"{path}.{part}" if path else str(part)
        out.append(FieldError(path or "body", err["msg"]))
    return out


async def read_json(request: web.Request, model: type[M]) -> M:
    """Read, size-check, decode and validate a JSON body (400 syntax, 413 size, 422 schema)."""
    ctype = request.content_type
    if request.body_exists and ctype not in ("application/json", "application/octet-stream") and not ctype.endswith("+json"):
        raise UnsupportedMediaType(f"send application/json, not {ctype}")
    limit = request.app[SETTINGS].max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"request body is {request.content_length} bytes; the limit is {limit}")
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge as e:
        raise PayloadTooLarge(f"request body exceeds the limit of {limit} bytes") from e
    if not raw.strip():
        raise MalformedBody("request body is empty; send a JSON object", [FieldError("body", "required")])
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise MalformedBody(f"request body is not valid JSON: {e}", [FieldError("body", "invalid JSON")]) from e
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise InvalidInput("request body does not match the schema", field_errors(e)) from e


def read_query(request: web.Request, model: type[M]) -> M:
    """Validate the query string (lax types: it is text) against ``model``; 422 otherwise."""
    params: dict[str, Any] = {}
    for key in request.query.keys():
        values = request.query.getall(key)
        if len(values) > 1:
            raise InvalidInput("repeated query parameter", [FieldError(key, "give it once")])
        params[key] = values[0]
    try:
        return model.model_validate(params)
    except ValidationError as e:
        raise InvalidInput("invalid query parameters", field_errors(e)) from e


def path_id(request: web.Request, name: str = "id") -> str:
    """A path id that must look like a grid id; anything else cannot exist (404)."""
    value = request.match_info[name]
    if not _ID.match(value):
        raise NotFound(f"no such resource: {value!r} is not an id", [FieldError(name, "must be a decimal id")])
    return value


def json_response(
    data: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=orjson.dumps(data), status=status, content_type="application/json", headers=headers
    )


def etag(version: int) -> dict[str, str]:
    return {"ETag": f'"{version}"'}


def if_match(request: web.Request) -> int | None:
    """``If-Match: 3`` or ``"3"`` (or W/"3") -> 3; absent or ``*`` -> None; anything else 400."""
    raw = request.headers.get("If-Match")
    if raw is None or raw.strip() == "*":
        return None
    value = raw.strip()
    if value.startswith("W/"):
        value = value[2:]
    value = value.strip('"')
    if not value.isdigit() or len(value) > 18:
        raise MalformedBody("If-Match must be a version number, e.g. 3 or \"3\"", [FieldError("If-Match", "not a version")])
    return int(value)
