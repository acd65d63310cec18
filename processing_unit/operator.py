"""The operator token: who may read a unit's internals (``GET /metrics``), not a shop user.

Shop users and admins hold JWTs; operators hold this separate bearer secret, so a leaked
or forged shop token never reads metrics and a metrics scraper never holds shop rights.
``spacegrid unit`` takes it from ``SPACEGRID_OPERATOR_TOKEN`` (unset: no one reads
/metrics); ``spacegrid up`` sets its per-run operator token here at start (the one it
writes 0600 into ``SPACEGRID_CACHE_DIR/operator-token``, also used by ``spacegrid verify``).
"""

from __future__ import annotations

import hmac

from aiohttp import web

from processing_unit.errors import Unauthorized


class OperatorToken:
    """The current operator token ("" = none: every caller is refused)."""

    def __init__(self, value: str = "") -> None:
        self.value = value

    def require(self, request: web.Request) -> None:
        """Raise 401 unless the request carries ``Authorization: Bearer <operator token>``."""
        given = request.headers.get("Authorization", "")
        if not self.value or not hmac.compare_digest(given.encode(), f"Bearer {self.value}".encode()):
            raise Unauthorized(
                "operators only: send 'Authorization: Bearer <operator token>' (SPACEGRID_OPERATOR_TOKEN "
                "for `spacegrid unit`, SPACEGRID_CACHE_DIR/operator-token for `spacegrid up`)"
            )


OPERATOR: web.AppKey[OperatorToken] = web.AppKey("operator", OperatorToken)
