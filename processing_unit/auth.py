"""Who is calling: the bearer token's user, and the admin check."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from processing_unit.errors import Unauthorized
from processing_unit.keys import SERVICES


def bearer_user_id(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send Authorization: Bearer <token> (POST /sessions gives one)")
    return request.app[SERVICES].identity.tokens.verify(token.strip())


async def current_user(request: web.Request) -> dict[str, Any]:
    return await request.app[SERVICES].identity.user(bearer_user_id(request))


async def admin_user(request: web.Request) -> dict[str, Any]:
    return await request.app[SERVICES].identity.require_admin(bearer_user_id(request))
