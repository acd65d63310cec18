"""A route's description: registers it with aiohttp and documents it in /openapi.json."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from aiohttp.typedefs import Handler
from pydantic import BaseModel

#: "operator": the operator token (processing_unit.operator), not a shop user's token
Auth = Literal["none", "user", "admin", "operator"]


@dataclass(frozen=True)
class Header:
    name: str
    description: str
    pattern: str = ""
    required: bool = False


@dataclass(frozen=True)
class RouteSpec:
    method: str
    path: str
    name: str
    handler: Handler
    summary: str
    status: int = 200
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    auth: Auth = "none"
    #: a write: refused with 503 while a journal it appends to is at its bound (G7)
    write: bool = False
    headers: tuple[Header, ...] = ()
    errors: tuple[int, ...] = ()
    content_type: str = "application/json"
    tags: tuple[str, ...] = field(default_factory=tuple)
    #: a long-lived answer (a WebSocket): exempt from the request timeout
    streaming: bool = False
