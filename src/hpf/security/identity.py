"""Principals — everyone who signs in — and the sign-in use cases.

Staff sign in with a password (argon2id) and, where their roles demand it, a TOTP code;
members and employers with a password and a one-time code by SMS. Five failures in a row
(password or second factor) lock the principal for 15 minutes, counted in the database.
An unknown login and a wrong password give the same answer after the same work (a dummy
hash), so sign-in does not reveal who has an account.

Sign-in use cases *return* an :class:`AuthStep` instead of raising: the failure counter
must be committed even when the answer is "no". The caller commits, audits
:meth:`AuthStep.audit` (who, outcome, reason — never a secret), then raises
:attr:`AuthStep.error` if there is one. Between the password and the second factor the
caller holds an opaque ``challenge`` (stored hashed, 10 minutes).

A central identity provider (OIDC) can later sign members in for every center:
``external_issuer`` + ``external_subject`` (the ``sub`` claim) map its users onto principals
(:func:`link_external_subject`, :func:`sign_in_external`).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Connection,
    ForeignKey,
    Integer,
    RowMapping,
    String,
    Table,
    UniqueConstraint,
    delete,
    insert,
    or_,
    select,
    update,
)

from hpf.accounts.tables import employer, member
from hpf.db.metadata import Id, UtcDateTime, metadata
from hpf.kernel.context import Context
from hpf.kernel.errors import Conflict, HpfError, InvalidInput, NotFound
from hpf.security import sms as codes
from hpf.security import totp
from hpf.security.crypto import token_length
from hpf.security.passwords import Passwords, require_password_policy
from hpf.security.permissions import Principal, Role
from hpf.security.protect import blind_index, reveal, seal

__all__ = [
    "CHALLENGE_TTL",
    "DEFAULT_PASSWORDS",
    "LOCKOUT",
    "MAX_FAILURES",
    "ROLE_POLICY",
    "STAFF_ROLES",
    "Account",
    "AuthStep",
    "Forbidden",
    "Locked",
    "Outcome",
    "PrincipalKind",
    "Role",
    "TotpEnrollment",
    "TotpPolicy",
    "Unauthenticated",
    "active_principal",
    "authenticate_password",
    "canonical_login",
    "change_password",
    "complete_sms",
    "complete_totp",
    "complete_totp_setup",
    "create_employer_login",
    "create_member_login",
    "create_partner",
    "create_staff",
    "enable_totp",
    "get_account",
    "get_principal",
    "hash_token",
    "link_external_subject",
    "new_token",
    "new_totp_enrollment",
    "now_utc",
    "principal",
    "principal_role",
    "resend_sms",
    "reset_totp",
    "set_disabled",
    "set_password",
    "set_roles",
    "sign_in_challenge",
    "sign_in_external",
    "token_hash_or_none",
    "totp_mandatory",
    "unlock",
    "utc",
]

MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)
CHALLENGE_TTL = timedelta(minutes=10)
SIGN_IN = "sign_in"  # the SMS code purpose

DEFAULT_PASSWORDS = Passwords()


class PrincipalKind(StrEnum):
    STAFF = "staff"
    MEMBER = "member"
    EMPLOYER = "employer"
    PARTNER = "partner"


class TotpPolicy(StrEnum):
    MANDATORY = "mandatory"
    OPTIONAL = "optional"


STAFF_ROLES = frozenset(
    {Role.TELLER, Role.REVIEWER, Role.FINANCE, Role.AUDITOR, Role.RISK, Role.SUPERVISOR, Role.ADMIN}
)

# Whether a staff/partner role must sign in with TOTP. Members and employers use SMS codes.
ROLE_POLICY: dict[Role, TotpPolicy] = {
    Role.TELLER: TotpPolicy.OPTIONAL,
    Role.REVIEWER: TotpPolicy.OPTIONAL,
    Role.FINANCE: TotpPolicy.MANDATORY,
    Role.AUDITOR: TotpPolicy.MANDATORY,
    Role.RISK: TotpPolicy.OPTIONAL,
    Role.SUPERVISOR: TotpPolicy.MANDATORY,
    Role.ADMIN: TotpPolicy.MANDATORY,
    Role.MEMBER: TotpPolicy.OPTIONAL,
    Role.EMPLOYER: TotpPolicy.OPTIONAL,
    Role.PARTNER: TotpPolicy.OPTIONAL,
}

principal = Table(
    "principal",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("kind", String(10), nullable=False),  # staff | member | employer | partner
    Column("login", String(64), nullable=False, unique=True),  # canonical: lower case
    Column("display_name", String(60), nullable=False),
    Column("center_code", String(12), nullable=False),
    # The one object a member / employer principal may see.
    Column("member_id", Id, ForeignKey("member.id"), index=True),
    Column("employer_id", Id, ForeignKey("employer.id"), index=True),
    Column("password_hash", String(255)),  # argon2id; NULL: signs in only through an IdP
    Column("password_changed_at", UtcDateTime()),
    # Base32 TOTP seed. NOTE: store it encrypted (hpf.security.crypto) once that exists.
    Column("totp_secret_enc", String(token_length(64))),  # hpf.security.protect
    Column("totp_required", Boolean, nullable=False, default=False),  # on top of ROLE_POLICY
    Column("last_totp_step", BigInteger),  # replay protection
    Column("failed_attempts", Integer, nullable=False, default=0),
    Column("locked_until", UtcDateTime()),
    Column("external_issuer", String(200)),  # OIDC ``iss`` of a central identity provider
    Column("external_subject", String(255)),  # OIDC ``sub`` there
    Column("created_at", UtcDateTime(), nullable=False),
    Column("last_sign_in_at", UtcDateTime()),
    Column("disabled", Boolean, nullable=False, default=False),
    UniqueConstraint("external_issuer", "external_subject"),
    CheckConstraint("kind IN ('staff', 'member', 'employer', 'partner')", name="kind"),
)

principal_role = Table(
    "principal_role",
    metadata,
    Column("principal_id", Id, ForeignKey("principal.id"), primary_key=True),
    Column("role", String(12), primary_key=True),
)

sign_in_challenge = Table(
    "sign_in_challenge",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("principal_id", Id, ForeignKey("principal.id"), nullable=False, index=True),
    Column("step", String(12), nullable=False),  # totp | totp_setup | sms
    Column("pending_secret_enc", String(token_length(64))),  # TOTP seed being enrolled
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("consumed_at", UtcDateTime()),
)


# --------------------------------------------------------------------------- errors


class Unauthenticated(HpfError):
    status = 401


class Forbidden(HpfError):
    status = 403


class Locked(HpfError):
    status = 423


def _bad_credentials() -> HpfError:
    return Unauthenticated("auth.failed", "登录名或密码错误", "the login or the password is incorrect")


_FAILURES: dict[str, tuple[type[HpfError], str, str, str]] = {
    "disabled": (Forbidden, "auth.disabled", "账户已停用，请联系管理员", "this account is disabled"),
    "no_phone": (
        Forbidden,
        "auth.no_phone",
        "未登记手机号，无法发送短信验证码，请到柜台登记",
        "no mobile phone is registered for SMS codes",
    ),
    "bad_totp": (
        Unauthenticated,
        "auth.totp_invalid",
        "动态验证码错误或已使用",
        "the TOTP code is wrong or was already used",
    ),
    "totp_replay": (
        Unauthenticated,
        "auth.totp_invalid",
        "动态验证码错误或已使用",
        "the TOTP code is wrong or was already used",
    ),
    "bad_code": (Unauthenticated, "auth.sms_code_invalid", "短信验证码错误", "the SMS code is wrong"),
    "code_expired": (
        Unauthenticated,
        "auth.sms_code_expired",
        "短信验证码已失效，请重新获取",
        "the SMS code has expired or was used up; request a new one",
    ),
    "challenge_invalid": (
        Unauthenticated,
        "auth.challenge_invalid",
        "登录已超时，请重新输入密码",
        "the sign-in has expired; start again with the password",
    ),
}
_FAILURES["code_attempts"] = _FAILURES["no_code"] = _FAILURES["code_expired"]


# --------------------------------------------------------------------------- results


class Outcome(StrEnum):
    OK = "ok"
    NEEDS_TOTP = "needs_totp"
    NEEDS_TOTP_SETUP = "needs_totp_setup"  # role demands TOTP, none enrolled: show the QR code
    NEEDS_SMS = "needs_sms"
    LOCKED = "locked"
    FAILED = "failed"


@dataclass(frozen=True)
class TotpEnrollment:
    secret: str = field(repr=False)
    uri: str = field(repr=False)


@dataclass(frozen=True)
class AuthStep:
    """One step of a sign-in. ``reason`` is for the audit log only: never show it to the user."""

    outcome: Outcome
    reason: str  # ok, password_ok, unknown_login, bad_password, locked, locked_now, disabled, ...
    login: str
    principal_id: int | None = None
    principal: Principal | None = None  # only when OK
    display_name: str | None = None  # only when OK
    challenge: str | None = field(default=None, repr=False)  # present it at the next step
    challenge_expires_at: datetime | None = None
    totp_setup: TotpEnrollment | None = None  # only when NEEDS_TOTP_SETUP
    sms_phone_masked: str | None = None  # only when NEEDS_SMS
    locked_until: datetime | None = None
    retry_after: int | None = None  # seconds until the lock ends
    source_ip: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK

    @property
    def error(self) -> HpfError | None:
        """What to raise (after committing) for a refusal; None while sign-in may go on."""
        if self.outcome is Outcome.LOCKED:
            return Locked(
                "auth.locked",
                "连续登录失败次数过多，账户已临时锁定，请稍后再试",
                f"too many failed sign-ins; the account is locked for up to {int(LOCKOUT.total_seconds() // 60)} minutes",
                retry_after=self.retry_after,
            )
        if self.outcome is not Outcome.FAILED:
            return None
        known = _FAILURES.get(self.reason)
        if known is None:
            return _bad_credentials()
        cls, code, title, detail = known
        return cls(code, title, detail)

    def raise_for_failure(self) -> None:
        if (err := self.error) is not None:
            raise err

    def audit(self) -> dict[str, Any]:
        """Facts for the audit log (no secrets)."""
        return {
            "login": self.login,
            "principal_id": self.principal_id,
            "outcome": self.outcome.value,
            "reason": self.reason,
            "source_ip": self.source_ip,
            "locked_until": self.locked_until.isoformat() if self.locked_until else None,
        }


@dataclass(frozen=True)
class Account:
    """A principal with what the administration pages show (never a hash or a secret)."""

    principal: Principal
    display_name: str
    totp_enabled: bool
    totp_required: bool  # effective: individual flag or a role's policy
    disabled: bool
    failed_attempts: int
    locked_until: datetime | None
    created_at: datetime
    last_sign_in_at: datetime | None
    external_issuer: str | None
    external_subject: str | None


# --------------------------------------------------------------------------- helpers


def utc(value: datetime) -> datetime:
    """Aware UTC (SQLite hands back naive datetimes for ``UtcDateTime()``)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def now_utc(ctx: Context) -> datetime:
    return utc(ctx.clock.now())


