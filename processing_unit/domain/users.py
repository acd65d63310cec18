"""Users: the stored user and the resource a client sees."""

from __future__ import annotations

from typing import Any

PUBLIC_FIELDS = ("id", "email", "name", "is_admin")


def public_user(user: dict[str, Any]) -> dict[str, Any]:
    """The resource a client sees: never the password hash."""
    return {k: user[k] for k in PUBLIC_FIELDS}


def new_user(*, user_id: str, email: str, name: str, password_hash: str, is_admin: bool) -> dict[str, Any]:
    """A new user (its email is claimed first, with ``put_if_absent``)."""
    return {
        "id": user_id,
        "email": email,
        "name": name,
        "is_admin": is_admin,
        "password_hash": password_hash,
        "version": 1,
    }
