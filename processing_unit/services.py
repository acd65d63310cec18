"""Application services: one async method per use case, around the pure domain functions.

Every write is a single-key atomic operation of the grid (decision 0020): a claim with
``put_if_absent`` first where a value must be unique (an email, a sku), a compare-and-set
(``Grid.update``) with a pure domain function for a state change, and the order sagas of
:mod:`processing_unit.sagas` for work over several keys. Grid errors propagate to the one
place that maps them to HTTP (the problem middleware, which also tells the readiness
probe when a journal refused a write, G7).
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from typing import Any

import orjson

from grid_config.ports import Grid
from processing_unit.abuse import AbuseLimits
from processing_unit.backpressure import Backpressure
from processing_unit.domain import catalog, orders, users
from processing_unit.errors import Conflict, FieldError, Forbidden, NotFound, Unauthorized
from processing_unit.login_limiter import LoginLimiter
from processing_unit.passwords import Passwords
from processing_unit.reaper import Reaper
from processing_unit.sagas import OrderSagas, Placed
from processing_unit.schemas import Credentials, NewOrder, NewProduct, NewUser, ProductPatch
from processing_unit.settings import UnitSettings
from processing_unit.stock import Stock
from processing_unit.tokens import Tokens
from service_kit.bounded import keep

log = logging.getLogger("spacegrid.unit")
#: a unique-value claim (email, sku) whose entity never appeared is taken over after this
#: long: its request died between the claim and the entity write
ORPHAN_CLAIM_S = 30.0
#: a token's user is read again after this long (a removed user's token works this long more)
USER_FRESH_S = 2.0
#: users kept read per unit at most
RECENT_USERS = 10_000
#: the "client" of the admin account a unit creates at start (no rate limit applies)
BOOTSTRAP_CLIENT = "bootstrap"


async def _claim(grid: Grid, map_name: str, value_key: str, claim: dict[str, Any], owner_map: str,
                 owner_field: str) -> bool:
    """Claim a unique value (``put_if_absent``); True when the claim is ours.

    A claim whose entity does not exist and that is older than :data:`ORPHAN_CLAIM_S` is an
    orphan (its request died in between) and is taken over with a compare-and-set.
    """
    existing = await grid.put_if_absent(map_name, value_key, claim)
    if existing is None:
        return True
    if await grid.get(owner_map, existing[owner_field]) is not None:
        return False
    if time.time() - float(existing.get("claimed_at_s", 0)) < ORPHAN_CLAIM_S:
        return False
    return await grid.replace_if_same(map_name, value_key, existing, claim)


class Identity:
    def __init__(
        self, grid: Grid, passwords: Passwords, tokens: Tokens, limiter: LoginLimiter, limits: AbuseLimits
    ) -> None:
        self._grid, self._passwords = grid, passwords
        self.tokens, self._limiter, self.limits = tokens, limiter, limits
        self._names = grid.names
        #: user id -> (read at, user): recently read users (bounded)
        self._recent: dict[str, tuple[float, dict[str, Any]]] = {}

    async def create_user(
        self, body: NewUser, request_id: str, client: str, is_admin: bool = False
    ) -> dict[str, Any]:
        """Claim the email, then store the user: two concurrent sign-ups get one 201, one 409.

        The 409 tells whether an email is registered; without a mail round trip no sign-up
        can hide it (decision 0026), so its rate per client is what is bounded."""
        if await self._grid.get(self._names.users_by_email, body.email) is not None:
            raise _email_taken()  # cheap early answer, before the costly hash
        password_hash = await self._passwords.hash(body.password, client)
        user_id = await self._grid.new_id()
        claim = {"user_id": user_id, "claimed_at_s": time.time()}
        if not await _claim(self._grid, self._names.users_by_email, body.email, claim, self._names.users, "user_id"):
            raise _email_taken()
        user = users.new_user(user_id=user_id, email=body.email, name=body.name,
                              password_hash=password_hash, is_admin=is_admin)
        await self._grid.put(self._names.users, user_id, user, request_id=request_id)
        return users.public_user(user)

    async def create_session(self, body: Credentials, client: str) -> dict[str, str]:
        """A token for the right password; failures per (email, client) delay the next try."""
        await self._limiter.check(body.email, client)
        claim = await self._grid.get(self._names.users_by_email, body.email)
        user = await self._grid.get(self._names.users, claim["user_id"]) if claim else None
        if not await self._passwords.verify(user["password_hash"] if user else None, body.password, client):
            await self._limiter.failed(body.email, client)
            raise Unauthorized("wrong email or password")
        await self._limiter.succeeded(body.email, client)
        assert user is not None
        token, expires_at = self.tokens.issue(user["id"])
        return {"token": token, "expires_at": expires_at}

    async def user(self, user_id: str) -> dict[str, Any]:
        """The user behind a valid token; a token for a vanished user is a 401.

        Read at most every :data:`USER_FRESH_S` per user: every authenticated request asks,
        and a user changes only by being written anew (a round trip saved per request)."""
        now = time.monotonic()
        hit = self._recent.get(user_id)
        if hit is not None and now - hit[0] < USER_FRESH_S:
            return hit[1]
        user = await self._grid.get(self._names.users, user_id)
        if user is None:
            self._recent.pop(user_id, None)
            raise Unauthorized("token's user does not exist")
        keep(self._recent, user_id, (now, user), RECENT_USERS)
        return user

    async def require_admin(self, user_id: str) -> dict[str, Any]:
        user = await self.user(user_id)
        if not user.get("is_admin"):
            raise Forbidden("admin only")
        return user

    async def ensure_admin(self, email: str, password: str, request_id: str) -> None:
        """Create the bootstrap admin if its email is free (racing units: one wins, fine)."""
        if await self._grid.get(self._names.users_by_email, email) is not None:
            return
        try:
            await self.create_user(NewUser(email=email, name="admin", password=password), request_id,
                                   BOOTSTRAP_CLIENT, is_admin=True)
            log.info("bootstrap admin created", extra={"email": email})
        except Conflict:
            pass


class Catalog:
    def __init__(self, grid: Grid) -> None:
        self._grid, self._names = grid, grid.names

    async def create_product(self, body: NewProduct, request_id: str) -> dict[str, Any]:
        """Claim the sku, then store the product (409 when the sku is taken)."""
        product_id = await self._grid.new_id()
        claim = {"product_id": product_id, "claimed_at_s": time.time()}
        if not await _claim(self._grid, self._names.products_by_sku, body.sku, claim, self._names.products,
                            "product_id"):
            raise Conflict("a product with this sku exists", [FieldError("sku", "already used")])
        product = catalog.new_product(product_id, body.model_dump())
        await self._grid.put(self._names.products, product_id, product, request_id=request_id)
        return catalog.public_product(product)

    async def update_product(
        self, product_id: str, patch: ProductPatch, expected_version: int | None, request_id: str
    ) -> dict[str, Any]:
        edits = patch.model_dump(exclude_unset=True)
        product = await self._grid.update(
            self._names.products, product_id,
            lambda old: catalog.edited(old, product_id=product_id, patch=edits, expected_version=expected_version),
            request_id=request_id)
        assert product is not None
        return catalog.public_product(product)

    async def get(self, product_id: str) -> dict[str, Any]:
        entry = await self._grid.get(self._names.products, product_id)
        if entry is None:
            raise NotFound(f"no product {product_id}")
        return catalog.public_product(entry)

    async def list(self, category: str | None, cursor: str | None, limit: int) -> dict[str, Any]:
        page = await self._grid.query(
            self._names.products, {"category": category} if category else None, cursor, limit
        )
        return {"items": [catalog.public_product(p) for p in page.items], "next_cursor": page.next_cursor}


def fingerprint(body: NewOrder) -> str:
    """The request body's identity for Idempotency-Key reuse checks."""
    return hashlib.sha256(orjson.dumps(body.model_dump(), option=orjson.OPT_SORT_KEYS)).hexdigest()


