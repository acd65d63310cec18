"""Settings of a processing unit, read once from ``SPACEGRID_*`` variables."""

from __future__ import annotations

import secrets
from ipaddress import IPv4Network, IPv6Network, ip_network

from pydantic import Field, field_validator

from grid_config.settings import CommonSettings, SettingsError, load
from processing_unit.text_rules import normalize_email
from processing_unit.secret_policy import MIN_SECRET_BYTES, token_secret_problem


class UnitSettings(CommonSettings):
    """What a unit needs beyond :class:`CommonSettings`."""

    #: HS256 signing key shared by all units; when unset, `spacegrid up` passes the one it
    #: keeps in the cache dir (spacegrid/embedded.py), and tests get a random one
    token_secret: str = ""
    token_ttl_s: int = Field(default=3600, ge=1, le=30 * 24 * 3600)
    max_body_bytes: int = Field(default=1_048_576, ge=1024, le=64 * 1_048_576)
    #: "email:password" -> an admin account created at start if absent
    bootstrap_admin: str = ""
    #: failed logins per (email, client) within ``login_window_s`` answered at once; each
    #: further attempt from that pair waits twice as long as the last (up to login_max_delay_s)
    login_max_failures: int = Field(default=5, ge=1, le=1000)
    login_window_s: int = Field(default=300, ge=1, le=86_400)
    login_max_delay_s: int = Field(default=60, ge=1, le=3600)
    #: comma-separated addresses/networks whose X-Forwarded-For names the client (HAProxy)
    trusted_proxies: str = ""
    #: POST /sessions and POST /users, each: per client, a bucket of ``auth_client_burst``
    #: refilled at ``auth_client_per_min``; per unit, ``auth_global_per_s`` (burst 2 s of it)
    auth_client_per_min: float = Field(default=30, gt=0, le=1_000_000)
    auth_client_burst: int = Field(default=10, ge=1, le=1_000_000)
    auth_global_per_s: float = Field(default=50, gt=0, le=1_000_000)
    #: password hashes admitted per unit beyond the running ones (past it: 503 at once),
    #: and per client at a time (past it: 429 at once)
    hash_queue: int = Field(default=8, ge=0, le=10_000)
    hash_per_client: int = Field(default=1, ge=1, le=10_000)
    #: a connection that has not sent a whole request head this long after opening (or
    #: after its last answer: idle keep-alive) is closed
    http_idle_timeout_s: float = Field(default=10.0, gt=0, le=3600)
    #: bearer token for GET /metrics (``spacegrid unit``; ``spacegrid up`` uses its operator token)
    operator_token: str = ""
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
        if v:
            normalize_email(v.split(":", 1)[0])
        return v

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_shape(cls, v: str) -> str:
        parse_networks(v)  # raises ValueError naming the bad entry
        return v

    @property
    def trusted_networks(self) -> tuple[IPv4Network | IPv6Network, ...]:
        return parse_networks(self.trusted_proxies)

    @property
    def bootstrap_admin_credentials(self) -> tuple[str, str] | None:
        if not self.bootstrap_admin:
            return None
        email, password = self.bootstrap_admin.split(":", 1)
        return normalize_email(email), password


def parse_networks(text: str) -> tuple[IPv4Network | IPv6Network, ...]:
    """``"10.0.0.0/8, 127.0.0.1"`` -> networks (a bare address is a /32 or /128)."""
    out = []
    for part in (p.strip() for p in text.split(",")):
        if part:
            try:
                out.append(ip_network(part, strict=False))
            except ValueError as e:
                raise ValueError(f"not an address or network: {part!r}") from e
    return tuple(out)


def load_unit_settings(require_secret: bool = False, **overrides: object) -> UnitSettings:
    """Load settings; a missing secret is fatal for ``spacegrid unit``, random otherwise.

    ``spacegrid up`` passes the secret it keeps in its cache dir (restarts keep sessions); a
    random one serves a process whose tokens need no other reader (tests, benchmarks).
    Units behind one load balancer must share it or tokens fail on every other unit.
    A secret that is given but short or a published placeholder is fatal everywhere.
    """
    settings = load(UnitSettings, **overrides)
    if settings.token_secret and (problem := token_secret_problem(settings.token_secret)):
        raise SettingsError(problem)
    if settings.operator_token and len(settings.operator_token) < MIN_SECRET_BYTES:
        raise SettingsError(f"SPACEGRID_OPERATOR_TOKEN must be at least {MIN_SECRET_BYTES} random characters")
    if not settings.token_secret:
        if require_secret:
            raise SettingsError(
                "SPACEGRID_TOKEN_SECRET is required by `spacegrid unit`: every unit must "
                "sign and check tokens with the same key (32+ random bytes)"
            )
        settings = settings.model_copy(update={"token_secret": secrets.token_urlsafe(32)})
    return settings