def new_token() -> str:
    """A 256-bit random bearer secret (URL-safe)."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """SHA-256 hex of a high-entropy token: what the database keeps instead of the token."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def token_hash_or_none(token: object) -> str | None:
    """The hash of a plausible token; None for anything that cannot be one of ours."""
    if not isinstance(token, str) or not 20 <= len(token) <= 200 or not token.isascii():
        return None
    return hash_token(token)


_LOGIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
_STAFF_LOGIN = re.compile(r"[a-z][a-z0-9._-]{2,31}")


def canonical_login(raw: object) -> str | None:
    """The stored form of a login (lower case ASCII), or None if it cannot be any login."""
    if not isinstance(raw, str) or len(raw) > 200:
        return None
    stripped = raw.strip()
    return stripped.lower() if _LOGIN.fullmatch(stripped) else None


def _shown_login(raw: object) -> str:
    """A login for the audit log, whatever was submitted."""
    if not isinstance(raw, str):
        return f"<{type(raw).__name__}>"
    return "".join(ch if ch.isprintable() else "?" for ch in raw.strip()[:64])


def totp_mandatory(roles: Iterable[Role], individually_required: bool = False) -> bool:
    return individually_required or any(ROLE_POLICY.get(r) is TotpPolicy.MANDATORY for r in roles)