class Orders:
    def __init__(self, grid: Grid, sagas: OrderSagas) -> None:
        self._grid, self._sagas, self._names = grid, sagas, grid.names

    async def place_order(
        self, user_id: str, body: NewOrder, idempotency_key: str | None, request_id: str
    ) -> Placed:
        lines = [(line.product_id, line.quantity) for line in body.lines]
        return await self._sagas.place(user_id, lines, idempotency_key, fingerprint(body), request_id)

    async def get(self, order_id: str, user: dict[str, Any]) -> dict[str, Any]:
        order = await self._grid.get(self._names.orders, order_id)
        return orders.public_order(orders.owned(order, order_id, user["id"], bool(user.get("is_admin"))))

    async def list(
        self, user: dict[str, Any], user_id: str | None, cursor: str | None, limit: int
    ) -> dict[str, Any]:
        if not user.get("is_admin"):
            if user_id not in (None, user["id"]):
                raise Forbidden("only an admin may list other users' orders")
            user_id = user["id"]
        page = await self._grid.query(
            self._names.orders, {"user_id": user_id} if user_id else None, cursor, limit
        )
        return {"items": [orders.public_order(o) for o in page.items], "next_cursor": page.next_cursor}

    async def pay_order(self, order_id: str, user: dict[str, Any], amount_cents: int, request_id: str) -> dict[str, Any]:
        order = await self._grid.update(
            self._names.orders, order_id,
            lambda o: orders.paid(o, order_id=order_id, user_id=user["id"], is_admin=bool(user.get("is_admin")),
                                  amount_cents=amount_cents),
            request_id=request_id)
        return orders.public_order(order)  # type: ignore[arg-type]

    async def cancel_order(self, order_id: str, user: dict[str, Any], request_id: str) -> dict[str, Any]:
        return await self._sagas.cancel(order_id, user, request_id)

    async def ship_order(self, order_id: str, request_id: str) -> dict[str, Any]:
        order = await self._grid.update(
            self._names.orders, order_id, lambda o: orders.shipped(o, order_id=order_id), request_id=request_id)
        return orders.public_order(order)  # type: ignore[arg-type]


