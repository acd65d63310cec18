"""Users: creation with a unique email, inside one transaction."""

from __future__ import annotations

from typing import Any

from grid_config.names import Names
from grid_config.ports import Tx
from processing_unit.errors import Conflict, FieldError

PUBLIC_FIELDS = ("id", "email", "name", "is_admin")


def public_user(user: dict[str, Any]) -> dict[str, Any]:
    """The resource a client sees: never the password hash."""
    return {k: user[k] for k in PUBLIC_FIELDS}


def create_user(
    tx: Tx,
    names: Names,
    *,
    user_id: str,
    email: str,
    name: str,
    password_hash: str,
    is_admin: bool,
) -> dict[str, Any]:
    """Claim the email and store the user; a taken email is a 409 and nothing is written.

    The email claim is a read-for-update of ``users-by-email`` in the same transaction,
    so two concurrent sign-ups with one email serialize: one 201, one 409, and a unit
    crash can leave neither a claim without a user nor a user without its claim.
    """
    if tx.get(names.users_by_email, email) is not None:
        raise Conflict("a user with this email exists", [FieldError("email", "already registered")])
    user = {
        "id": user_id,
        "email": email,
        "name": name,
        "is_admin": is_admin,
        "password_hash": password_hash,
        "version": 1,
    }
    tx.put(names.users_by_email, email, {"user_id": user_id})
    tx.put(names.users, user_id, user)
    return user
