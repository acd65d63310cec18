"""Which token secrets a unit refuses to start with: short ones and published placeholders.

A token signed with a value anyone can read (compose's old fallback, the README's example)
is a forged admin token. The check is here, not in a pydantic validator, so the refusal is
one line that names the variable and never echoes the value.
"""

from __future__ import annotations

#: bytes of an HS256 key at least (RFC 7518 section 3.2: the key at least as long as the hash)
MIN_SECRET_BYTES = 32
#: fewer distinct characters than this is a pattern, not a random value ("xxxx...", "abab...")
MIN_DISTINCT_CHARS = 8

#: values published in this repository (compose.yaml, README, docs) or too obvious to be secret
PLACEHOLDERS = frozenset({
    "change-me-to-32-random-bytes",
    "change-me",
    "changeme",
    "change_me",
    "changeit",
    "secret",
    "password",
    "token",
    "test",
    "spacegrid",
    "spacegrid-secret",
    "your-secret-here",
    "replace-me",
    "please-change-me",
})
#: a secret containing one of these was copied from an example, whatever its length
PLACEHOLDER_MARKS = ("change-me", "changeme", "change_me", "replace-me", "your-secret", "example")

VARIABLE = "SPACEGRID_TOKEN_SECRET"


def token_secret_problem(secret: str) -> str | None:
    """Why ``secret`` must not sign tokens (one line, without the value), or None when it may."""
    folded = secret.strip().lower()
    if folded in PLACEHOLDERS or any(mark in folded for mark in PLACEHOLDER_MARKS):
        return (f"{VARIABLE} is a published placeholder: anyone can forge tokens with it; "
                f"set 32+ random bytes (e.g. `python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`)")
    if len(secret.encode()) < MIN_SECRET_BYTES:
        return (f"{VARIABLE} is {len(secret.encode())} bytes; it must be at least {MIN_SECRET_BYTES} random bytes "
                f"(e.g. `python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`)")
    if len(set(secret)) < MIN_DISTINCT_CHARS:
        return f"{VARIABLE} has fewer than {MIN_DISTINCT_CHARS} distinct characters: use 32+ random bytes"
    return None
