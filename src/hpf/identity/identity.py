"""Principals — everyone who signs in — and the sign-in use cases.

Staff sign in with a password (argon2id) and, where their roles demand it, a TOTP code;
members and employers with a password and a one-time code by SMS. Failures (password or
second factor) are counted in the database (``sign_in_throttle``, decision 0018) per login
*and address*, per address, and per login from everywhere (:class:`ThrottlePolicy`): five in a
row lock that login for 15 minutes *from that address only*; twenty from one address and it
gets 429 ``auth.throttled`` for every sign-in step; a hundred for one login from all addresses
together (a distributed attack) lock it everywhere. The counters are keyed on the login as
typed, whether or not it exists: an unknown login, a wrong password and a locked login give the
same answers after the same work (a dummy hash), so sign-in does not reveal who has an account,
and one address cannot lock anybody out.

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
import ipaddress
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol, TypedDict

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
    case,
    delete,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from hpf.access.permissions import Principal, Role
from hpf.audit import trail
from hpf.db.metadata import Id, UtcDateTime, metadata
from hpf.db.upsert import upsert
from hpf.identity import sms as codes
from hpf.identity import totp
from hpf.identity.passwords import Passwords, require_password_policy
from hpf.kernel.context import Context
from hpf.kernel.errors import Conflict, HpfError, InvalidInput, NotFound
from hpf.kernel.identifiers import parse_resident_id
from hpf.protection.crypto import BLIND_INDEX_HEX, token_length
from hpf.protection.protect import blind_index, reveal, seal

__all__ = [
    "CHALLENGE_TTL",
    "DEFAULT_PASSWORDS",
    "LOCKOUT",
    "MAX_FAILURES",
    "ROLE_POLICY",
    "STAFF_ROLES",
    "THROTTLE",
    "Account",
    "AuthStep",
    "Forbidden",
    "Locked",
    "Outcome",
    "PrincipalKind",
    "Role",
    "ThrottlePolicy",
    "Throttled",
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
    "sign_in_throttle",
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
    # Base32 TOTP seed. NOTE: store it encrypted (hpf.protection.crypto) once that exists.
    Column("totp_secret_enc", String(token_length(64))),  # hpf.protection.protect
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

# The staff register (人事登记): whose ID number a staff login belongs to, as its blind index in
# the member accounts' domain (no clear text kept). The electronic audit matches it with the
# accounts staff act on, and with the family members claims declare (decision 0033).
staff_identity = Table(
    "staff_identity",
    metadata,
    Column("principal_id", Id, ForeignKey("principal.id"), primary_key=True),
    Column("resident_id_bidx", String(BLIND_INDEX_HEX), nullable=False, index=True),
    Column("registered_at", UtcDateTime(), nullable=False),
)

# Failures counted per key (decision 0018): ``pair:<sha256 of login and address>``,
# ``login:<sha256 of login>``, ``ip:<address>`` (an IPv6 address by its /64). The login is the
# canonical login as typed, known or not, and kept only as a hash.
sign_in_throttle = Table(
    "sign_in_throttle",
    metadata,
    Column("key", String(80), primary_key=True),
    Column("login_hash", String(64), index=True),  # pair and login keys: whose (unlock clears them)
    Column("failures", Integer, nullable=False),
    Column("window_started_at", UtcDateTime(), nullable=False),
    Column("locked_until", UtcDateTime()),
)


@dataclass(frozen=True)
class ThrottlePolicy:
    """How many failures within ``window`` lock what, and for how long (decision 0018)."""

    pair_failures: int = MAX_FAILURES  # one login from one address: 423 there only
    pair_lockout: timedelta = LOCKOUT
    address_failures: int = 20  # one address, any logins (locked answers count): 429
    address_block: timedelta = timedelta(minutes=15)
    login_failures: int = 100  # one login from every address together: 423 everywhere
    login_lockout: timedelta = LOCKOUT
    window: timedelta = timedelta(minutes=15)


THROTTLE = ThrottlePolicy()

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


class Throttled(HpfError):
    status = 429


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
    THROTTLED = "throttled"  # too many failures from the address: 429 for every sign-in step
    FAILED = "failed"


@dataclass(frozen=True)
class TotpEnrollment:
    secret: str = field(repr=False)
    uri: str = field(repr=False)


class SignInFacts(TypedDict):
    """A sign-in step as the security log and the audit row's detail record it (never a secret)."""

    login: str
    principal_id: int | None
    outcome: str
    reason: str
    source_ip: str | None
    locked_until: str | None  # ISO timestamp


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
                "连续登录失败次数过多，已暂时锁定，请稍后再试",
                f"too many failed sign-ins; locked for up to {int(LOCKOUT.total_seconds() // 60)} minutes",
                retry_after=self.retry_after,
            )
        if self.outcome is Outcome.THROTTLED:
            return Throttled(
                "auth.throttled",
                "登录尝试过于频繁，请稍后再试",
                "too many failed sign-ins from this address; wait before trying again",
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

    def audit(self) -> SignInFacts:
        """Facts for the audit log (no secrets)."""
        return SignInFacts(
            login=self.login,
            principal_id=self.principal_id,
            outcome=self.outcome.value,
            reason=self.reason,
            source_ip=self.source_ip,
            locked_until=self.locked_until.isoformat() if self.locked_until else None,
        )


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
        locked_until=_latest_lock(conn, row),
        created_at=utc(row["created_at"]),
        last_sign_in_at=utc(row["last_sign_in_at"]) if row["last_sign_in_at"] else None,
        external_issuer=row["external_issuer"],
        external_subject=row["external_subject"],
    )


