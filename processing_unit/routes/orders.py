"""Orders: place (all stock or none, Idempotency-Key), read, pay, cancel, ship."""

from __future__ import annotations

import re

from aiohttp import web

from processing_unit.auth import admin_user, current_user
from processing_unit.errors import FieldError, InvalidInput
from processing_unit.httpio import json_response, path_id, read_json, read_query
from processing_unit.keys import REQUEST_ID, SERVICES
from processing_unit.routes.spec import Header, RouteSpec
from processing_unit.schemas import NewOrder, Order, OrderList, OrderQuery, Payment

_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


def idempotency_key(request: web.Request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not _KEY.match(key):
        raise InvalidInput(
            "Idempotency-Key must be 1-255 visible ASCII characters",
            [FieldError("Idempotency-Key", "1-255 visible ASCII characters")],
        )
    return key


async def place_order(request: web.Request) -> web.Response:
    user = await current_user(request)
    key = idempotency_key(request)
    body = await read_json(request, NewOrder)
    placed = await request.app[SERVICES].orders.place_order(user["id"], body, key, request[REQUEST_ID])
    headers = {"Location": f"/orders/{placed.order['id']}"}
    if placed.replayed:
        headers["Idempotent-Replayed"] = "true"
    return json_response(placed.order, 201, headers)


async def get_order(request: web.Request) -> web.Response:
    user = await current_user(request)
    return json_response(await request.app[SERVICES].orders.get(path_id(request), user))


async def list_orders(request: web.Request) -> web.Response:
    user = await current_user(request)
    q = read_query(request, OrderQuery)
    return json_response(await request.app[SERVICES].orders.list(user, q.user_id, q.cursor, q.limit))


async def pay_order(request: web.Request) -> web.Response:
    user = await current_user(request)
    order_id = path_id(request)
    body = await read_json(request, Payment)
    order = await request.app[SERVICES].orders.pay_order(order_id, user, body.amount_cents, request[REQUEST_ID])
    return json_response(order)


async def cancel_order(request: web.Request) -> web.Response:
    user = await current_user(request)
    order = await request.app[SERVICES].orders.cancel_order(path_id(request), user, request[REQUEST_ID])
    return json_response(order)


async def ship_order(request: web.Request) -> web.Response:
    await admin_user(request)
    order = await request.app[SERVICES].orders.ship_order(path_id(request), request[REQUEST_ID])
    return json_response(order)


IDEMPOTENCY_KEY = Header(
    "Idempotency-Key",
    "retry-safe placement: kept 24 h per user; a retry returns the first result",
    r"^[\x21-\x7e]{1,255}$",
)

ROUTES = [
    RouteSpec("POST", "/orders", "orders.place", place_order, "Place an order (all lines or none)", 201,
              body=NewOrder, response=Order, auth="user", write=True, headers=(IDEMPOTENCY_KEY,),
              errors=(400, 401, 409, 413, 415, 422, 503), tags=("orders",)),
    RouteSpec("GET", "/orders", "orders.list", list_orders, "The caller's orders (admin: any user's)",
              query=OrderQuery, response=OrderList, auth="user", errors=(401, 403, 422, 503),
              tags=("orders",)),
    RouteSpec("GET", "/orders/{id}", "orders.get", get_order, "One order (owner or admin)",
              response=Order, auth="user", errors=(401, 404, 503), tags=("orders",)),
    RouteSpec("POST", "/orders/{id}/payment", "orders.pay", pay_order, "Pay the total: placed -> paid",
              body=Payment, response=Order, auth="user", write=True,
              errors=(400, 401, 403, 404, 409, 413, 415, 422, 503), tags=("orders",)),
    RouteSpec("POST", "/orders/{id}/cancel", "orders.cancel", cancel_order,
              "Cancel: placed|paid -> cancelled, stock released", response=Order, auth="user",
              write=True, errors=(401, 404, 409, 503), tags=("orders",)),
    RouteSpec("POST", "/orders/{id}/ship", "orders.ship", ship_order, "Ship (admin): paid -> shipped",
              response=Order, auth="admin", write=True, errors=(401, 403, 404, 409, 503),
              tags=("orders",)),
]
