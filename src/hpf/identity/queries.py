"""What other packages may read of sign-in state: the second-step challenges.

The sign-in tables (in ``identity.py``) are read by the console's sign-in pages and API
through these functions, so that no HTTP module writes SQL (``tests/test_architecture.py``).
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Connection, Subquery, select

from hpf.identity.identity import principal, sign_in_challenge, staff_identity


def challenge_step(conn: Connection, token_hash: str) -> str | None:
    """Which second step (``totp``, ``totp_setup``, ``sms``) the challenge with this token hash
    is for; None if there is no such challenge."""
    step: str | None = conn.scalar(
        select(sign_in_challenge.c.step).where(sign_in_challenge.c.token_hash == token_hash)
    )
    return step


class Challenge(NamedTuple):
    """A second-step challenge and its principal; the TOTP seed being enrolled still sealed
    (``hpf.protection.protect.to_plain("sign_in_challenge", …)`` opens it)."""

    step: str
    expires_at: datetime
    consumed_at: datetime | None
    pending_secret_enc: str | None
    login: str
    principal_id: int


def challenge(conn: Connection, token_hash: str) -> Challenge | None:
    """The challenge with this token hash, live or not; None if there is none."""
    c, p = sign_in_challenge.c, principal.c
    row = conn.execute(
        select(c.step, c.expires_at, c.consumed_at, c.pending_secret_enc, p.login, p.id.label("principal_id"))
        .join_from(sign_in_challenge, principal, p.id == c.principal_id)
        .where(c.token_hash == token_hash)
    ).first()
    return None if row is None else Challenge._make(row)


def staff_identities_subquery(name: str | None = None) -> Subquery:
    """Every staff login whose owner's ID number is registered, with its blind index in the
    member accounts' domain (``member.resident_id_bidx`` of the same person is equal).

    Columns: ``login``, ``resident_id_bidx``.
    """
    return (
        select(principal.c.login, staff_identity.c.resident_id_bidx)
        .join(staff_identity, staff_identity.c.principal_id == principal.c.id)
        .subquery(name)
    )
