"""The server side of ``spacegrid bench unit``: the real unit app, or a bare aiohttp handler.

Run as its own process (``python -m tools.bench.unit_server``) so the load generator,
the server and, for LocalGrid, the in-process grid sit where they would in production.
Both apps use the grid adapter the settings name (``SPACEGRID_GRID``: ``embedded`` means
LocalGrid here) and the same seeded data; the bare app makes the same grid calls as the
unit's handlers with no middleware, validation, auth or problem mapping:

- ``GET /products/{id}``: ``get(products)`` (the whole product, one entry), orjson;
- ``POST /orders``: the saga's calls: ``new_id()``, ``get_many(products)``, one ``StockHold``
  per line in parallel, ``put_if_absent(order)``, then the settles off the request path.

``--app shipper --namespace N`` only ships namespace N's journals (the pump's work in its own
process, as in production; the server then runs with ``--ship none``). ``--app unit-pg`` runs the unit over PostgreSQL (``SPACEGRID_DATABASE_URL``), an order in one
SQL transaction (:mod:`tools.bench.pg_orders`): ``bench orders``' database side.
On start it seeds ``--products`` products (huge stock, so orders never run out) and one
user, and writes ``{"product_ids", "token", "user_id"}`` to ``--seed-file``.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from pathlib import Path

import orjson
from aiohttp import web

from data_pump.shipping import ship_shard
from grid_config.entry_processors import StockHold, StockSettle
from grid_config.events import utc_now_iso
from grid_config.ports import Grid
from spacegrid.bootstrap import open_grid
from processing_unit.domain import catalog, orders, users
from processing_unit.sagas import OrderSagas
from processing_unit.settings import UnitSettings, load_unit_settings
from processing_unit.tokens import Tokens

SEED_STOCK = 1_000_000_000


async def seed(grid: Grid, settings: UnitSettings, products: int) -> dict:
    names = grid.names
    product_ids = []
    for i in range(products):
        pid = await grid.new_id()
        fields = {"sku": f"B-{uuid.uuid4().hex[:10]}", "name": f"bench {i}", "category": "bench",
                  "price_cents": 100 + i, "stock": SEED_STOCK}
        await grid.put(names.products, pid, catalog.new_product(pid, fields), request_id="bench-seed")
        product_ids.append(pid)
    user_id = await grid.new_id()
    user = users.new_user(user_id=user_id, email=f"bench-{uuid.uuid4().hex[:8]}@bench.invalid", name="bench",
                          password_hash="not-a-real-hash", is_admin=False)
    await grid.put(names.users, user_id, user, request_id="bench-seed")
    token, _ = Tokens(settings.token_secret, settings.token_ttl_s).issue(user_id)
    return {"product_ids": product_ids, "token": token, "user_id": user_id}


def bare_app(grid: Grid, user_id: str) -> web.Application:
    """The same grid calls as the unit's handlers, and nothing else."""
    names = grid.names

    async def get_product(request: web.Request) -> web.Response:
        pid = request.match_info["id"]
        entry = await grid.get(names.products, pid)
        if entry is None:
            return web.Response(status=404)
        return web.Response(body=orjson.dumps(catalog.public_product(entry)), content_type="application/json")

    async def place_order(request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        lines = [(line["product_id"], line["quantity"]) for line in body["lines"]]
        order_id, attempt, rid, now = await grid.new_id(), uuid.uuid4().hex, uuid.uuid4().hex, int(time.time() * 1000)
        products = await grid.get_many(names.products, [pid for pid, _ in lines])
        at = utc_now_iso()
        await asyncio.gather(*(grid.execute(names.products, pid, StockHold(order_id, attempt, qty, now, rid, at))
                               for pid, qty in lines))
        order = orders.new_order(order_id, user_id, lines, {p: v["price_cents"] for p, v in products.items()},
                                 attempt=attempt, placed_at_ms=now)
        await grid.put_if_absent(names.orders, order_id, order, request_id=rid)
        settle = asyncio.gather(*(grid.execute(names.products, pid, StockSettle(order_id, attempt, rid, at))
                                  for pid, _ in lines))
        pending.add(settle)
        settle.add_done_callback(pending.discard)
        return web.Response(body=orjson.dumps(orders.public_order(order)), status=201,
                            content_type="application/json")

    pending: set[asyncio.Future] = set()
    app = web.Application()
    app.router.add_get("/products/{id}", get_product)
    app.router.add_post("/orders", place_order)
    return app


async def serve(args: argparse.Namespace) -> None:
    settings = load_unit_settings(require_secret=False, namespace=args.namespace or f"bench{uuid.uuid4().hex[:8]}-")
    sagas: type[OrderSagas] = OrderSagas
    if args.app == "unit-pg":  # the conventional service: every request on PostgreSQL
        from tools.bench.pg_orders import PostgresOrderSagas
        from tools.bench.postgres_grid import PostgresGrid

        grid: Grid = PostgresGrid(settings.database_url, settings.names)
        sagas = PostgresOrderSagas
    else:
        grid = open_grid(settings)
    await grid.start()
    # no pump runs here: ship the journals into a sink that drops them, so writes keep their
    # G7 credit cost but the journals never fill (the pump's own cost is `bench pump`'s)
    stop = asyncio.Event()
    inline = args.ship == "inline" and grid.change_log is not None
    discard = (asyncio.create_task(ship_shard(grid.change_log, grid.names, _Discard(), 0, 1, stop,
                                              on_shipped=grid.change_log.shipped))
               if inline or args.app == "shipper" else asyncio.create_task(stop.wait()))
    if args.app == "shipper":  # the pump's work in a process of its own, nothing else
        try:
            Path(args.seed_file).write_bytes(b"{}")
            await discard
        finally:
            stop.set()
            await asyncio.gather(discard, return_exceptions=True)
            await grid.close()
        return
    try:
        seeded = await seed(grid, settings, args.products)
        if args.app in ("unit", "unit-pg"):
            from processing_unit.app import create_app
            from service_kit.logs import configure_logging

            configure_logging()  # as `spacegrid unit` runs: a JSON access-log line per request
            app = create_app(settings, grid, sagas=sagas)
        else:
            app = bare_app(grid, seeded["user_id"])
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", args.port).start()
        Path(args.seed_file).write_bytes(orjson.dumps(seeded))
        try:
            await asyncio.Event().wait()  # until SIGTERM
        finally:
            await runner.cleanup()
    finally:
        stop.set()
        await asyncio.gather(discard, return_exceptions=True)
        await grid.close()


class _Discard:
    """A publisher that acknowledges at once and keeps nothing."""

    async def send(self, topic: str, key: bytes, value: bytes, headers: object = None) -> "asyncio.Future[None]":
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    async def flush(self) -> None:
        return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--app", choices=("unit", "bare", "unit-pg", "shipper"), required=True)
    ap.add_argument("--namespace", default="", help="grid namespace (default: a fresh one)")
    ap.add_argument("--ship", choices=("inline", "none"), default="inline",
                    help="ship the journals in this process (inline) or leave it to a shipper process")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--products", type=int, default=100)
    ap.add_argument("--seed-file", required=True)
    args = ap.parse_args()
    import signal

    loop = asyncio.new_event_loop()
    task = loop.create_task(serve(args))
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        loop.run_until_complete(task)
    except asyncio.CancelledError:
        pass
    finally:
        loop.close()


if __name__ == "__main__":
    main()
