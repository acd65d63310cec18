"""HTTP shortcuts for tests that drive real units: a JSON POST and a sign-in."""

from __future__ import annotations

from typing import Any

import aiohttp


async def post(http: aiohttp.ClientSession, url: str, body: dict | None, token: str | None = None,
               request_id: str | None = None) -> tuple[int, Any]:
    """POST ``body`` as JSON (with a bearer token and a request id when given): status, JSON."""
    headers = {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if request_id:
        headers["X-Request-ID"] = request_id
    async with http.post(url, json=body, headers=headers) as r:
        return r.status, await r.json(content_type=None)


async def sign_in(http: aiohttp.ClientSession, base: str, email: str, password: str) -> str:
    """A session token (the test fails unless the unit answers 201)."""
    status, body = await post(http, f"{base}/sessions", {"email": email, "password": password})
    assert status == 201, body
    return body["token"]