def _roles(conn: Connection, principal_id: int) -> frozenset[Role]:
    known = {r.value for r in Role}
    stored = conn.scalars(select(principal_role.c.role).where(principal_role.c.principal_id == principal_id))
    return frozenset(Role(r) for r in stored if r in known)


def _principal(conn: Connection, row: RowMapping) -> Principal:
    return Principal(
        id=row["id"],
        login=row["login"],
        kind=row["kind"],
        roles=_roles(conn, row["id"]),
        center_code=row["center_code"],
        member_id=row["member_id"],
        employer_id=row["employer_id"],
    )


def _row(conn: Connection, principal_id: int) -> RowMapping:
    row = conn.execute(select(principal).where(principal.c.id == principal_id)).mappings().first()
    if row is None:
        raise NotFound("principal.not_found", "用户不存在", f"no principal {principal_id}")
    return row


def get_principal(conn: Connection, principal_id: int) -> Principal:
    return _principal(conn, _row(conn, principal_id))


def get_account(conn: Connection, principal_id: int) -> Account:
    row = _row(conn, principal_id)
    who = _principal(conn, row)
    return Account(
        principal=who,
        display_name=row["display_name"],
        totp_enabled=row["totp_secret_enc"] is not None,
        totp_required=totp_mandatory(who.roles, row["totp_required"]),
        disabled=row["disabled"],
        failed_attempts=row["failed_attempts"],
        locked_until=utc(row["locked_until"]) if row["locked_until"] else None,
        created_at=utc(row["created_at"]),
        last_sign_in_at=utc(row["last_sign_in_at"]) if row["last_sign_in_at"] else None,
        external_issuer=row["external_issuer"],
        external_subject=row["external_subject"],
    )


def active_principal(conn: Connection, principal_id: int) -> tuple[Principal, str] | None:
    """The principal and display name, or None if gone or disabled (sessions and tokens)."""
    row = conn.execute(select(principal).where(principal.c.id == principal_id)).mappings().first()
    if row is None or row["disabled"]:
        return None
    return _principal(conn, row), row["display_name"]


# --------------------------------------------------------------------------- creating principals


def _display_name(raw: object) -> str:
    name = raw.strip() if isinstance(raw, str) else ""
    if not 1 <= len(name) <= 60 or not name.isprintable():
        raise InvalidInput(
            "principal.display_name",
            "姓名须为1至60个可见字符",
            "the display name must be 1 to 60 printable characters",
            field="display_name",
        )
    return name


