"""Server-side sessions for the pages, with a CSRF token per session.

The cookie holds a 256-bit random token; the database keeps only its SHA-256 (the session
``id``), so a copy of the table signs nobody in. A session ends after 30 idle minutes or
12 hours, whichever comes first; each request slides the idle limit (written at most once
a minute). Every form carries the session's CSRF token, checked with
:func:`check_csrf` (constant time).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, TypedDict

from sqlalchemy import Column, Connection, ForeignKey, String, Table, insert, select, update

from hpf.access.permissions import Principal
from hpf.db.metadata import Id, UtcDateTime, metadata
from hpf.identity.identity import (
    Forbidden,
    active_principal,
    hash_token,
    new_token,
    now_utc,
    token_hash_or_none,
    utc,
)
from hpf.kernel.context import Context

COOKIE_NAME = "hpf_session"
CSRF_FIELD = "csrf_token"  # the form field (and X-CSRF-Token header) the pages use
IDLE_TIMEOUT = timedelta(minutes=30)
ABSOLUTE_TIMEOUT = timedelta(hours=12)
TOUCH_AFTER = timedelta(minutes=1)

web_session = Table(
    "web_session",
    metadata,
    Column("id", String(64), primary_key=True),  # SHA-256 hex of the cookie token
    Column("principal_id", Id, ForeignKey("principal.id"), nullable=False, index=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("last_seen_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),  # idle limit, never past absolute
    Column("absolute_expires_at", UtcDateTime(), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("ip", String(45)),
    Column("user_agent", String(200)),
    Column("revoked_at", UtcDateTime()),
)


@dataclass(frozen=True)
class Session:
    id: str  # the token's hash: safe to log and audit
    principal: Principal
    display_name: str
    csrf_token: str = field(repr=False)
    created_at: datetime
    expires_at: datetime
    absolute_expires_at: datetime


def _clean(value: str | None, limit: int) -> str | None:
    if value is None:
        return None
    return "".join(ch if ch.isprintable() else "?" for ch in value[:limit])


def start_session(
    conn: Connection,
    ctx: Context,
    principal_id: int,
    ip: str | None = None,
    user_agent: str | None = None,
) -> tuple[str, Session]:
    """A new session after a completed sign-in: the cookie token and the session.

    Always a fresh token (no session fixation); the token is returned once and never stored.
    """
    active = active_principal(conn, principal_id)
    if active is None:
        raise Forbidden("auth.disabled", "账户已停用，请联系管理员", "this account is disabled or gone")
    now = now_utc(ctx)
    token = new_token()
    csrf = secrets.token_urlsafe(32)
    absolute = now + ABSOLUTE_TIMEOUT
    expires = min(now + IDLE_TIMEOUT, absolute)
    sid = hash_token(token)
    conn.execute(
        insert(web_session).values(
            id=sid,
            principal_id=principal_id,
            created_at=now,
            last_seen_at=now,
            expires_at=expires,
            absolute_expires_at=absolute,
            csrf_token=csrf,
            ip=_clean(ip, 45),
            user_agent=_clean(user_agent, 200),
        )
    )
    who, name = active
    return token, Session(sid, who, name, csrf, now, expires, absolute)


class TouchNeeded(Exception):
    """Raised by ``load_session(..., touch=False)`` when the live session's idle limit is due to
    slide: the caller loads it again in a write transaction. Most page requests only read."""


def load_session(conn: Connection, token: object, now: datetime, *, touch: bool = True) -> Session | None:
    """The live session behind a cookie value, sliding its idle limit; None for anything else.

    With ``touch=False`` (a read transaction) a session whose idle limit is due to slide raises
    ``TouchNeeded`` instead of being written.
    """
    sid = token_hash_or_none(token)
    if sid is None:
        return None
    row = conn.execute(select(web_session).where(web_session.c.id == sid)).mappings().first()
    now = utc(now)
    if row is None or row["revoked_at"] is not None or utc(row["expires_at"]) <= now:
        return None
    absolute = utc(row["absolute_expires_at"])
    if absolute <= now:
        return None
    active = active_principal(conn, row["principal_id"])
    if active is None:
        return None
    expires = utc(row["expires_at"])
    if now - utc(row["last_seen_at"]) >= TOUCH_AFTER:
        if not touch:
            raise TouchNeeded
        expires = min(now + IDLE_TIMEOUT, absolute)
        conn.execute(
            update(web_session).where(web_session.c.id == sid).values(last_seen_at=now, expires_at=expires)
        )
    who, name = active
    return Session(sid, who, name, row["csrf_token"], utc(row["created_at"]), expires, absolute)


def end_session(conn: Connection, ctx: Context, token: object) -> bool:
    """Sign out: the session is revoked (True if there was a live one)."""
    sid = token_hash_or_none(token)
    if sid is None:
        return False
    done = conn.execute(
        update(web_session)
        .where(web_session.c.id == sid, web_session.c.revoked_at.is_(None))
        .values(revoked_at=now_utc(ctx))
    )
    return done.rowcount == 1


def end_all_sessions(conn: Connection, ctx: Context, principal_id: int) -> int:
    """Revoke every session of a principal (password change, disabling, forced sign-out)."""
    done = conn.execute(
        update(web_session)
        .where(web_session.c.principal_id == principal_id, web_session.c.revoked_at.is_(None))
        .values(revoked_at=now_utc(ctx))
    )
    return done.rowcount


def check_csrf(session: Session, submitted: object) -> bool:
    """True when a form's CSRF token is the session's (constant-time comparison)."""
    if not isinstance(submitted, str) or not submitted or len(submitted) > 200:
        return False
    return hmac.compare_digest(submitted.encode("utf-8", "surrogatepass"), session.csrf_token.encode("ascii"))


class CookieSettings(TypedDict):
    """Keyword arguments of Starlette's ``set_cookie`` / ``delete_cookie`` for the page session."""

    key: str
    httponly: bool
    samesite: Literal["lax", "strict", "none"]
    secure: bool
    path: str


def cookie_settings(env: str) -> CookieSettings:
    """Keyword arguments for Starlette's ``response.set_cookie(value=token, **...)``.

    No ``max_age``: the cookie ends with the browser; the server enforces the timeouts.
    """
    return CookieSettings(
        key=COOKIE_NAME, httponly=True, samesite="lax", secure=env != "development", path="/"
    )


def cookie_deletion(env: str) -> CookieSettings:
    """Keyword arguments for ``response.delete_cookie(**...)`` on sign-out."""
    return cookie_settings(env)
