"""Hub staff and their sign-in: a password (argon2id, the center's policy) and a page session.

Decision 0027: the hub reuses ``hpf.identity.passwords`` (hashing and the password policy, which
touch no table) but not the center's principals, sessions or audit log: those live in the
center's schema, and the hub's database holds only the hub's tables. Hub staff are few, created
on the command line (``hpf hub add-staff``); a session is a random token in an ``HttpOnly``,
``SameSite=Strict`` cookie (``Secure`` outside development), stored as its SHA-256 with the CSRF
token every form posts back, ending after 8 hours.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, insert, select

from hpf.hub.tables import hub_session, hub_staff
from hpf.identity.passwords import Passwords, require_password_policy
from hpf.identity.sessions import CookieSettings
from hpf.kernel.errors import Conflict, invalid

COOKIE_NAME = "hpf_hub_session"
SESSION_HOURS = 8


@dataclass(frozen=True)
class StaffSession:
    staff_id: int
    login: str
    name: str
    csrf: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


ROLES = ("admin", "supervisor")  # decision 0040
ROLE_ZH = {"admin": "平台管理员", "supervisor": "监督员"}
NATION = "nation"


def add_staff(
    conn: Connection,
    *,
    login: str,
    name: str,
    password: str,
    passwords: Passwords,
    now: datetime,
    role: str = "admin",
    scope: str = NATION,
) -> int:
    """A hub staff member; ``role`` admin or supervisor, ``scope`` the nation or one province
    (a supervisor sees and acts on the centers of their scope only: decision 0040)."""
    login = login.strip()
    if not login or len(login) > 64 or not name.strip() or len(name) > 50:
        raise invalid("hub.staff_invalid", "登录名和姓名不能为空", "login and name are required")
    if role not in ROLES or not scope.strip() or len(scope) > 20:
        raise invalid(
            "hub.staff_invalid",
            "角色或监督范围不正确",
            "role is admin or supervisor; scope nation or a province",
        )
    require_password_policy(password, login=login)
    if conn.scalar(select(hub_staff.c.id).where(hub_staff.c.login == login)) is not None:
        raise Conflict("hub.staff_exists", "该登录名已存在", f"the login {login} exists")
    return int(
        conn.execute(
            insert(hub_staff)
            .values(
                login=login,
                name=name.strip(),
                password_hash=passwords.hash(password),
                active=True,
                created_at=now,
                role=role,
                scope=scope.strip(),
            )
            .returning(hub_staff.c.id)
        ).scalar_one()
    )


def sign_in(
    conn: Connection, login: str, password: str, passwords: Passwords, now: datetime
) -> tuple[str, StaffSession] | None:
    """A new session (the cookie's token and the session) for a right login and password."""
    row = conn.execute(
        select(hub_staff).where(hub_staff.c.login == login.strip()[:64], hub_staff.c.active.is_(True))
    ).first()
    if row is None:
        passwords.burn(password)  # the same time whether or not the login exists
        return None
    if not passwords.verify(row.password_hash, password):
        return None
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    conn.execute(
        insert(hub_session).values(
            token_hash=_hash(token),
            staff_id=row.id,
            csrf=csrf,
            created_at=now,
            expires_at=now + timedelta(hours=SESSION_HOURS),
        )
    )
    return token, StaffSession(int(row.id), row.login, row.name, csrf)


def session_of(conn: Connection, token: str | None, now: datetime) -> StaffSession | None:
    if not token or len(token) > 100:
        return None
    row = conn.execute(
        select(
            hub_session.c.staff_id,
            hub_session.c.csrf,
            hub_session.c.expires_at,
            hub_staff.c.login,
            hub_staff.c.name,
        )
        .join(hub_staff, hub_staff.c.id == hub_session.c.staff_id)
        .where(hub_session.c.token_hash == _hash(token), hub_staff.c.active.is_(True))
    ).first()
    if row is None or row.expires_at <= now:
        return None
    return StaffSession(int(row.staff_id), row.login, row.name, row.csrf)


def sign_out(conn: Connection, token: str | None) -> None:
    if token:
        conn.execute(delete(hub_session).where(hub_session.c.token_hash == _hash(token)))


def csrf_ok(session: StaffSession, submitted: object) -> bool:
    return isinstance(submitted, str) and hmac.compare_digest(session.csrf, submitted)


def cookie_settings(env: str) -> CookieSettings:
    """The hub's page session cookie: as the center's, but SameSite=Strict (the hub's pages have
    no links in from other sites)."""
    return CookieSettings(
        key=COOKIE_NAME, httponly=True, samesite="strict", secure=env != "development", path="/"
    )