def _insert_principal(
    conn: Connection,
    ctx: Context,
    *,
    kind: PrincipalKind,
    login: str,
    display_name: str,
    roles: Iterable[Role],
    password: str | None,
    passwords: Passwords,
    member_id: int | None = None,
    employer_id: int | None = None,
    totp_required: bool = False,
) -> Principal:
    if conn.scalar(select(principal.c.id).where(principal.c.login == login)) is not None:
        raise Conflict(
            "principal.login_taken", "该登录名已被使用", f"the login {login!r} is taken", field="login"
        )
    now = now_utc(ctx)
    pid = conn.execute(
        insert(principal)
        .values(
            kind=kind.value,
            login=login,
            display_name=display_name,
            center_code=ctx.center_code,
            member_id=member_id,
            employer_id=employer_id,
            password_hash=None if password is None else passwords.hash(password),
            password_changed_at=None if password is None else now,
            totp_required=totp_required,
            failed_attempts=0,
            created_at=now,
            disabled=False,
        )
        .returning(principal.c.id)
    ).scalar_one()
    for role in sorted(set(roles)):
        conn.execute(insert(principal_role).values(principal_id=pid, role=role.value))
    return get_principal(conn, pid)


def _staff_roles(roles: Iterable[object]) -> frozenset[Role]:
    chosen: set[Role] = set()
    for raw in roles:
        role = next((r for r in STAFF_ROLES if r.value == raw), None)
        if role is None:
            raise InvalidInput(
                "principal.roles", "工作人员角色无效", f"{raw!r} is not a staff role", field="roles"
            )
        chosen.add(role)
    if not chosen:
        raise InvalidInput(
            "principal.roles", "至少需要一个角色", "at least one role is needed", field="roles"
        )
    return frozenset(chosen)


def create_staff(
    conn: Connection,
    ctx: Context,
    login: str,
    display_name: str,
    roles: Iterable[Role | str],
    password: str,
    *,
    totp_required: bool = False,
    passwords: Passwords = DEFAULT_PASSWORDS,
) -> Principal:
    """A staff principal; roles whose policy is mandatory make TOTP enrolment part of sign-in."""
    canonical = login.strip().lower() if isinstance(login, str) else ""
    if not _STAFF_LOGIN.fullmatch(canonical):
        raise InvalidInput(
            "principal.login_format",
            "登录名须以字母开头，由3至32位小写字母、数字、点、下划线或连字符组成",
            "a staff login is 3 to 32 characters: a letter, then letters, digits, '.', '_' or '-'",
            field="login",
        )
    return _insert_principal(
        conn,
        ctx,
        kind=PrincipalKind.STAFF,
        login=canonical,
        display_name=_display_name(display_name),
        roles=_staff_roles(roles),
        password=require_password_policy(password, login=canonical),
        passwords=passwords,
        totp_required=totp_required,
    )


def create_partner(
    conn: Connection,
    ctx: Context,
    login: str,
    display_name: str,
    password: str,
    *,
    passwords: Passwords = DEFAULT_PASSWORDS,
) -> Principal:
    """A partner (共享部门) principal: password, TOTP optional."""
    canonical = login.strip().lower() if isinstance(login, str) else ""
    if not _STAFF_LOGIN.fullmatch(canonical):
        raise InvalidInput(
            "principal.login_format", "登录名格式无效", "a partner login is 3 to 32 characters", field="login"
        )
    return _insert_principal(
        conn,
        ctx,
        kind=PrincipalKind.PARTNER,
        login=canonical,
        display_name=_display_name(display_name),
        roles=[Role.PARTNER],
        password=require_password_policy(password, login=canonical),
        passwords=passwords,
    )


def create_member_login(
    conn: Connection,
    ctx: Context,
    member_id: int,
    password: str,
    *,
    passwords: Passwords = DEFAULT_PASSWORDS,
) -> Principal:
    """Online access for a member: login = the member's account number, SMS to ``member.phone``.

    Members sign in with their resident ID number or their account number
    (``member_login_of``); the login stored is the account number, so the principal table holds
    no ID number in plaintext.
    """
    row = conn.execute(select(member).where(member.c.id == member_id)).mappings().first()
    if row is None:
        raise NotFound("member.not_found", "个人账户不存在", f"no member {member_id}")
    if not row["phone_enc"]:
        raise InvalidInput(
            "principal.no_phone",
            "该职工未登记手机号，无法开通网上登录",
            "the member has no mobile phone for SMS codes",
        )
    login = row["account_no"].lower()
    return _insert_principal(
        conn,
        ctx,
        kind=PrincipalKind.MEMBER,
        login=login,
        display_name=row["name"],
        roles=[Role.MEMBER],
        password=require_password_policy(password, login=login),
        passwords=passwords,
        member_id=member_id,
    )


