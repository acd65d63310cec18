"""Application services: one async method per use case, around the pure domain functions.

A service reads from the grid directly and writes only through :meth:`Grid.transact`
with a domain function, so every write carries its change records (G1). Transient lock
conflicts are retried here (tenacity); grid errors otherwise propagate to the one place
that maps them to HTTP (the problem middleware).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, TypeVar

import orjson
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from grid_config.errors import BacklogFull, TransactionConflict
from grid_config.ports import Grid, Tx
from processing_unit.backpressure import Backpressure
from processing_unit.domain import catalog, orders, users
from processing_unit.errors import Conflict, FieldError, Forbidden, NotFound, Unauthorized
from processing_unit.login_limiter import LoginLimiter
from processing_unit.passwords import Passwords
from processing_unit.schemas import Credentials, NewOrder, NewProduct, NewUser, ProductPatch
from processing_unit.settings import UnitSettings
from processing_unit.tokens import Tokens

T = TypeVar("T")
log = logging.getLogger("spacegrid.unit")


class Transactor:
    """Runs a domain function in one grid transaction: conflict retries, backlog bookkeeping."""

    def __init__(self, grid: Grid, backpressure: Backpressure, attempts: int = 4) -> None:
        self._grid = grid
        self._backpressure = backpressure
        self._attempts = attempts

    async def __call__(self, work: Callable[[Tx], T], request_id: str = "") -> T:
        """Run ``work`` in one transaction; ``request_id`` stamps the changes it writes."""
        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception_type(TransactionConflict),
                stop=stop_after_attempt(self._attempts),
                wait=wait_random_exponential(multiplier=0.02, max=0.5),
                reraise=True,
            ):
                with attempt:
                    return await self._grid.transact(work, request_id=request_id)
        except BacklogFull:
            self._backpressure.note_full()
            raise
        raise AssertionError("unreachable")  # pragma: no cover


class Identity:
    def __init__(
        self, grid: Grid, transact: Transactor, passwords: Passwords, tokens: Tokens, limiter: LoginLimiter
    ) -> None:
        self._grid, self._transact, self._passwords = grid, transact, passwords
        self.tokens, self._limiter = tokens, limiter
        self._names = grid.names

    async def create_user(self, body: NewUser, request_id: str, is_admin: bool = False) -> dict[str, Any]:
        if await self._grid.get(self._names.users_by_email, body.email) is not None:
            # cheap early answer; the transaction re-checks under lock
            raise Conflict("a user with this email exists", [FieldError("email", "already registered")])
        password_hash = await self._passwords.hash(body.password)
        user_id = await self._grid.new_id()
        user = await self._transact(
            partial(
                users.create_user,
                names=self._names,
                user_id=user_id,
                email=body.email,
                name=body.name,
                password_hash=password_hash,
                is_admin=is_admin,
            ),
            request_id,
        )
        return users.public_user(user)

    async def create_session(self, body: Credentials) -> dict[str, str]:
        await self._limiter.check(body.email)
        claim = await self._grid.get(self._names.users_by_email, body.email)
        user = await self._grid.get(self._names.users, claim["user_id"]) if claim else None
        if not await self._passwords.verify(user["password_hash"] if user else None, body.password):
            await self._limiter.failed(body.email)
            raise Unauthorized("wrong email or password")
        await self._limiter.succeeded(body.email)
        assert user is not None
        token, expires_at = self.tokens.issue(user["id"])
        return {"token": token, "expires_at": expires_at}

    async def user(self, user_id: str) -> dict[str, Any]:
        """The user behind a valid token; a token for a vanished user is a 401."""
        user = await self._grid.get(self._names.users, user_id)
        if user is None:
            raise Unauthorized("token's user does not exist")
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
            await self.create_user(NewUser(email=email, name="admin", password=password), request_id, is_admin=True)
            log.info("bootstrap admin created", extra={"email": email})
        except Conflict:
            pass


class Catalog:
    def __init__(self, grid: Grid, transact: Transactor) -> None:
        self._grid, self._transact, self._names = grid, transact, grid.names

    async def create_product(self, body: NewProduct, request_id: str) -> dict[str, Any]:
        product_id = await self._grid.new_id()
        return await self._transact(
            partial(
                catalog.create_product,
                names=self._names,
                product_id=product_id,
                fields=body.model_dump(),
            ),
            request_id,
        )

    async def update_product(
        self, product_id: str, patch: ProductPatch, expected_version: int | None, request_id: str
    ) -> dict[str, Any]:
        return await self._transact(
            partial(
                catalog.update_product,
                names=self._names,
                product_id=product_id,
                patch=patch.model_dump(exclude_unset=True),
                expected_version=expected_version,
            ),
            request_id,
        )

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
    def __init__(self, grid: Grid, transact: Transactor, idempotency_ttl_s: float) -> None:
        self._grid, self._transact, self._names = grid, transact, grid.names
        self._ttl = idempotency_ttl_s

    async def place_order(
        self, user_id: str, body: NewOrder, idempotency_key: str | None, request_id: str
    ) -> orders.Placed:
        claim = None
        if idempotency_key is not None:
            claim = orders.IdempotencyClaim(f"{user_id}:{idempotency_key}", fingerprint(body), self._ttl)
        order_id = await self._grid.new_id()
        return await self._transact(
            partial(
                orders.place_order,
                names=self._names,
                order_id=order_id,
                user_id=user_id,
                lines=[(line.product_id, line.quantity) for line in body.lines],
                claim=claim,
            ),
            request_id,
        )

    async def get(self, order_id: str, user: dict[str, Any]) -> dict[str, Any]:
        order = await self._grid.get(self._names.orders, order_id)
        if order is None or (order["user_id"] != user["id"] and not user.get("is_admin")):
            raise NotFound(f"no order {order_id}")
        return order

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
        return {"items": page.items, "next_cursor": page.next_cursor}

    async def pay_order(self, order_id: str, user: dict[str, Any], amount_cents: int, request_id: str) -> dict[str, Any]:
        return await self._transact(
            partial(
                orders.pay_order,
                names=self._names,
                order_id=order_id,
                user_id=user["id"],
                is_admin=bool(user.get("is_admin")),
                amount_cents=amount_cents,
            ),
            request_id,
        )

    async def cancel_order(self, order_id: str, user: dict[str, Any], request_id: str) -> dict[str, Any]:
        return await self._transact(
            partial(
                orders.cancel_order,
                names=self._names,
                order_id=order_id,
                user_id=user["id"],
                is_admin=bool(user.get("is_admin")),
            ),
            request_id,
        )

    async def ship_order(self, order_id: str, request_id: str) -> dict[str, Any]:
        return await self._transact(
            partial(orders.ship_order, names=self._names, order_id=order_id), request_id
        )


@dataclass(frozen=True)
class Services:
    identity: Identity
    catalog: Catalog
    orders: Orders
    backpressure: Backpressure


def build_services(settings: UnitSettings, grid: Grid, passwords: Passwords) -> Services:
    """Wire the services of one unit over one grid."""
    backpressure = Backpressure(grid, settings.ready_probe_cache_ms / 1000)
    transact = Transactor(grid, backpressure)
    limiter = LoginLimiter(
        grid, grid.names.login_attempts, settings.login_max_failures, settings.login_window_s
    )
    return Services(
        identity=Identity(grid, transact, passwords, Tokens(settings.token_secret, settings.token_ttl_s), limiter),
        catalog=Catalog(grid, transact),
        orders=Orders(grid, transact, settings.idempotency_ttl_s),
        backpressure=backpressure,
    )
