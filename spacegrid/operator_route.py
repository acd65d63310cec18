"""The embedded mode's operator-only drift routes (G4): ``GET /admin/drift``, ``POST /admin/drift/repair``.

The grid of ``spacegrid up`` lives inside its process, so ``spacegrid verify`` cannot
open it; it asks ``up`` instead. The route is not for shop admins: it answers only to
the *operator token*, a random secret ``up`` writes at start into
``SPACEGRID_CACHE_DIR/operator-token`` with file mode 0600 (whoever can read that file
already owns the process's files) and removes at shutdown.
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path
from typing import AsyncIterator

from aiohttp import web

from data_writer.drift import ADMIN_DRIFT_ROUTE, ADMIN_REPAIR_ROUTE, OPERATOR_TOKEN_FILE, drift, repair
from data_writer.ports import Sink
from grid_config.names import Names
from grid_config.ports import Grid
from processing_unit.problems import problem_response
from processing_unit.routes.dashboard import OPERATOR_CHECK


def write_operator_token(cache_dir: Path) -> tuple[str, Path]:
    """A fresh token in ``cache_dir/operator-token``, created 0600 (never world-readable, not even briefly)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / OPERATOR_TOKEN_FILE
    token = secrets.token_urlsafe(32)
    tmp = path.with_name(f".{OPERATOR_TOKEN_FILE}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, token.encode())
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return token, path


def add_drift_route(app: web.Application, grid: Grid, names: Names, sink: Sink, cache_dir: Path) -> None:
    """Register ``GET /admin/drift``, ``POST /admin/drift/repair`` and the token file's lifetime."""
    held: dict[str, str] = {}

    async def token_ctx(app: web.Application) -> AsyncIterator[None]:
        token, path = write_operator_token(cache_dir)
        held["token"] = token
        try:
            yield
        finally:
            held.clear()
            try:
                if path.read_text().strip() == token:  # another `up` may have replaced it since
                    path.unlink()
            except OSError:
                pass

    def refused(request: web.Request) -> web.Response | None:
        token = held.get("token")
        given = request.headers.get("Authorization", "")
        if token and hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return None
        return problem_response(
            401, "Operator token required",
            f"send 'Authorization: Bearer <token>' with the token from SPACEGRID_CACHE_DIR/{OPERATOR_TOKEN_FILE}",
            "unauthorized", headers={"WWW-Authenticate": "Bearer"},
        )

    async def drift_handler(request: web.Request) -> web.Response:
        if (denied := refused(request)) is not None:
            return denied
        report = await drift(grid, names, sink)
        return web.json_response(report.to_dict())

    async def repair_handler(request: web.Request) -> web.Response:
        if (denied := refused(request)) is not None:
            return denied
        return web.json_response({"reshipped": await repair(grid, names, sink)})

    def is_operator(given: str) -> bool:
        token = held.get("token")
        return bool(token) and hmac.compare_digest(given.encode(), token.encode())

    app[OPERATOR_CHECK] = is_operator  # the dashboard's data answers to it too
    app.cleanup_ctx.append(token_ctx)
    app.router.add_get(ADMIN_DRIFT_ROUTE, drift_handler)
    app.router.add_post(ADMIN_REPAIR_ROUTE, repair_handler)
