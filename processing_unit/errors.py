"""Domain errors of the processing unit, one base class, mapped to problem+json in one place."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


class UnitError(Exception):
    """Base of every error a client can cause or must be told about (4xx/503)."""

    status = 400
    title = "Bad request"
    slug = "bad-request"

    def __init__(
        self,
        detail: str,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        self.headers = headers or {}


class MalformedBody(UnitError):
    status, title, slug = 400, "Malformed request body", "malformed-body"


class InvalidInput(UnitError):
    status, title, slug = 422, "Invalid input", "invalid-input"


class Unauthorized(UnitError):
    status, title, slug = 401, "Unauthorized", "unauthorized"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="spacegrid"'})


class Forbidden(UnitError):
    status, title, slug = 403, "Forbidden", "forbidden"


class NotFound(UnitError):
    status, title, slug = 404, "Not found", "not-found"


class Conflict(UnitError):
    status, title, slug = 409, "Conflict", "conflict"


class InsufficientStock(Conflict):
    title, slug = "Insufficient stock", "insufficient-stock"


class InvalidState(Conflict):
    title, slug = "Invalid state transition", "invalid-state"


class TooManyOpenOrders(Conflict):
    title, slug = "Too many open orders", "too-many-open-orders"


class PreconditionFailed(UnitError):
    status, title, slug = 412, "Precondition failed", "precondition-failed"


class PayloadTooLarge(UnitError):
    status, title, slug = 413, "Payload too large", "payload-too-large"


class UnsupportedMediaType(UnitError):
    status, title, slug = 415, "Unsupported media type", "unsupported-media-type"


class TooManyRequests(UnitError):
    status, title, slug = 429, "Too many requests", "too-many-requests"

    def __init__(self, detail: str, retry_after_s: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after_s))})


class Unavailable(UnitError):
    status, title, slug = 503, "Service unavailable", "unavailable"

    def __init__(self, detail: str, retry_after_s: int = 1) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after_s))})