def create_employer_login(
    conn: Connection,
    ctx: Context,
    employer_id: int,
    password: str,
    *,
    passwords: Passwords = DEFAULT_PASSWORDS,
) -> Principal:
    """Online access for an employer: login = USCC (lower case), SMS to the contact phone."""
    row = conn.execute(select(employer).where(employer.c.id == employer_id)).mappings().first()
    if row is None:
        raise NotFound("employer.not_found", "单位账户不存在", f"no employer {employer_id}")
    login = row["uscc"].lower()
    return _insert_principal(
        conn,
        ctx,
        kind=PrincipalKind.EMPLOYER,
        login=login,
        display_name=row["name"][:60],
        roles=[Role.EMPLOYER],
        password=require_password_policy(password, login=login),
        passwords=passwords,
        employer_id=employer_id,
    )


def _phone_of(conn: Connection, row: RowMapping) -> str | None:
    """The live phone number for SMS codes (follows changes to the member / employer)."""
    if row["member_id"] is not None:
        token = conn.scalar(select(member.c.phone_enc).where(member.c.id == row["member_id"]))
        return reveal("member", "phone", token)
    if row["employer_id"] is not None:
        token = conn.scalar(select(employer.c.contact_phone_enc).where(employer.c.id == row["employer_id"]))
        return reveal("employer", "contact_phone", token)
    return None


_RESIDENT_ID = re.compile(r"[0-9]{17}[0-9x]")


def member_login_of(conn: Connection, canonical: str) -> str:
    """The stored login for what was typed: a resident ID number becomes its member's account
    number (found by blind index); anything else is itself."""
    if not _RESIDENT_ID.fullmatch(canonical):
        return canonical
    account_no = conn.scalar(
        select(member.c.account_no).where(
            member.c.resident_id_bidx == blind_index("member", "resident_id", canonical.upper())
        )
    )
    return canonical if account_no is None else str(account_no).lower()


# --------------------------------------------------------------------------- sign-in


def _step(row: RowMapping, outcome: Outcome, reason: str, source_ip: str | None, **kw: Any) -> AuthStep:
    return AuthStep(
        outcome=outcome, reason=reason, login=row["login"], principal_id=row["id"], source_ip=source_ip, **kw
    )


def _locked_until(row: RowMapping, now: datetime) -> datetime | None:
    until = row["locked_until"]
    return utc(until) if until is not None and utc(until) > now else None


def _locked(row: RowMapping, reason: str, until: datetime, now: datetime, source_ip: str | None) -> AuthStep:
    wait = max(1, int((until - now).total_seconds()))
    return _step(row, Outcome.LOCKED, reason, source_ip, locked_until=until, retry_after=wait)


def _failure(
    conn: Connection, row: RowMapping, now: datetime, reason: str, source_ip: str | None
) -> AuthStep:
    """Count a failure; the fifth in a row locks the principal."""
    count = conn.execute(
        update(principal)
        .where(principal.c.id == row["id"])
        .values(failed_attempts=principal.c.failed_attempts + 1)
        .returning(principal.c.failed_attempts)
    ).scalar_one()
    if count >= MAX_FAILURES:
        until = now + LOCKOUT
        conn.execute(
            update(principal).where(principal.c.id == row["id"]).values(locked_until=until, failed_attempts=0)
        )
        return _locked(row, "locked_now", until, now, source_ip)
    return _step(row, Outcome.FAILED, reason, source_ip)


def _signed_in(conn: Connection, row: RowMapping, now: datetime, source_ip: str | None) -> AuthStep:
    conn.execute(
        update(principal)
        .where(principal.c.id == row["id"])
        .values(failed_attempts=0, locked_until=None, last_sign_in_at=now)
    )
    return _step(
        row,
        Outcome.OK,
        "ok",
        source_ip,
        principal=_principal(conn, row),
        display_name=row["display_name"],
    )


def _new_challenge(
    conn: Connection, principal_id: int, step: str, now: datetime, pending_secret: str | None = None
) -> tuple[str, datetime]:
    token = new_token()
    expires = now + CHALLENGE_TTL
    conn.execute(
        insert(sign_in_challenge).values(
            token_hash=hash_token(token),
            principal_id=principal_id,
            step=step,
            pending_secret_enc=seal("sign_in_challenge", "pending_secret", pending_secret),
            created_at=now,
            expires_at=expires,
        )
    )
    return token, expires


def _send_sms(conn: Connection, ctx: Context, row: RowMapping, phone: str, sender: codes.SmsSender) -> None:
    with contextlib.suppress(codes.SmsRateLimited):  # the code sent moments ago is still good
        codes.issue_code(conn, ctx, row["id"], SIGN_IN, phone=phone, sender=sender)


