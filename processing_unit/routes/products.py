"""Catalog: admin writes with optimistic concurrency (If-Match / ETag), public reads."""

from __future__ import annotations

from aiohttp import web

from processing_unit.auth import admin_user
from processing_unit.httpio import etag, if_match, json_response, path_id, read_json, read_query
from processing_unit.keys import REQUEST_ID, SERVICES
from processing_unit.routes.spec import Header, RouteSpec
from processing_unit.schemas import NewProduct, Product, ProductList, ProductPatch, ProductQuery


async def create_product(request: web.Request) -> web.Response:
    await admin_user(request)
    body = await read_json(request, NewProduct)
    product = await request.app[SERVICES].catalog.create_product(body, request[REQUEST_ID])
    return json_response(product, 201, {**etag(product["version"]), "Location": f"/products/{product['id']}"})


async def update_product(request: web.Request) -> web.Response:
    await admin_user(request)
    product_id = path_id(request)
    expected = if_match(request)
    body = await read_json(request, ProductPatch)
    product = await request.app[SERVICES].catalog.update_product(product_id, body, expected, request[REQUEST_ID])
    return json_response(product, 200, etag(product["version"]))


async def get_product(request: web.Request) -> web.Response:
    product = await request.app[SERVICES].catalog.get(path_id(request))
    return json_response(product, 200, etag(product["version"]))


async def list_products(request: web.Request) -> web.Response:
    q = read_query(request, ProductQuery)
    return json_response(await request.app[SERVICES].catalog.list(q.category, q.cursor, q.limit))


IF_MATCH = Header("If-Match", 'expected product version: 3 or "3"; 412 if stale', r'^(\*|(W/)?"?[0-9]{1,18}"?)$')

ROUTES = [
    RouteSpec("POST", "/products", "products.create", create_product, "Add a product (admin)", 201,
              body=NewProduct, response=Product, auth="admin", write=True,
              errors=(400, 401, 403, 409, 413, 415, 422, 503), tags=("catalog",)),
    RouteSpec("PATCH", "/products/{id}", "products.update", update_product, "Edit a product (admin)",
              body=ProductPatch, response=Product, auth="admin", write=True, headers=(IF_MATCH,),
              errors=(400, 401, 403, 404, 412, 413, 415, 422, 503), tags=("catalog",)),
    RouteSpec("GET", "/products", "products.list", list_products, "Browse the catalog",
              query=ProductQuery, response=ProductList, errors=(422, 503), tags=("catalog",)),
    RouteSpec("GET", "/products/{id}", "products.get", get_product, "One product",
              response=Product, errors=(404, 503), tags=("catalog",)),
]
