"""Signed, expiring bearer tokens (JWT HS256 with the secret shared by every unit)."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import jwt

from processing_unit.errors import Unauthorized
from service_kit.bounded import keep

ISSUER = "spacegrid"
#: clock difference between units tolerated on ``iat`` (a token "issued" later than this is forged)
CLOCK_SKEW_S = 30
#: tokens remembered as verified (the signature check was ~5% of a unit's CPU per order);
#: the oldest remembered is forgotten first
VERIFIED_MEMO = 4096


class Tokens:
    """Tokens live ``ttl_s`` at most: ``exp - iat`` and the age since ``iat`` are both checked,
    so a token minted with a far ``exp`` (a leaked key, a bug) is refused anyway."""

    def __init__(self, secret: str, ttl_s: int) -> None:
        self._secret = secret
        self._ttl_s = ttl_s
        #: token -> (user id, iat, exp) of tokens that passed :meth:`verify` (bounded)
        self._verified: dict[str, tuple[str, int, int]] = {}

    def issue(self, user_id: str) -> tuple[str, str]:
        """A token for ``user_id`` and its expiry as ISO-8601 UTC."""
        now = int(time.time())
        exp = now + self._ttl_s
        token = jwt.encode({"sub": user_id, "iat": now, "exp": exp, "iss": ISSUER}, self._secret, "HS256")
        expires = datetime.fromtimestamp(exp, timezone.utc).isoformat().replace("+00:00", "Z")
        return token, expires

    def verify(self, token: str) -> str:
        """The user id of a valid token; 401 for anything expired, forged or malformed.

        A token verified before is answered from memory while it is inside its lifetime (the
        secret does not change while the process runs); an expired one is checked again,
        which refuses it.
        """
        known = self._verified.get(token)
        if known is not None:
            sub, iat, exp = known
            now = time.time()
            if now < exp and now - iat <= self._ttl_s:
                return sub
            del self._verified[token]
        sub, _iat, _exp = keep(self._verified, token, self._check(token), VERIFIED_MEMO)
        return sub

    def _check(self, token: str) -> tuple[str, int, int]:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],
                issuer=ISSUER,
                options={"require": ["sub", "exp", "iat", "iss"]},
            )
        except jwt.ExpiredSignatureError as e:
            raise Unauthorized("token expired") from e
        except jwt.InvalidSignatureError as e:
            raise Unauthorized(
                "token signed with another secret: the server's signing key changed since it was "
                "issued (a new SPACEGRID_TOKEN_SECRET, or a restart without a kept one); sign in again"
            ) from e
        except jwt.PyJWTError as e:
            raise Unauthorized("invalid token") from e
        iat, exp = claims.get("iat"), claims.get("exp")
        if not isinstance(iat, int) or not isinstance(exp, int):
            raise Unauthorized("invalid token times")
        now = time.time()
        if iat > now + CLOCK_SKEW_S or exp - iat > self._ttl_s or now - iat > self._ttl_s:
            raise Unauthorized("token outside its lifetime")
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub.isdigit():
            raise Unauthorized("invalid token subject")
        return sub, iat, exp