def authenticate_password(
    conn: Connection,
    ctx: Context,
    login: object,
    password: object,
    source_ip: str | None = None,
    *,
    sender: codes.SmsSender,
    passwords: Passwords = DEFAULT_PASSWORDS,
) -> AuthStep:
    """The first step: OK, NEEDS_TOTP / NEEDS_TOTP_SETUP / NEEDS_SMS, LOCKED or FAILED.

    ``sender`` delivers the SMS code to members and employers. Commit before raising
    :attr:`AuthStep.error`.
    """
    now = now_utc(ctx)
    canonical = canonical_login(login)
    row = None
    if canonical is not None:
        canonical = member_login_of(conn, canonical)
        row = conn.execute(select(principal).where(principal.c.login == canonical)).mappings().first()
    if row is None:
        passwords.burn(password)  # the same work as a wrong password
        return AuthStep(
            Outcome.FAILED, "unknown_login", canonical or _shown_login(login), source_ip=source_ip
        )
    if (until := _locked_until(row, now)) is not None:
        passwords.burn(password)
        return _locked(row, "locked", until, now, source_ip)
    if row["password_hash"] is None:
        passwords.burn(password)
        return _step(row, Outcome.FAILED, "no_password", source_ip)
    if not passwords.verify(row["password_hash"], password):
        return _failure(conn, row, now, "bad_password", source_ip)
    if row["disabled"]:
        return _step(row, Outcome.FAILED, "disabled", source_ip)
    assert isinstance(password, str)
    if passwords.needs_rehash(row["password_hash"]):
        conn.execute(
            update(principal)
            .where(principal.c.id == row["id"])
            .values(password_hash=passwords.hash(password))
        )
    return _after_password(conn, ctx, row, now, source_ip, sender)


def _after_password(
    conn: Connection,
    ctx: Context,
    row: RowMapping,
    now: datetime,
    source_ip: str | None,
    sender: codes.SmsSender,
) -> AuthStep:
    if row["kind"] in (PrincipalKind.MEMBER, PrincipalKind.EMPLOYER):
        phone = _phone_of(conn, row)
        if not phone:
            return _step(row, Outcome.FAILED, "no_phone", source_ip)
        _send_sms(conn, ctx, row, phone, sender)
        token, expires = _new_challenge(conn, row["id"], "sms", now)
        return _step(
            row,
            Outcome.NEEDS_SMS,
            "password_ok",
            source_ip,
            challenge=token,
            challenge_expires_at=expires,
            sms_phone_masked=codes.mask_phone(phone),
        )
    if row["totp_secret_enc"] is not None:
        token, expires = _new_challenge(conn, row["id"], "totp", now)
        return _step(
            row, Outcome.NEEDS_TOTP, "password_ok", source_ip, challenge=token, challenge_expires_at=expires
        )
    if totp_mandatory(_roles(conn, row["id"]), row["totp_required"]):
        secret = totp.generate_secret()
        token, expires = _new_challenge(conn, row["id"], "totp_setup", now, pending_secret=secret)
        return _step(
            row,
            Outcome.NEEDS_TOTP_SETUP,
            "password_ok",
            source_ip,
            challenge=token,
            challenge_expires_at=expires,
            totp_setup=TotpEnrollment(secret, totp.provisioning_uri(secret, row["login"])),
        )
    return _signed_in(conn, row, now, source_ip)


def _open_challenge(
    conn: Connection, ctx: Context, token: object, step: str, source_ip: str | None
) -> AuthStep | tuple[RowMapping, RowMapping]:
    now = now_utc(ctx)
    digest = token_hash_or_none(token)
    found = None
    if digest is not None:
        found = (
            conn.execute(select(sign_in_challenge).where(sign_in_challenge.c.token_hash == digest))
            .mappings()
            .first()
        )
    if (
        found is None
        or found["step"] != step
        or found["consumed_at"] is not None
        or utc(found["expires_at"]) <= now
    ):
        return AuthStep(
            Outcome.FAILED,
            "challenge_invalid",
            "",
            principal_id=None if found is None else found["principal_id"],
            source_ip=source_ip,
        )
    row = _row(conn, found["principal_id"])
    if (until := _locked_until(row, now)) is not None:
        return _locked(row, "locked", until, now, source_ip)
    if row["disabled"]:
        return _step(row, Outcome.FAILED, "disabled", source_ip)
    return found, row


def _consume(conn: Connection, challenge_id: int, now: datetime) -> bool:
    done = conn.execute(
        update(sign_in_challenge)
        .where(sign_in_challenge.c.id == challenge_id, sign_in_challenge.c.consumed_at.is_(None))
        .values(consumed_at=now)
    )
    return done.rowcount == 1


def _invalid_challenge(row: RowMapping, source_ip: str | None) -> AuthStep:
    return _step(row, Outcome.FAILED, "challenge_invalid", source_ip)


def complete_totp(
    conn: Connection, ctx: Context, challenge: object, code: object, source_ip: str | None = None
) -> AuthStep:
    """The second step for staff with TOTP: OK, or FAILED/LOCKED (a used code is refused)."""
    opened = _open_challenge(conn, ctx, challenge, "totp", source_ip)
    if isinstance(opened, AuthStep):
        return opened
    pending, row = opened
    now = now_utc(ctx)
    secret = reveal("principal", "totp_secret", row["totp_secret_enc"])
    if secret is None:  # reset since the password step
        return _invalid_challenge(row, source_ip)
    matched = totp.verify_totp(secret, code, now, last_used_step=row["last_totp_step"])
    if matched is None:
        replay = row["last_totp_step"] is not None and totp.verify_totp(secret, code, now) is not None
        return _failure(conn, row, now, "totp_replay" if replay else "bad_totp", source_ip)
    claimed = conn.execute(
        update(principal)
        .where(
            principal.c.id == row["id"],
            or_(principal.c.last_totp_step.is_(None), principal.c.last_totp_step < matched),
        )
        .values(last_totp_step=matched)
    )
    if claimed.rowcount != 1:  # a concurrent sign-in used this code first
        return _failure(conn, row, now, "totp_replay", source_ip)
    if not _consume(conn, pending["id"], now):
        return _invalid_challenge(row, source_ip)
    return _signed_in(conn, row, now, source_ip)


