"""The embedded mode's operator-only drift routes (G4): ``GET /admin/drift``, ``POST /admin/drift/repair``.

The grid of ``spacegrid up`` lives inside its process, so ``spacegrid verify`` cannot
open it; it asks ``up`` instead. The route is not for shop admins: it answers only to
the *operator token* (as the unit's ``GET /metrics`` does), a random secret ``up`` writes at start into
``SPACEGRID_CACHE_DIR/operator-token`` with file mode 0600 (whoever can read that file
already owns the process's files) and removes at shutdown.
"""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path
from typing import AsyncIterator

from aiohttp import web

from data_writer.drift import ADMIN_DRIFT_ROUTE, ADMIN_REPAIR_ROUTE, OPERATOR_TOKEN_FILE, drift, repair
from data_writer.ports import Sink
from grid_config.names import Names
from grid_config.ports import Grid
from processing_unit.operator import OPERATOR
from processing_unit.problems import problem_response
from spacegrid.instance import write_private


def write_operator_token(cache_dir: Path) -> tuple[str, Path]:
    """A fresh token in ``cache_dir/operator-token``, created 0600 (never world-readable, not even briefly)."""
    path = cache_dir / OPERATOR_TOKEN_FILE
    token = secrets.token_urlsafe(32)
    write_private(path, token)
    return token, path


def add_drift_route(app: web.Application, grid: Grid, names: Names, sink: Sink, cache_dir: Path) -> None:
    """Register ``GET /admin/drift``, ``POST /admin/drift/repair`` and the token file's lifetime."""
    held: dict[str, str] = {}

    async def token_ctx(app: web.Application) -> AsyncIterator[None]:
        token, path = write_operator_token(cache_dir)
        held["token"] = token
        app[OPERATOR].value = token  # the unit's GET /metrics answers to it too
        try:
            yield
        finally:
            held.clear()
            app[OPERATOR].value = ""
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

    app.cleanup_ctx.append(token_ctx)
    app.router.add_get(ADMIN_DRIFT_ROUTE, drift_handler)
    app.router.add_post(ADMIN_REPAIR_ROUTE, repair_handler)