def _email_taken() -> Conflict:
    return Conflict("a user with this email exists", [FieldError("email", "already registered")])


@dataclass(frozen=True)
class Services:
    identity: Identity
    catalog: Catalog
    orders: Orders
    backpressure: Backpressure
    stock: Stock
    reaper: Reaper


def build_services(
    settings: UnitSettings, grid: Grid, passwords: Passwords, sagas: type[OrderSagas] = OrderSagas
) -> Services:
    """Wire the services of one unit over one grid (``sagas``: how multi-key writes run)."""
    backpressure = Backpressure(grid, settings.ready_probe_cache_ms / 1000)
    limiter = LoginLimiter(
        grid, grid.names.login_attempts, settings.login_max_failures, settings.login_window_s,
        settings.login_max_delay_s,
    )
    limits = AbuseLimits(settings.auth_client_per_min, settings.auth_client_burst, settings.auth_global_per_s)
    stock = Stock(grid)
    order_sagas = sagas(grid, stock, settings.hold_bound_s, max_open=settings.max_open_orders)
    services = Services(
        identity=Identity(grid, passwords, Tokens(settings.token_secret, settings.token_ttl_s), limiter,
                          limits),
        catalog=Catalog(grid),
        orders=Orders(grid, order_sagas),
        backpressure=backpressure,
        stock=stock,
        reaper=Reaper(grid, stock, order_sagas, settings.hold_bound_s, settings.order_pay_timeout_s),
    )
    return services