def complete_totp_setup(
    conn: Connection, ctx: Context, challenge: object, code: object, source_ip: str | None = None
) -> AuthStep:
    """Finish a NEEDS_TOTP_SETUP step: a code from the newly scanned secret enrols it and signs in."""
    opened = _open_challenge(conn, ctx, challenge, "totp_setup", source_ip)
    if isinstance(opened, AuthStep):
        return opened
    pending, row = opened
    now = now_utc(ctx)
    secret = reveal("sign_in_challenge", "pending_secret", pending["pending_secret_enc"])
    if secret is None or row["totp_secret_enc"] is not None:  # enrolled meanwhile: use complete_totp
        return _invalid_challenge(row, source_ip)
    matched = totp.verify_totp(secret, code, now)
    if matched is None:
        return _failure(conn, row, now, "bad_totp", source_ip)
    if not _consume(conn, pending["id"], now):
        return _invalid_challenge(row, source_ip)
    conn.execute(
        update(principal)
        .where(principal.c.id == row["id"])
        .values(totp_secret_enc=seal("principal", "totp_secret", secret), last_totp_step=matched)
    )
    return _signed_in(conn, row, now, source_ip)


def complete_sms(
    conn: Connection, ctx: Context, challenge: object, code: object, source_ip: str | None = None
) -> AuthStep:
    """The second step for members and employers: the code from the SMS."""
    opened = _open_challenge(conn, ctx, challenge, "sms", source_ip)
    if isinstance(opened, AuthStep):
        return opened
    pending, row = opened
    now = now_utc(ctx)
    checked = codes.verify_code(conn, ctx, row["id"], SIGN_IN, code)
    if checked is codes.CodeCheck.WRONG:
        return _failure(conn, row, now, "bad_code", source_ip)
    if checked is not codes.CodeCheck.OK:
        reason = {
            codes.CodeCheck.EXPIRED: "code_expired",
            codes.CodeCheck.TOO_MANY_ATTEMPTS: "code_attempts",
        }.get(checked, "no_code")
        return _step(row, Outcome.FAILED, reason, source_ip)
    if not _consume(conn, pending["id"], now):
        return _invalid_challenge(row, source_ip)
    return _signed_in(conn, row, now, source_ip)


def resend_sms(
    conn: Connection,
    ctx: Context,
    challenge: object,
    source_ip: str | None = None,
    *,
    sender: codes.SmsSender,
) -> AuthStep:
    """A new SMS code for a pending sign-in (raises ``SmsRateLimited`` 429 when too soon)."""
    opened = _open_challenge(conn, ctx, challenge, "sms", source_ip)
    if isinstance(opened, AuthStep):
        return opened
    pending, row = opened
    now = now_utc(ctx)
    phone = _phone_of(conn, row)
    if not phone:
        return _step(row, Outcome.FAILED, "no_phone", source_ip)
    codes.issue_code(conn, ctx, row["id"], SIGN_IN, phone=phone, sender=sender)
    expires = now + CHALLENGE_TTL
    conn.execute(
        update(sign_in_challenge).where(sign_in_challenge.c.id == pending["id"]).values(expires_at=expires)
    )
    assert isinstance(challenge, str)
    return _step(
        row,
        Outcome.NEEDS_SMS,
        "code_resent",
        source_ip,
        challenge=challenge,
        challenge_expires_at=expires,
        sms_phone_masked=codes.mask_phone(phone),
    )


# --------------------------------------------------------------------------- TOTP and account care


def new_totp_enrollment(login: str, issuer: str = "OpenHPF") -> TotpEnrollment:
    """A fresh secret and its ``otpauth://`` URI to show as a QR code (then :func:`enable_totp`)."""
    secret = totp.generate_secret()
    return TotpEnrollment(secret, totp.provisioning_uri(secret, login, issuer))


def enable_totp(conn: Connection, ctx: Context, principal_id: int, secret: str, code: object) -> Principal:
    """Enrol a signed-in principal's authenticator: ``code`` proves the app holds ``secret``."""
    row = _row(conn, principal_id)
    if row["totp_secret_enc"] is not None:
        raise Conflict("totp.already_enabled", "已启用动态验证码", "TOTP is already enabled; reset it first")
    cleaned = secret.replace(" ", "").upper().rstrip("=") if isinstance(secret, str) else ""
    try:
        if not 16 <= len(cleaned) <= 64:  # 80 to 320 bits
            raise ValueError(cleaned)
        matched = totp.verify_totp(cleaned, code, now_utc(ctx))
    except ValueError as exc:
        raise InvalidInput(
            "totp.secret", "动态验证码密钥无效", "the TOTP secret is not valid base32 of 16 to 64 characters"
        ) from exc
    if matched is None:
        raise InvalidInput(
            "totp.code_invalid", "动态验证码错误", "the code does not match the secret", field="code"
        )
    conn.execute(
        update(principal)
        .where(principal.c.id == principal_id)
        .values(totp_secret_enc=seal("principal", "totp_secret", cleaned), last_totp_step=matched)
    )
    return _principal(conn, row)


