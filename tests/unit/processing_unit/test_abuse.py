"""Issue 12 in process: token lifetime, abuse limits, the per-(email, client) delay, input hygiene.

Clients are told apart by X-Forwarded-For from a trusted proxy (the test client is the
proxy, 127.0.0.1); the same limits on real addresses are in tests/e2e/test_security.py.
"""

from __future__ import annotations

import asyncio
import time
from typing import AsyncIterator

import jwt
import pytest

from processing_unit.abuse import TokenBuckets
from processing_unit.secret_policy import token_secret_problem
from processing_unit.settings import load_unit_settings
from tests.unit.processing_unit.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, TEST_SECRET, Api, make_api, unit_settings

pytestmark = pytest.mark.unit

DEFAULT_LIMITS = dict(auth_client_burst=10, auth_client_per_min=30, auth_global_per_s=50, hash_per_client=1,
                      hash_queue=8)


@pytest.fixture
async def limited() -> AsyncIterator[Api]:
    """A unit with the default abuse limits, behind a trusted proxy (the test client)."""
    async for api in make_api(unit_settings(**DEFAULT_LIMITS, trusted_proxies="127.0.0.1")):
        yield api


def xff(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


async def login(api: Api, email: str, password: str, address: str) -> int:
    r = await api.client.post("/sessions", json={"email": email, "password": password}, headers=xff(address))
    if r.status in (429, 503):
        assert int(r.headers["Retry-After"]) >= 1
    return r.status


# ---- secrets and tokens -----------------------------------------------------------------
@pytest.mark.parametrize("secret", ["x", "change-me-to-32-random-bytes", "CHANGE-ME", "short-but-random-Qm2Zk",
                                    "a" * 64, "abab" * 16, "please-change-me-to-something-long-enough-ok"])
def test_weak_token_secrets_are_refused_with_one_line(secret: str) -> None:
    with pytest.raises(SystemExit) as e:
        load_unit_settings(token_secret=secret)
    message = str(e.value)
    assert "SPACEGRID_TOKEN_SECRET" in message and "\n" not in message and secret not in message


def test_a_random_secret_passes() -> None:
    assert token_secret_problem(TEST_SECRET) is None


async def test_token_with_far_expiry_or_future_issue_is_refused(api: Api) -> None:
    caller = await api.signup()
    now = int(time.time())
    for claims in ({"iat": now, "exp": now + 100 * 365 * 86_400},  # 100 years: longer than the lifetime
                   {"iat": now - 7200, "exp": now + 60},  # issued longer ago than the lifetime
                   {"iat": now + 3600, "exp": now + 3700}):  # issued in the future
        token = jwt.encode({"sub": caller.id, "iss": "spacegrid", **claims}, TEST_SECRET, "HS256")
        r = await api.client.get("/users/me", headers=api.auth_header(token))
        assert r.status == 401, claims
    r = await api.client.get("/users/me", headers=caller.headers)  # a token as issued still works
    assert r.status == 200


# ---- rates ------------------------------------------------------------------------------
def test_token_bucket_refills_and_stays_bounded() -> None:
    buckets = TokenBuckets(per_s=1.0, burst=2, max_keys=3)
    assert [buckets.take("a", now=0.0) for _ in range(3)] == [0.0, 0.0, 1.0]
    assert buckets.take("a", now=1.0) == 0.0
    for key in "bcdef":
        buckets.take(key, now=1.0)
    assert len(buckets) == 3


async def test_login_rate_is_per_client(limited: Api) -> None:
    flood = await asyncio.gather(*(login(limited, "nobody@example.com", "wrong-pw-1", "10.0.0.9") for _ in range(40)))
    assert flood.count(429) >= 30
    assert await login(limited, ADMIN_EMAIL, ADMIN_PASSWORD, "10.0.0.1") == 201  # another client is served


async def test_sign_up_rate_is_per_client(limited: Api) -> None:
    statuses = []
    for i in range(14):
        r = await limited.client.post("/users", json={"email": f"bulk{i}@example.com", "name": "B",
                                                      "password": "password-1"}, headers=xff("10.0.0.7"))
        statuses.append(r.status)
    assert statuses[:10] == [201] * 10 and set(statuses[10:]) == {429}
    r = await limited.client.post("/users", json={"email": "other@example.com", "name": "O", "password": "password-1"},
                                  headers=xff("10.0.0.8"))
    assert r.status == 201


async def test_forwarded_for_is_ignored_from_an_untrusted_peer() -> None:
    async for api in make_api(unit_settings(**DEFAULT_LIMITS)):  # no trusted proxies
        statuses = [await login(api, "nobody@example.com", "wrong-pw-1", f"10.1.0.{i}") for i in range(12)]
        assert 429 in statuses  # a fresh X-Forwarded-For per request is still the one peer


async def test_hash_gate_answers_at_once_when_full() -> None:
    async for api in make_api(unit_settings(**{**DEFAULT_LIMITS, "hash_queue": 0, "auth_client_burst": 1000},
                                            trusted_proxies="127.0.0.1")):
        started = time.perf_counter()
        statuses = await asyncio.gather(*(login(api, "nobody@example.com", "wrong-pw-1", f"10.2.0.{i}")
                                          for i in range(30)))
        took = time.perf_counter() - started
        assert statuses.count(503) >= 20 and set(statuses) <= {401, 503}
        assert took < 2.0


# ---- failed logins per (email, client) --------------------------------------------------
async def test_wrong_passwords_delay_that_client_only(limited: Api) -> None:
    await limited.signup("owner@example.com", "owner-password")
    guesses = [await login(limited, "owner@example.com", f"guess-{i}", "10.3.0.66") for i in range(10)]
    assert guesses[:5] == [401] * 5 and set(guesses[5:]) == {429}
    assert await login(limited, "owner@example.com", "owner-password", "10.3.0.1") == 201
    assert await login(limited, "owner@example.com", "owner-password", "10.3.0.66") == 429


async def test_the_delay_grows_and_passes(limited: Api) -> None:
    await limited.signup("slow@example.com", "slow-password")
    for i in range(5):
        assert await login(limited, "slow@example.com", f"guess-{i}", "10.4.0.1") == 401
    r = await limited.client.post("/sessions", json={"email": "slow@example.com", "password": "x-guess"},
                                  headers=xff("10.4.0.1"))
    assert r.status == 429 and r.headers["Retry-After"] == "1"
    await asyncio.sleep(1.05)
    assert await login(limited, "slow@example.com", "slow-password", "10.4.0.1") == 201


# ---- input hygiene ----------------------------------------------------------------------
@pytest.mark.parametrize("email", ["ann\u200b@example.com", "ann\x00@example.com", "ann\u202e@example.com",
                                   "\ufeffann@example.com"])
async def test_invisible_characters_in_emails_are_422_naming_the_field(api: Api, email: str) -> None:
    r = await api.client.post("/users", json={"email": email, "name": "Ann", "password": "password-1"})
    assert r.status == 422
    assert [e["field"] for e in (await r.json())["errors"]] == ["email"]


@pytest.mark.parametrize("name", ["Ann\x00", "\u202eevil", "A\u200dnn", "line\u2028break"])
async def test_invisible_characters_in_names_are_422_naming_the_field(api: Api, name: str) -> None:
    r = await api.client.post("/users", json={"email": "n@example.com", "name": name, "password": "password-1"})
    assert r.status == 422
    assert [e["field"] for e in (await r.json())["errors"]] == ["name"]


async def test_emails_are_one_account_after_nfkc_and_case_folding(api: Api) -> None:
    await api.signup("ann@example.com", "password-1")
    for twin in ("ＡＮＮ@example.com", "ANN@EXAMPLE.COM", "ann@ｅｘａｍｐｌｅ.com"):
        r = await api.client.post("/users", json={"email": twin, "name": "Twin", "password": "password-2"})
        assert r.status == 409, twin
    assert (await api.client.post("/sessions", json={"email": "ＡＮＮ@example.com", "password": "password-1"})).status == 201


def test_a_refused_setting_never_prints_a_secret_value() -> None:
    with pytest.raises(SystemExit) as e:
        load_unit_settings(token_secret=TEST_SECRET, bootstrap_admin="admin@example.com:short7")
    assert "SPACEGRID_BOOTSTRAP_ADMIN" in str(e.value) and "short7" not in str(e.value)


def test_a_remembered_token_still_expires_and_the_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from processing_unit import tokens as tokens_module
    from processing_unit.errors import Unauthorized
    from processing_unit.tokens import Tokens

    monkeypatch.setattr(tokens_module, "VERIFIED_MEMO", 3)
    t = Tokens(TEST_SECRET, ttl_s=60)
    issued = [t.issue(str(i))[0] for i in range(5)]
    assert [t.verify(token) for token in issued] == ["0", "1", "2", "3", "4"]
    assert len(t._verified) == 3  # the oldest forgotten
    assert [t.verify(token) for token in issued] == ["0", "1", "2", "3", "4"]  # forgotten ones checked again
    later = time.time() + 61
    monkeypatch.setattr(tokens_module.time, "time", lambda: later)
    with pytest.raises(Unauthorized, match="expired|lifetime"):
        t.verify(issued[4])  # remembered, but past its expiry: checked again and refused
