"""Users and sessions: sign-up, login, tokens, rate limiting, the admin bootstrap."""

from __future__ import annotations

import asyncio
import time

import jwt
import pytest

from tests.unit.processing_unit.conftest import ADMIN_EMAIL, TEST_SECRET, Api

pytestmark = pytest.mark.unit


async def test_signup_login_me(api: Api) -> None:
    r = await api.client.post("/users", json={"email": "Ann@Example.com", "name": "Ann", "password": "s3cret-pw"})
    assert r.status == 201
    user = await r.json()
    assert set(user) == {"id", "email", "name", "is_admin"}
    assert user["email"] == "ann@example.com" and user["is_admin"] is False
    token = await api.login("ann@example.com", "s3cret-pw")
    r = await api.client.get("/users/me", headers=api.auth_header(token))
    assert r.status == 200
    assert await r.json() == user
    # the change event carries the hash (database, cold start); the API never does
    events = await api.drain_changes()
    assert [e.kind for e in events] == ["users"]
    assert events[0].state["password_hash"].startswith("$argon2id$")
    assert events[0].id == user["id"] and events[0].version == 1
    assert "hash" not in (await r.text())


async def test_session_shape(api: Api) -> None:
    await api.signup("shape@example.com", "password-1")
    r = await api.client.post("/sessions", json={"email": "shape@example.com", "password": "password-1"})
    body = await r.json()
    assert set(body) == {"token", "expires_at"} and body["expires_at"].endswith("Z")


async def test_duplicate_email_409(api: Api) -> None:
    await api.signup("dup@example.com")
    r = await api.client.post("/users", json={"email": "DUP@example.com", "name": "X", "password": "password-2"})
    assert r.status == 409
    assert r.content_type == "application/problem+json"
    assert (await r.json())["errors"][0]["field"] == "email"


async def test_concurrent_signups_one_email_one_wins(api: Api) -> None:
    body = {"email": "race@example.com", "name": "R", "password": "password-1"}
    rs = await asyncio.gather(*(api.client.post("/users", json=body) for _ in range(8)))
    statuses = sorted(r.status for r in rs)
    assert statuses == [201] + [409] * 7
    assert len([e for e in await api.drain_changes() if e.kind == "users"]) == 1


async def test_wrong_password_401_then_429_with_retry_after(api: Api) -> None:
    await api.signup("victim@example.com", "password-1")
    for _ in range(5):
        r = await api.client.post("/sessions", json={"email": "victim@example.com", "password": "nope-nope"})
        assert r.status == 401
    r = await api.client.post("/sessions", json={"email": "victim@example.com", "password": "password-1"})
    assert r.status == 429
    assert int(r.headers["Retry-After"]) >= 1
    # other emails are not affected
    await api.signup("other@example.com", "password-1")


async def test_unknown_email_401(api: Api) -> None:
    r = await api.client.post("/sessions", json={"email": "ghost@example.com", "password": "whatever1"})
    assert r.status == 401
    assert (await r.json())["status"] == 401


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Bearer",
        "Basic abc",
        "Bearer not-a-jwt",
        "Bearer " + jwt.encode({"sub": "1", "iat": 0, "exp": 2**40, "iss": "spacegrid"}, "wrong-secret", "HS256"),
        "Bearer " + jwt.encode({"sub": "1", "iat": 0, "exp": 1, "iss": "spacegrid"}, TEST_SECRET, "HS256"),
        "Bearer " + jwt.encode({"sub": "1", "iat": 0, "exp": 2**40, "iss": "spacegrid"}, TEST_SECRET, "none" if False else "HS512"),
    ],
)
async def test_bad_tokens_401(api: Api, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    r = await api.client.get("/users/me", headers=headers)
    assert r.status == 401
    assert r.content_type == "application/problem+json"
    assert "WWW-Authenticate" in r.headers


async def test_expired_token_401(api: Api) -> None:
    caller = await api.signup()
    token = jwt.encode(
        {"sub": caller.id, "iat": int(time.time()) - 100, "exp": int(time.time()) - 1, "iss": "spacegrid"},
        TEST_SECRET,
        "HS256",
    )
    r = await api.client.get("/users/me", headers=api.auth_header(token))
    assert r.status == 401
    assert "expired" in (await r.json())["detail"]


async def test_bootstrap_admin_exists_once(api: Api) -> None:
    r = await api.client.get("/users/me", headers=api.admin)
    me = await r.json()
    assert me["is_admin"] is True and me["email"] == ADMIN_EMAIL


async def test_admin_routes_refuse_non_admin_403(api: Api) -> None:
    caller = await api.signup()
    r = await api.client.post(
        "/products", json={"sku": "A1", "name": "n", "category": "c", "price_cents": 1}, headers=caller.headers
    )
    assert r.status == 403
