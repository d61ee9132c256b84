"""Sign-in accounts of a demo center (development only): staff of several roles, one member,
one employer — each with the same development password, printed on the console.

Roles whose policy demands TOTP (finance, auditor, admin) get an authenticator secret enrolled
here; ``ROLE_POLICY`` has no development override, so the secret is printed instead (add it to
an authenticator app, or ask ``hpf user totp-code LOGIN`` for the current code). Two finance
officers and two administrators exist so that maker-checker approvals can be tried.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select

from hpf.accounts.directory import DIRECTORY
from hpf.accounts.queries import employer_ref, first_reachable_member
from hpf.identity import identity, totp
from hpf.identity.identity import Role
from hpf.kernel.context import Context
from hpf.protection.protect import reveal

DEMO_PASSWORD = "OpenHPF-Demo-2025"  # noqa: S105 (development only, printed on purpose)

DEMO_STAFF: tuple[tuple[str, str, Role], ...] = (
    ("admin", "王管理", Role.ADMIN),
    ("admin2", "赵管理", Role.ADMIN),
    ("teller", "李柜员", Role.TELLER),
    ("reviewer", "周复核", Role.REVIEWER),
    ("finance", "张财务", Role.FINANCE),
    ("finance2", "陈财务", Role.FINANCE),
    ("auditor", "刘稽核", Role.AUDITOR),
)


@dataclass(frozen=True)
class DemoLogin:
    login: str
    name: str
    roles: str
    totp_secret: str | None  # None: no authenticator needed
    portal: str  # /login or /self/login


def _login_of(conn: Connection, login: str) -> dict[str, object] | None:
    row = (
        conn.execute(select(identity.principal).where(identity.principal.c.login == login)).mappings().first()
    )
    return dict(row) if row else None


def _staff(conn: Connection, ctx: Context, login: str, name: str, role: Role) -> DemoLogin:
    row = _login_of(conn, login)
    if row is None:
        who = identity.create_staff(conn, ctx, login, name, [role], DEMO_PASSWORD)
        if identity.totp_mandatory(who.roles):
            seed = totp.generate_secret()
            identity.enable_totp(conn, ctx, who.id, seed, totp.totp(seed, ctx.clock.now()))
        row = _login_of(conn, login)
        assert row is not None
    secret = reveal("principal", "totp_secret", row["totp_secret_enc"])
    return DemoLogin(login, name, role.value, secret, "/login")


def _self_service(conn: Connection, ctx: Context) -> list[DemoLogin]:
    """A member with a phone and that member's employer (the lowest ids, so the same each time)."""
    found = first_reachable_member(conn)
    if found is None:
        return []
    emp = employer_ref(conn, found.employer_id)
    assert emp is not None  # a member's employer exists (foreign key)
    resident_id = found.resident_id
    out = []
    # The member signs in with the ID number; the login stored is the account number.
    for typed, name, kind, make, owner in (
        (resident_id, found.name, "member", identity.create_member_login, found.id),
        (emp.uscc, emp.name, "employer", identity.create_employer_login, emp.id),
    ):
        if _login_of(conn, identity.member_login_of(conn, typed.lower(), DIRECTORY)) is None:
            make(conn, ctx, owner, DEMO_PASSWORD, directory=DIRECTORY)
        out.append(DemoLogin(typed.upper(), name, kind, None, "/self/login"))
    return out


def ensure_demo_users(conn: Connection, ctx: Context) -> list[DemoLogin]:
    """Create the demo sign-ins that are missing; all of them, for printing."""
    staff = [_staff(conn, ctx, login, name, role) for login, name, role in DEMO_STAFF]
    return staff + _self_service(conn, ctx)
