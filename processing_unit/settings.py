"""Settings of a processing unit, read once from ``SPACEGRID_*`` variables."""

from __future__ import annotations

import secrets

from pydantic import Field, field_validator

from grid_config.settings import CommonSettings, SettingsError, load


class UnitSettings(CommonSettings):
    """What a unit needs beyond :class:`CommonSettings`."""

    #: HS256 signing key shared by all units; random per process when unset (embedded only)
    token_secret: str = ""
    token_ttl_s: int = Field(default=3600, ge=1, le=30 * 24 * 3600)
    max_body_bytes: int = Field(default=1_048_576, ge=1024, le=64 * 1_048_576)
    #: "email:password" -> an admin account created at start if absent
    bootstrap_admin: str = ""
    #: failed logins per email within ``login_window_s`` before 429
    login_max_failures: int = Field(default=5, ge=1, le=1000)
    login_window_s: int = Field(default=300, ge=1, le=86_400)
    #: a stock hold older than this is settled or released by the reaper (G5); a placement
    #: that has not committed within half of it gives up (503). At least 15 s: a commit sent
    #: at half the bound must be over (the grid's 5 s operation deadline, plus 1) before a
    #: reaper may look at its holds.
    hold_bound_s: float = Field(default=30.0, ge=15.0, le=3600)
    #: a placed order not paid within this long is cancelled by the reaper, its stock given back
    order_pay_timeout_s: float = Field(default=900.0, ge=1.0, le=30 * 86_400)
    #: placed (unpaid) orders one user may have open at once; past it POST /orders is a 409
    #: (0: no limit). Checked before the stock is held: concurrent placements of one user
    #: may pass it together (at most this plus the user's placements in flight).
    max_open_orders: int = Field(default=20, ge=0, le=1_000_000)
    #: how long a readiness probe of the grid is reused before asking again
    ready_probe_cache_ms: int = Field(default=200, ge=0, le=10_000)
    #: a request that takes longer answers 503 (grid slow or unreachable: fail fast)
    request_timeout_s: float = Field(default=15.0, gt=0, le=600)
    #: on SIGTERM, readiness is 503 this long before the listener closes
    drain_grace_s: float = Field(default=5.0, ge=0, le=600)
    #: in-flight requests get this long to finish after the listener closed
    shutdown_timeout_s: float = Field(default=30.0, ge=0, le=600)
    #: live notifications (GET /ws): a product's stock at or below this is "low" for admins
    low_stock: int = Field(default=5, ge=0, le=1_000_000)
    #: sockets one unit serves at once (past it: close 1013), and one user may hold (4429)
    ws_max_connections: int = Field(default=2000, ge=1, le=100_000)
    ws_max_per_user: int = Field(default=8, ge=1, le=100_000)
    #: live messages waiting for one socket before it counts as too slow (closed, 1013)
    ws_queue: int = Field(default=64, ge=1, le=100_000)
    #: a ping every this long; no pong within half of it closes the socket
    ws_heartbeat_s: float = Field(default=20.0, ge=0.5, le=3600)
    #: how far back a cursor may point: messages kept for replays, by age and by count
    live_retention_s: float = Field(default=600.0, ge=1, le=86_400)
    live_retention_events: int = Field(default=50_000, ge=10, le=10_000_000)
    #: argon2id cost (RFC 9106 "low memory" profile by default; tests lower it)
    argon2_time_cost: int = Field(default=3, ge=1, le=20)
    argon2_memory_kib: int = Field(default=65_536, ge=8, le=4_194_304)
    argon2_parallelism: int = Field(default=4, ge=1, le=64)

    @field_validator("bootstrap_admin")
    @classmethod
    def _admin_shape(cls, v: str) -> str:
        if v and (":" not in v or not v.split(":", 1)[0] or len(v.split(":", 1)[1]) < 8):
            raise ValueError("must be email:password with a password of 8+ characters")
        return v

    @property
    def bootstrap_admin_credentials(self) -> tuple[str, str] | None:
        if not self.bootstrap_admin:
            return None
        email, password = self.bootstrap_admin.split(":", 1)
        return email.strip().lower(), password


def load_unit_settings(require_secret: bool = False, **overrides: object) -> UnitSettings:
    """Load settings; a missing secret is fatal for ``spacegrid unit``, random otherwise.

    A random secret is fine for one embedded process: its tokens need no other reader.
    Units behind one load balancer must share it or tokens fail on every other unit.
    """
    settings = load(UnitSettings, **overrides)
    if not settings.token_secret:
        if require_secret:
            raise SettingsError(
                "SPACEGRID_TOKEN_SECRET is required by `spacegrid unit`: every unit must "
                "sign and check tokens with the same key (32+ random bytes)"
            )
        settings = settings.model_copy(update={"token_secret": secrets.token_urlsafe(32)})
    return settings
