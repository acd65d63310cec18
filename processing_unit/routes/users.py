"""POST /users, POST /sessions, GET /users/me."""

from __future__ import annotations

from aiohttp import web

from processing_unit.auth import current_user
from processing_unit.domain.users import public_user
from processing_unit.httpio import json_response, read_json
from processing_unit.client_address import client_address
from processing_unit.keys import REQUEST_ID, SERVICES, SETTINGS
from processing_unit.routes.spec import RouteSpec
from processing_unit.schemas import Credentials, NewUser, Session, User


def client(request: web.Request) -> str:
    """The address per-client limits count against (X-Forwarded-For only from a trusted proxy)."""
    return client_address(request, request.app[SETTINGS].trusted_networks)


async def create_user(request: web.Request) -> web.Response:
    request.app[SERVICES].identity.limits.admit("sign-up", client(request))  # before any parsing work
    body = await read_json(request, NewUser)
    user = await request.app[SERVICES].identity.create_user(body, request[REQUEST_ID], client(request))
    return json_response(user, 201, {"Location": "/users/me"})


async def create_session(request: web.Request) -> web.Response:
    request.app[SERVICES].identity.limits.admit("login", client(request))  # before any parsing work
    body = await read_json(request, Credentials)
    return json_response(await request.app[SERVICES].identity.create_session(body, client(request)), 201)


async def me(request: web.Request) -> web.Response:
    return json_response(public_user(await current_user(request)))


ROUTES = [
    RouteSpec("POST", "/users", "users.create", create_user, "Sign up", 201, body=NewUser,
              response=User, write=True, errors=(400, 409, 413, 415, 422, 429, 503), tags=("identity",)),
    RouteSpec("POST", "/sessions", "sessions.create", create_session, "Log in: a bearer token", 201,
              body=Credentials, response=Session, errors=(400, 401, 413, 415, 422, 429, 503),
              tags=("identity",)),
    RouteSpec("GET", "/users/me", "users.me", me, "The caller's account", response=User, auth="user",
              errors=(401, 503), tags=("identity",)),
]