def _latest_lock(conn: Connection, row: RowMapping) -> datetime | None:
    """The end of the latest lock on the principal or its login (from some address)."""
    found = conn.scalars(
        select(sign_in_throttle.c.locked_until).where(
            sign_in_throttle.c.login_hash == login_hash(row["login"]),
            sign_in_throttle.c.locked_until.is_not(None),
        )
    )
    ends = [row["locked_until"], *found]
    return max((utc(e) for e in ends if e is not None), default=None)


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
    resident_id: str | None = None,
) -> Principal:
    """A staff principal; roles whose policy is mandatory make TOTP enrolment part of sign-in.
    ``resident_id``: the staff member's own ID number, kept only as its blind index
    (:func:`register_staff_identity`)."""
    canonical = login.strip().lower() if isinstance(login, str) else ""
    if not _STAFF_LOGIN.fullmatch(canonical):
        raise InvalidInput(
            "principal.login_format",
            "登录名须以字母开头，由3至32位小写字母、数字、点、下划线或连字符组成",
            "a staff login is 3 to 32 characters: a letter, then letters, digits, '.', '_' or '-'",
            field="login",
        )
    created = _insert_principal(
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
    if resident_id is not None:
        register_staff_identity(conn, ctx, canonical, resident_id)
    return created


def register_staff_identity(conn: Connection, ctx: Context, login: str, resident_id: str) -> None:
    """Record whose ID number a staff login belongs to (人事登记), as the blind index of the
    member accounts' resident IDs: the audit finds staff acting on their own or a relative's
    account without anyone reading the number back. A second registration replaces the first."""
    number = parse_resident_id(resident_id, field="resident_id").number
    found = conn.scalar(
        select(principal.c.id).where(
            principal.c.login == login.strip().lower(), principal.c.kind == PrincipalKind.STAFF.value
        )
    )
    if found is None:
        raise NotFound("principal.not_found", "工作人员不存在", f"no staff login {login!r}")
    values = {
        "resident_id_bidx": blind_index("member", "resident_id", number.upper()),
        "registered_at": now_utc(ctx),
    }
    before = conn.scalar(
        select(staff_identity.c.resident_id_bidx).where(staff_identity.c.principal_id == found)
    )
    upsert(conn, staff_identity, ("principal_id",), {"principal_id": found, **values})
    # who re-pointed a login to another person would hide from the staff-own-account audit rule:
    # every registration is in the hash-chained log (the number is not: whether it changed is)
    trail.append(
        conn, ctx, role="admin", source_ip=None, action="staff.register_id", object_type="principal",
        object_id=found, purpose="人事登记", detail={
            "login": login.strip().lower(),
            "replaced": before is not None,
            "changed": before is not None and before != values["resident_id_bidx"],
        },
    )  # fmt: skip


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


@dataclass(frozen=True)
class Holder:
    """What online access needs of a member or an employer account."""

    login: str  # the login it gets: a member's account number, an employer's USCC, lower case
    display_name: str
    phone: str | None  # the live phone number for SMS codes


class Directory(Protocol):
    """The account facts identity reads. Published by ``hpf.accounts`` (above identity in the
    layer order) and handed in by the caller, like the SMS sender."""

    def member(self, conn: Connection, member_id: int) -> Holder | None: ...

    def employer(self, conn: Connection, employer_id: int) -> Holder | None: ...

    def member_account_of_resident_id(self, conn: Connection, resident_id: str) -> str | None: ...


def create_member_login(
    conn: Connection,
    ctx: Context,
    member_id: int,
    password: str,
    *,
    directory: Directory,
    passwords: Passwords = DEFAULT_PASSWORDS,
) -> Principal:
    """Online access for a member: login = the member's account number, SMS to ``member.phone``.

    Members sign in with their resident ID number or their account number
    (``member_login_of``); the login stored is the account number, so the principal table holds
    no ID number in plaintext.
    """
    row = directory.member(conn, member_id)
    if row is None:
        raise NotFound("member.not_found", "个人账户不存在", f"no member {member_id}")
    if not row.phone:
        raise InvalidInput(
            "principal.no_phone",
            "该职工未登记手机号，无法开通网上登录",
            "the member has no mobile phone for SMS codes",
        )
    login = row.login
    return _insert_principal(
        conn,
        ctx,
        kind=PrincipalKind.MEMBER,
        login=login,
        display_name=row.display_name,
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
    directory: Directory,
    passwords: Passwords = DEFAULT_PASSWORDS,
) -> Principal:
    """Online access for an employer: login = USCC (lower case), SMS to the contact phone."""
    row = directory.employer(conn, employer_id)
    if row is None:
        raise NotFound("employer.not_found", "单位账户不存在", f"no employer {employer_id}")
    login = row.login
    return _insert_principal(
        conn,
        ctx,
        kind=PrincipalKind.EMPLOYER,
        login=login,
        display_name=row.display_name,
        roles=[Role.EMPLOYER],
        password=require_password_policy(password, login=login),
        passwords=passwords,
        employer_id=employer_id,
    )


def _phone_of(conn: Connection, row: RowMapping, directory: Directory) -> str | None:
    """The live phone number for SMS codes (follows changes to the member / employer)."""
    holder = None
    if row["member_id"] is not None:
        holder = directory.member(conn, row["member_id"])
    elif row["employer_id"] is not None:
        holder = directory.employer(conn, row["employer_id"])
    return None if holder is None else holder.phone


_RESIDENT_ID = re.compile(r"[0-9]{17}[0-9x]")


def member_login_of(conn: Connection, canonical: str, directory: Directory) -> str:
    """The stored login for what was typed: a resident ID number becomes its member's account
    number (found by blind index); anything else is itself."""
    if not _RESIDENT_ID.fullmatch(canonical):
        return canonical
    account_no = directory.member_account_of_resident_id(conn, canonical.upper())
    return canonical if account_no is None else account_no.lower()


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
    """Count a failure of a known principal (for the administration page) and on the throttle
    keys; the failure that reaches a limit locks (:func:`_count_failures`)."""
    conn.execute(
        update(principal)
        .where(principal.c.id == row["id"])
        .values(failed_attempts=principal.c.failed_attempts + 1)
    )
    until = _count_failures(conn, row["login"], source_ip, now)
    if until is not None:
        return _locked(row, "locked_now", until, now, source_ip)
    return _step(row, Outcome.FAILED, reason, source_ip)


# --------------------------------------------------------------------------- throttling


def address_key(source_ip: str | None) -> str:
    """``ip:<address>``; an IPv6 address by its /64 (one host holds a whole /64)."""
    if not source_ip:
        return "ip:-"
    try:
        address = ipaddress.ip_address(source_ip)
    except ValueError:
        return "ip:" + hash_token(source_ip)[:32]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return f"ip:{address.ipv4_mapped}"
        return f"ip:{ipaddress.ip_network(f'{address}/64', strict=False)}"
    return f"ip:{address}"


def login_hash(login: str) -> str:
    return hash_token("login\x00" + login)


def _login_keys(login: str, source_ip: str | None) -> tuple[str, str]:
    """(pair key, login key) of a login as typed (canonical) and an address."""
    digest = login_hash(login)
    return f"pair:{hash_token(digest + address_key(source_ip))}", f"login:{digest}"


def _blocked_until(conn: Connection, keys: Iterable[str], now: datetime) -> datetime | None:
    """The latest lock still running on any of ``keys``."""
    ends = conn.scalars(
        select(sign_in_throttle.c.locked_until).where(
            sign_in_throttle.c.key.in_(list(keys)), sign_in_throttle.c.locked_until.is_not(None)
        )
    )
    running = [utc(end) for end in ends if utc(end) > now]
    return max(running, default=None)


def _count(
    conn: Connection, key: str, digest: str | None, now: datetime, limit: int, lockout: timedelta
) -> datetime | None:
    """One more failure on ``key`` (a fresh window when the last one is over); the lock's end
    when this one reaches ``limit``."""
    policy = THROTTLE
    insert_new = (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(sign_in_throttle)
    conn.execute(
        insert_new.values(
            key=key, login_hash=digest, failures=0, window_started_at=now
        ).on_conflict_do_nothing()
    )
    stale = sign_in_throttle.c.window_started_at <= now - policy.window
    failures = conn.execute(
        update(sign_in_throttle)
        .where(sign_in_throttle.c.key == key)
        .values(
            failures=case((stale, 1), else_=sign_in_throttle.c.failures + 1),
            window_started_at=case((stale, now), else_=sign_in_throttle.c.window_started_at),
        )
        .returning(sign_in_throttle.c.failures)
    ).scalar_one()
    if failures < limit:
        return None
    until = now + lockout
    conn.execute(
        update(sign_in_throttle)
        .where(sign_in_throttle.c.key == key)
        .values(failures=0, window_started_at=now, locked_until=until)
    )
    return until


def _count_address(conn: Connection, source_ip: str | None, now: datetime) -> None:
    policy = THROTTLE
    _count(conn, address_key(source_ip), None, now, policy.address_failures, policy.address_block)


def _count_failures(conn: Connection, login: str, source_ip: str | None, now: datetime) -> datetime | None:
    """A failed password or code for ``login`` from ``source_ip``: counted for the pair, the
    login and the address; the end of a lock that starts now, if one does."""
    policy = THROTTLE
    digest = login_hash(login)
    pair, everywhere = _login_keys(login, source_ip)
    _count_address(conn, source_ip, now)
    locks = [
        _count(conn, pair, digest, now, policy.pair_failures, policy.pair_lockout),
        _count(conn, everywhere, digest, now, policy.login_failures, policy.login_lockout),
    ]
    return max((u for u in locks if u is not None), default=None)


def _throttled(conn: Connection, login: str, source_ip: str | None, now: datetime) -> AuthStep | None:
    """A THROTTLED step when the address is blocked (no password is checked, nothing counted)."""
    until = _blocked_until(conn, [address_key(source_ip)], now)
    if until is None:
        return None
    wait = max(1, int((until - now).total_seconds()))
    return AuthStep(Outcome.THROTTLED, "address_throttled", login, source_ip=source_ip, retry_after=wait)


def _login_locked(
    conn: Connection, login: str, source_ip: str | None, now: datetime, row: RowMapping | None
) -> datetime | None:
    """The end of a lock on this login from this address (or everywhere), else None. A locked
    answer counts towards the address's limit (an attacker who goes on is throttled)."""
    locks = [_blocked_until(conn, _login_keys(login, source_ip), now)]
    if row is not None:
        locks.append(_locked_until(row, now))  # a lock set on the principal itself
    until = max((u for u in locks if u is not None), default=None)
    if until is not None:
        _count_address(conn, source_ip, now)
    return until


def _signed_in(conn: Connection, row: RowMapping, now: datetime, source_ip: str | None) -> AuthStep:
    conn.execute(
        update(principal)
        .where(principal.c.id == row["id"])
        .values(failed_attempts=0, locked_until=None, last_sign_in_at=now)
    )
    pair, _ = _login_keys(row["login"], source_ip)  # failures "in a row" start again
    conn.execute(delete(sign_in_throttle).where(sign_in_throttle.c.key == pair))
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
    directory: Directory,
    passwords: Passwords = DEFAULT_PASSWORDS,
) -> AuthStep:
    """The first step: OK, NEEDS_TOTP / NEEDS_TOTP_SETUP / NEEDS_SMS, LOCKED or FAILED.

    ``sender`` delivers the SMS code to members and employers. Commit before raising
    :attr:`AuthStep.error`.
    """
    now = now_utc(ctx)
    canonical = canonical_login(login)
    shown = canonical or _shown_login(login)
    if (throttled := _throttled(conn, shown, source_ip, now)) is not None:
        return throttled
    row = None
    if canonical is not None:
        canonical = member_login_of(conn, canonical, directory)
        shown = canonical
        row = conn.execute(select(principal).where(principal.c.login == canonical)).mappings().first()
    if (until := _login_locked(conn, shown, source_ip, now, row)) is not None:
        passwords.burn(password)  # the same work and the same answer, known login or not
        wait = max(1, int((until - now).total_seconds()))
        return AuthStep(
            Outcome.LOCKED, "locked", shown, principal_id=row["id"] if row is not None else None,
            source_ip=source_ip, locked_until=until, retry_after=wait,
        )  # fmt: skip
    if row is None:
        passwords.burn(password)  # the same work as a wrong password
        if (until := _count_failures(conn, shown, source_ip, now)) is not None:
            wait = max(1, int((until - now).total_seconds()))
            return AuthStep(
                Outcome.LOCKED, "locked_now", shown, source_ip=source_ip, locked_until=until, retry_after=wait
            )
        return AuthStep(Outcome.FAILED, "unknown_login", shown, source_ip=source_ip)
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
    return _after_password(conn, ctx, row, now, source_ip, sender, directory)


def _after_password(
    conn: Connection,
    ctx: Context,
    row: RowMapping,
    now: datetime,
    source_ip: str | None,
    sender: codes.SmsSender,
    directory: Directory,
) -> AuthStep:
    if row["kind"] in (PrincipalKind.MEMBER, PrincipalKind.EMPLOYER):
        phone = _phone_of(conn, row, directory)
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
    if (throttled := _throttled(conn, "", source_ip, now)) is not None:
        return throttled
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
    if (until := _login_locked(conn, row["login"], source_ip, now, row)) is not None:
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
    directory: Directory,
) -> AuthStep:
    """A new SMS code for a pending sign-in (raises ``SmsRateLimited`` 429 when too soon)."""
    opened = _open_challenge(conn, ctx, challenge, "sms", source_ip)
    if isinstance(opened, AuthStep):
        return opened
    pending, row = opened
    now = now_utc(ctx)
    phone = _phone_of(conn, row, directory)
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
        if not 26 <= len(cleaned) <= 64:  # 128 (RFC 4226 §4 R6) to 320 bits
            raise ValueError(cleaned)
        matched = totp.verify_totp(cleaned, code, now_utc(ctx))
    except ValueError as exc:
        raise InvalidInput(
            "totp.secret", "动态验证码密钥无效", "the TOTP secret is not valid base32 of 26 to 64 characters"
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
    """Lift every lock on the principal's login (from every address); address blocks stay."""
    row = _row(conn, principal_id)
    conn.execute(
        update(principal).where(principal.c.id == principal_id).values(failed_attempts=0, locked_until=None)
    )
    conn.execute(delete(sign_in_throttle).where(sign_in_throttle.c.login_hash == login_hash(row["login"])))


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