def reset_totp(conn: Connection, ctx: Context, principal_id: int) -> None:
    """Forget the authenticator (lost phone); a mandatory role enrols again at next sign-in."""
    _row(conn, principal_id)
    conn.execute(
        update(principal)
        .where(principal.c.id == principal_id)
        .values(totp_secret_enc=None, last_totp_step=None)
    )


def unlock(conn: Connection, ctx: Context, principal_id: int) -> None:
    _row(conn, principal_id)
    conn.execute(
        update(principal).where(principal.c.id == principal_id).values(failed_attempts=0, locked_until=None)
    )


def set_disabled(conn: Connection, ctx: Context, principal_id: int, disabled: bool) -> None:
    _row(conn, principal_id)
    conn.execute(update(principal).where(principal.c.id == principal_id).values(disabled=disabled))


def set_roles(conn: Connection, ctx: Context, principal_id: int, roles: Iterable[Role | str]) -> Principal:
    """Replace a staff principal's roles."""
    row = _row(conn, principal_id)
    if row["kind"] != PrincipalKind.STAFF:
        raise Conflict("principal.not_staff", "只有工作人员可以调整角色", "only staff roles can be changed")
    chosen = _staff_roles(roles)
    conn.execute(delete(principal_role).where(principal_role.c.principal_id == principal_id))
    for role in sorted(chosen):
        conn.execute(insert(principal_role).values(principal_id=principal_id, role=role.value))
    return _principal(conn, row)


def set_password(
    conn: Connection,
    ctx: Context,
    principal_id: int,
    new_password: str,
    *,
    passwords: Passwords = DEFAULT_PASSWORDS,
) -> None:
    """Set a password (administrator reset, or after :func:`change_password` checked the old one)."""
    row = _row(conn, principal_id)
    password = require_password_policy(new_password, login=row["login"])
    conn.execute(
        update(principal)
        .where(principal.c.id == principal_id)
        .values(password_hash=passwords.hash(password), password_changed_at=now_utc(ctx))
    )


def change_password(
    conn: Connection,
    ctx: Context,
    principal_id: int,
    current_password: object,
    new_password: str,
    *,
    passwords: Passwords = DEFAULT_PASSWORDS,
) -> None:
    """A principal changes their own password; the current one must be right."""
    row = _row(conn, principal_id)
    if row["password_hash"] is None or not passwords.verify(row["password_hash"], current_password):
        raise InvalidInput(
            "password.current_wrong", "原密码错误", "the current password is wrong", field="current_password"
        )
    if current_password == new_password:
        raise InvalidInput(
            "password.unchanged", "新密码不能与原密码相同", "the new password equals the current one"
        )
    set_password(conn, ctx, principal_id, new_password, passwords=passwords)


# --------------------------------------------------------------------------- central identity provider


def link_external_subject(
    conn: Connection, ctx: Context, principal_id: int, issuer: str, subject: str
) -> None:
    """Map an OIDC identity (``iss`` + ``sub``) onto a principal."""
    _row(conn, principal_id)
    if not (0 < len(issuer) <= 200 and 0 < len(subject) <= 255):
        raise InvalidInput(
            "principal.external_subject", "外部身份无效", "issuer or subject is empty or too long"
        )
    taken = conn.scalar(
        select(principal.c.id).where(
            principal.c.external_issuer == issuer, principal.c.external_subject == subject
        )
    )
    if taken is not None and taken != principal_id:
        raise Conflict(
            "principal.external_taken",
            "该外部身份已绑定其他用户",
            "this external identity is linked elsewhere",
        )
    conn.execute(
        update(principal)
        .where(principal.c.id == principal_id)
        .values(external_issuer=issuer, external_subject=subject)
    )


def sign_in_external(
    conn: Connection, ctx: Context, issuer: str, subject: str, source_ip: str | None = None
) -> AuthStep:
    """Sign in someone a trusted IdP has authenticated (the caller verified its ID token)."""
    row = (
        conn.execute(
            select(principal).where(
                principal.c.external_issuer == issuer, principal.c.external_subject == subject
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        return AuthStep(
            Outcome.FAILED, "unknown_subject", _shown_login(f"{issuer}#{subject}"), source_ip=source_ip
        )
    now = now_utc(ctx)
    if (until := _locked_until(row, now)) is not None:
        return _locked(row, "locked", until, now, source_ip)
    if row["disabled"]:
        return _step(row, Outcome.FAILED, "disabled", source_ip)
    return _signed_in(conn, row, now, source_ip)
